"""Account rules: registering a customer, keeping one default address, and the brakes on
guessing passwords and flooding mailboxes."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import HttpRequest
from django_ratelimit.core import get_usage

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


# -- brakes on abuse --------------------------------------------------------------------------
# Counted with django-ratelimit in the default cache (fixed windows; a cache outage fails open,
# RATELIMIT_FAIL_OPEN). key="ip" is the client's address (shop.core.net.client_ip).

LOGIN_FAILURES_GROUP = "accounts.login-failures-per-address"
RESET_PER_EMAIL_GROUP = "accounts.password-reset-per-email"


def _login_failures(request: HttpRequest, *, increment: bool) -> dict | None:
    return get_usage(
        request,
        group=LOGIN_FAILURES_GROUP,
        key="ip",
        rate=settings.RATELIMIT_LOGIN_FAILURES_PER_ADDRESS,
        increment=increment,
    )


def login_address_blocked(*, request: HttpRequest) -> bool:
    """True once the client's address has failed RATELIMIT_LOGIN_FAILURES_PER_ADDRESS logins in
    the window, whatever the usernames: django-axes locks one username from one address, so
    without this an address could try one password against every account. Cheap (one cache
    read): checked before any password is hashed."""
    usage = _login_failures(request, increment=False)
    return usage is not None and usage["count"] >= usage["limit"]


def login_failure_record(*, request: HttpRequest) -> None:
    """Count one failed login against the client's address (see login_address_blocked)."""
    _login_failures(request, increment=True)


def password_reset_allowed(*, request: HttpRequest, email: str) -> bool:
    """Count a reset request for `email` and say whether a mail may be sent for it: at most
    RATELIMIT_PASSWORD_RESET_PER_EMAIL per window, so nobody can flood one mailbox. Counted per
    address typed, whether or not an account uses it, so the answer reveals nothing."""
    usage = get_usage(
        request,
        group=RESET_PER_EMAIL_GROUP,
        key=lambda group, request: email.strip().casefold(),
        rate=settings.RATELIMIT_PASSWORD_RESET_PER_EMAIL,
        increment=True,
    )
    return usage is None or not usage["should_limit"]
