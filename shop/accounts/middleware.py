"""The answer to a password check refused for want of a free hashing slot (HashingBusy)."""

import logging
import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from shop.accounts.exceptions import HashingBusy

log = logging.getLogger(__name__)


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


_last_logged = [0.0]


def busy_response(response: HttpResponse, busy: HashingBusy) -> HttpResponse:
    """Mark a 503 for a busy host: retry in a second, never cached. Logged once a minute per
    process rather than once per refused login, as Django would (a flood makes thousands)."""
    response["Retry-After"] = str(busy.retry_after)
    response["Cache-Control"] = "no-store"
    response._has_been_logged = True  # Django's own flag: its request log skips this response
    if time.monotonic() - _last_logged[0] > 60:
        _last_logged[0] = time.monotonic()
        log.warning(
            "Logins refused: all %s password-checking slots of this host busy", settings.LOGIN_CONCURRENT_HASHES
        )
    return response
