"""Password logins with a per-address brake across usernames (the shop's and the admin's).

django-axes, first in AUTHENTICATION_BACKENDS, locks one username from one address. This
backend, next, refuses every login from an address that has failed too often with any
usernames, before a password is hashed, and counts each failure against that address.
"""

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from shop.accounts import services


class AddressThrottledModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None or username is None or password is None:
            return super().authenticate(request, username=username, password=password, **kwargs)
        if services.login_address_blocked(request=request):
            raise PermissionDenied  # authenticate() answers None and signals the failure (axes counts it)
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            services.login_failure_record(request=request)
            # Stop here: ModelBackend, still listed after this one for sessions signed in through
            # it, would hash the same password a second time and fail the same way.
            raise PermissionDenied
        return user
