"""The answer to a password check refused for want of a free hashing slot (HashingBusy)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from shop.accounts.exceptions import HashingBusy


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
        response["Retry-After"] = str(exception.retry_after)
        response["Cache-Control"] = "no-store"
        return response
