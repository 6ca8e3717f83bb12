"""The answer to a password check refused for want of a free hashing slot (HashingBusy), the
shop's login taking its slot before anything else is done for it, and the signed-in user loaded
through the shop's backend for sessions signed in through Django's."""

from contextlib import ExitStack

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import middleware as auth_middleware
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.functional import SimpleLazyObject

from shop.accounts import services
from shop.accounts.busy import busy_response, login_busy_page
from shop.accounts.exceptions import HashingBusy

__all__ = ["AuthenticationMiddleware", "HashingBusyMiddleware", "LoginSlotMiddleware", "busy_response"]

# Sessions signed in before AddressThrottledModelBackend (and the checkout benchmark's, made by
# force_login with this path) carry Django's ModelBackend, whose get_user builds and compiles its
# query on every request: 14 % of the workers' GIL-held samples during bench-checkout (py-spy at
# 8db66b6), ~700 µs CPU a load where the shop's backend runs the same SELECT compiled once (~265).
_DJANGO_BACKEND = "django.contrib.auth.backends.ModelBackend"
_SHOP_BACKEND = "shop.accounts.backends.AddressThrottledModelBackend"


def _both_listed() -> bool:
    backends = settings.AUTHENTICATION_BACKENDS
    return _DJANGO_BACKEND in backends and _SHOP_BACKEND in backends


def _user(request: HttpRequest):
    """django.contrib.auth.middleware.get_user, with a session signed in through Django's
    ModelBackend read through the shop's backend: a subclass whose get_user returns the same user
    by the same rule (user_can_authenticate), whose other methods are ModelBackend's. Everything
    else is auth.get_user's own: the path must be in AUTHENTICATION_BACKENDS, the session's auth
    hash is compared (and its fallbacks), a mismatch flushes the session. Only while both paths
    are listed: with Django's taken out of AUTHENTICATION_BACKENDS its sessions sign out, as before.

    Only the loaded copy of the session changes, not `modified`: the session is not saved for this
    (no write, no Set-Cookie, no race with the same customer's other requests). Saved for another
    reason, it keeps the shop's path, which is what a login through the shop gives."""
    if not hasattr(request, "_cached_user"):
        session = request.session
        if session.get(auth.BACKEND_SESSION_KEY) == _DJANGO_BACKEND and _both_listed():
            modified = session.modified
            session[auth.BACKEND_SESSION_KEY] = _SHOP_BACKEND
            session.modified = modified
        request._cached_user = auth.get_user(request)
    return request._cached_user


class AuthenticationMiddleware(auth_middleware.AuthenticationMiddleware):
    """Django's, with request.user loaded by _user."""

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: _user(request))


class HashingBusyMiddleware:
    """503 with Retry-After and a page that says to try again in a few seconds, for every view
    that checks a password (the shop's login and registration, the admin's login)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, HashingBusy):
            return None
        response = render(request, "shop/accounts/busy.html", {"message": exception.message}, status=503)
        return busy_response(response, exception)


class LoginSlotMiddleware:
    """A post of the shop's login form takes one of the host's password-checking slots here and
    holds it for the rest of the request; with none free it is answered at once (login_busy_page,
    as the view would) without resolving the URL, checking the CSRF token, running the view or its
    template. A login flood is mostly such refusals, and each one's cost is taken from the page
    views served by the same workers. A refusal changes nothing, so answering before the CSRF
    check gives a forger nothing. Placed after the locale, CSRF and frame middleware: the 503 is
    in the visitor's language, renews the CSRF cookie and carries the headers the view's had.

    A request with a session cookie goes the view's way (which takes the slot itself): a customer
    already signed in is sent on, as LoginView does, not refused."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            request.method != "POST"
            or settings.SESSION_COOKIE_NAME in request.COOKIES
            or request.path != reverse("accounts:login")
        ):
            return self.get_response(request)
        with ExitStack() as held:
            try:
                held.enter_context(services.password_check_slot(request=request))
            except HashingBusy as busy:
                response = login_busy_page(request, busy)
                add_never_cache_headers(response)  # as LoginView's never_cache
                return response
            return self.get_response(request)
