"""The answer to a password check refused for want of a free hashing slot (HashingBusy), and the
shop's login taking its slot before anything else is done for it."""

from contextlib import ExitStack

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers

from shop.accounts import services
from shop.accounts.busy import busy_response, login_busy_page
from shop.accounts.exceptions import HashingBusy

__all__ = ["HashingBusyMiddleware", "LoginSlotMiddleware", "busy_response"]


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
