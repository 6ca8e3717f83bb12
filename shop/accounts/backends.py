"""Password logins with brakes before any hash (the shop's and the admin's).

django-axes, first in AUTHENTICATION_BACKENDS, locks one username from one address. This
backend, next, refuses every login from an address that has failed too often with any
usernames, and for a username that has failed too often from any addresses, before a password
is hashed, and counts each failure against both. The hash itself runs in one of the host's
password-checking slots (services.password_check_slot): with none free the login is refused at
once (HashingBusy, a 503) rather than queued behind other hashes.
"""

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from shop.accounts import services


class AddressThrottledModelBackend(ModelBackend):
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
