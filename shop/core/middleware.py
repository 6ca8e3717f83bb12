"""Refuse control characters in what people type, once, before any view sees it.

PostgreSQL cannot store a NUL in text: a NUL in a search, an order number in a URL, a coupon
code or a checkout note became a 500 wherever it reached a query. Other C0 control characters
are stored but make no sense in text typed into a web shop and break what is built from it
later (mail headers, PDF markup, XML). Tab, line feed and carriage return are ordinary text.

Checked: the path, query-string names and values, and form fields (urlencoded or multipart)
The contents of uploaded files are not: images and
spreadsheets are binary. A cookie carrying one is dropped, as if it were absent, rather than
refused: a browser stuck with it could otherwise never load a page until it expires.
"""

import re
from collections.abc import Callable, Iterable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils import translation
from django.utils.translation import gettext as _

CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def has_control_character(text: str) -> bool:
    return CONTROL_CHARACTERS.search(text) is not None


def _any_control(pairs: Iterable[tuple[str, list]]) -> bool:
    return any(
        has_control_character(key) or any(isinstance(v, str) and has_control_character(v) for v in values)
        for key, values in pairs
    )


class ControlCharacterMiddleware:
    """Answers 400 to a request with a control character in its path, query string or form."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for name in [n for n, v in request.COOKIES.items() if has_control_character(n + v)]:
            del request.COOKIES[name]
        if self._refused(request):
            # Before LocaleMiddleware: answer in the language the customer chose, if any.
            with translation.override(translation.get_language_from_request(request)):
                message = _(
                    "The request contains a control character (such as a NUL byte) in the address "
                    "or in a form field. Please remove it and try again."
                )
            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        return self.get_response(request)

    @staticmethod
    def _refused(request: HttpRequest) -> bool:
        if has_control_character(request.path) or _any_control(request.GET.lists()):
            return True
        if request.method != "POST":
            return False
        # request.POST reads only urlencoded and multipart bodies (JSON and others stay unread);
        # a multipart body's files go to request.FILES, unread here (Django cleans their names).
        return _any_control(request.POST.lists())
