"""Account errors."""

from enum import StrEnum

from django.utils.translation import gettext_lazy as _

from shop.core.errors import ShopError


class AccountErrorCode(StrEnum):
    HASHING_BUSY = "hashing_busy"


class AccountError(ShopError):
    messages = {
        AccountErrorCode.HASHING_BUSY: _(
            "Too many people are signing in right now. Please try again in a few seconds."
        ),
    }


class HashingBusy(AccountError):
    """Every password-checking slot of this host is taken (settings.LOGIN_CONCURRENT_HASHES).

    Not a PermissionDenied: django.contrib.auth.authenticate() would swallow that as a failed
    login, and axes would count it against the customer. It travels up to
    shop.accounts.middleware.HashingBusyMiddleware, which answers 503 with Retry-After."""

    retry_after = 1  # seconds: a slot frees after one hash, tens of milliseconds

    def __init__(self) -> None:
        super().__init__(AccountErrorCode.HASHING_BUSY)
