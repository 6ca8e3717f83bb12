"""Account rules: registering a customer, keeping one default address, and the brakes on
guessing passwords and flooding mailboxes."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import HttpRequest
from django_ratelimit.core import get_usage

from orders.services import notification_queue
from shop.accounts.hashing import hashing_slot
from shop.models import Address

User = get_user_model()


@transaction.atomic
def customer_register(*, email: str, password: str, phone: str = "", language: str = "") -> User:
    """Create a customer and owe them a welcome mail (outbox, same transaction). Raises
    HashingBusy when every password-checking slot of the host is taken (password_check_slot)."""
    with password_check_slot():
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
LOGIN_FAILURES_PER_USERNAME_GROUP = "accounts.login-failures-per-username"
RESET_PER_EMAIL_GROUP = "accounts.password-reset-per-email"


def _username_key(username: str) -> str:
    # As typed, folded: "Li.Lei@Example.com " is the same account's counter as "li.lei@example.com".
    return username.strip().casefold()


def _login_failures(request: HttpRequest, *, username: str, increment: bool) -> list[dict | None]:
    return [
        get_usage(
            request,
            group=LOGIN_FAILURES_GROUP,
            key="ip",
            rate=settings.RATELIMIT_LOGIN_FAILURES_PER_ADDRESS,
            increment=increment,
        ),
        get_usage(
            request,
            group=LOGIN_FAILURES_PER_USERNAME_GROUP,
            key=lambda group, request: _username_key(username),
            rate=settings.RATELIMIT_LOGIN_FAILURES_PER_USERNAME,
            increment=increment,
        ),
    ]


def login_blocked(*, request: HttpRequest, username: str) -> bool:
    """True once the client's address has failed RATELIMIT_LOGIN_FAILURES_PER_ADDRESS logins in
    the window, whatever the usernames, or `username` has failed
    RATELIMIT_LOGIN_FAILURES_PER_USERNAME times, whatever the addresses. django-axes locks one
    username from one address; without these an address could try one password against every
    account, and many addresses many passwords against one. Cheap (two cache reads): checked
    before any password is hashed, and refusing even the right password, so that the answer
    tells a guesser nothing.

    Asked twice in the shop's login (by its view, then by the authentication backend, which the
    admin's login reaches alone), it reads the counters once per request and username: the view's
    answer stands for the backend's a moment later."""
    key = _username_key(username)
    if getattr(request, "_login_brakes_passed", None) == key:
        return False
    blocked = any(
        usage is not None and usage["count"] >= usage["limit"]
        for usage in _login_failures(request, username=username, increment=False)
    )
    if not blocked:
        request._login_brakes_passed = key
    return blocked


def login_failure_record(*, request: HttpRequest, username: str) -> None:
    """Count one failed login against the client's address and the username (see login_blocked)."""
    request._login_brakes_passed = None  # counts changed: a later check reads them again
    _login_failures(request, username=username, increment=True)


@contextmanager
def password_check_slot(*, request: HttpRequest | None = None) -> Iterator[None]:
    """Hold one of this host's settings.LOGIN_CONCURRENT_HASHES password-checking slots while
    a password is hashed. Raises HashingBusy when none comes free within LOGIN_HASH_WAIT_MS (a 503
    with Retry-After): a login may wait out a few hashes, never a queue of them, in a web worker.

    With `request`, one slot per request: the login view takes it first, so that a refusal
    costs one Redis round trip, and the authentication backend inside it does not take a second."""
    if request is not None and getattr(request, "_password_check_slot", False):
        yield
        return
    with hashing_slot():
        if request is None:
            yield
            return
        request._password_check_slot = True
        try:
            yield
        finally:
            request._password_check_slot = False


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
