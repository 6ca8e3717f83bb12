"""Password logins with brakes before any hash (the shop's and the admin's).

django-axes, first in AUTHENTICATION_BACKENDS, locks one username from one address. This
backend, next, refuses every login from an address that has failed too often with any
usernames, and for a username that has failed too often from any addresses, before a password
is hashed, and counts each failure against both. The hash itself runs in one of the host's
password-checking slots (services.password_check_slot): with none free the login is refused at
once (HashingBusy, a 503) rather than queued behind other hashes.
"""

from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.db import router
from django.db.models import QuerySet

from shop.accounts import services
from shop.core.prepared import ServerBoundRead


@cache
def _user_columns() -> list[str]:
    return [field.attname for field in get_user_model()._meta.concrete_fields]


def _user_by_key(marker: int) -> QuerySet:
    return get_user_model()._default_manager.filter(pk=marker).values_list(*_user_columns())


# The signed-in user's row, read on every request. Building and compiling `.get(pk=…)` cost
# about 0.4 ms of the 0.6 ms the user's load took (docs/benchmark.md, "Q3 per-request overhead"):
# compiled once per process instead (ServerBoundRead: bound on the server, never PREPAREd in
# SQL). The row is still read every time, so a password change (the session's auth hash), a
# deactivation or a deleted account takes effect at the next request, as with ModelBackend.
_USER_BY_KEY = ServerBoundRead("shop_user_by_key", _user_by_key)


class AddressThrottledModelBackend(ModelBackend):
    def get_user(self, user_id):
        """ModelBackend's, with the row read by a statement compiled once (_USER_BY_KEY)."""
        model = get_user_model()
        using = router.db_for_read(model)
        rows = _USER_BY_KEY.rows(model._meta.pk.get_prep_value(user_id), using=using)
        if not rows:
            return None
        user = model.from_db(using, _user_columns(), rows[0])
        return user if self.user_can_authenticate(user) else None

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None or username is None or password is None:
            return super().authenticate(request, username=username, password=password, **kwargs)
        if services.login_blocked(request=request, username=username):
            raise PermissionDenied  # authenticate() answers None and signals the failure (axes counts it)
        # HashingBusy passes through authenticate() (not a PermissionDenied): no failure is counted.
        with services.password_check_slot(request=request):
            user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            services.login_failure_record(request=request, username=username)
            # Stop here: ModelBackend, still listed after this one for sessions signed in through
            # it, would hash the same password a second time and fail the same way.
            raise PermissionDenied
        return user
