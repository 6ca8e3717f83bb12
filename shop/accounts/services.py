"""Account rules: registering a customer, keeping one default address."""

from django.contrib.auth import get_user_model
from django.db import transaction

from orders.services import notification_queue
from shop.models import Address

User = get_user_model()


@transaction.atomic
def customer_register(*, email: str, password: str, phone: str = "", language: str = "") -> User:
    """Create a customer and owe them a welcome mail (outbox, same transaction)."""
    user = User.objects.create_user(email=email, password=password, phone=phone, language=language)
    notification_queue(
        kind="welcome", key=f"welcome:{user.pk}", to=user.email, language=language, context={}, user=user
    )
    return user


@transaction.atomic
def address_save(*, address: Address, user) -> Address:
    """Save an address of `user`; the first one, or one marked default, becomes the default."""
    User.objects.select_for_update().filter(pk=user.pk).first()  # one writer per address book
    address.user = user
    others = Address.objects.filter(user=user).exclude(pk=address.pk)
    if not others.filter(is_default=True).exists():
        address.is_default = True
    if address.is_default:
        others.filter(is_default=True).update(is_default=False)
    address.save()
    return address


@transaction.atomic
def address_delete(*, address: Address) -> None:
    user_id, was_default = address.user_id, address.is_default
    address.delete()
    if was_default:
        successor = Address.objects.filter(user_id=user_id).order_by("-created_at").first()
        if successor:
            successor.is_default = True
            successor.save(update_fields=["is_default"])
