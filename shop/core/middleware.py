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

import codecs
import re
from collections.abc import Callable, Iterable
from functools import cache

from csp.constants import HEADER
from csp.middleware import CheckableLazyObject, CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.exceptions import BadRequest
from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.http.response import HttpResponseBase
from django.utils import translation
from django.utils.translation import gettext as _

CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# What a control character looks like in a raw query string: %00-%1F or %7F (tab, LF and CR
# among them; the parsed values are checked properly when one of these turns up).
ENCODED_CONTROL = re.compile(r"%(?:[01][0-9A-Fa-f]|7[Ff])")


def has_control_character(text: str) -> bool:
    return CONTROL_CHARACTERS.search(text) is not None


def _any_control(pairs: Iterable[tuple[str, list]]) -> bool:
    return any(
        has_control_character(key) or any(isinstance(v, str) and has_control_character(v) for v in values)
        for key, values in pairs
    )


FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")  # the bodies Django decodes


def _foreign_charset(request: HttpRequest) -> bool:
    """Whether the request declares a charset other than UTF-8 for text Django decodes in it: the
    query string, or a form. The shop's pages are UTF-8 and browsers declare none; another is the
    client's choice and can only hurt: UTF-7 or unicode_escape turn "+2AA-" or "\\ud800" into a
    lone surrogate no page can be encoded with, "hex" is no text codec at all (a 500 either way,
    on any page). Django refuses a urlencoded form in another charset itself; this refuses the
    rest alike."""
    encoding = request.encoding
    if encoding is None or codecs.lookup(encoding).name == "utf-8":
        return False
    return bool(request.META.get("QUERY_STRING")) or (request.method == "POST" and request.content_type in FORMS)


class ControlCharacterMiddleware:
    """Answers 400 to a request with a control character in its path, query string or form, or
    with its query string or form in another charset than UTF-8 (_foreign_charset)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for name in [n for n, v in request.COOKIES.items() if has_control_character(n + v)]:
            del request.COOKIES[name]
        if _foreign_charset(request):
            # The error pages read the query string too: in UTF-8 now, as the shop writes it
            # ("hex" would fail to decode again, and UTF-7 make surrogates no page can carry).
            request.encoding = None
            # Django's 400 page, as Django answers a urlencoded form in another charset.
            raise BadRequest("The query string and form fields must be UTF-8.")
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
        if has_control_character(request.path):
            return True
        # Parsing the query string costs more than the rest of a cached page's middleware: only
        # a query that holds a control character, raw or percent-encoded, is parsed here.
        query = request.META.get("QUERY_STRING", "")
        if (ENCODED_CONTROL.search(query) or has_control_character(query)) and _any_control(request.GET.lists()):
            return True
        if request.method != "POST":
            return False
        # request.POST reads only urlencoded and multipart bodies (JSON and others stay unread);
        # a multipart body's files go to request.FILES, unread here (Django cleans their names).
        return _any_control(request.POST.lists())


@cache
def _static_policy() -> str | None:
    """The policy's header, or None when settings ask for more than one fixed policy."""
    if getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None) or (
        (getattr(settings, "CONTENT_SECURITY_POLICY", None) or {}).get("EXCLUDE_URL_PREFIXES")
    ):
        return None
    return build_policy()


def _policy_changed(*, setting: str, **kwargs) -> None:
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _static_policy.cache_clear()


setting_changed.connect(_policy_changed, dispatch_uid="shop.core.middleware.static_csp")


# What django-csp's decorators (csp_update, csp_replace, csp_override…) leave on a response.
PER_VIEW_ATTRIBUTES = tuple(f"_csp_{kind}{ro}" for kind in ("config", "update", "replace") for ro in ("", "_ro"))


class StaticCSPMiddleware(CSPMiddleware):
    """django-csp's middleware with the policy built once. The shop's policy is the same for
    every response (no nonces, no per-view changes), and django-csp builds the header string
    afresh for each one: about 80 µs, a fifth of what a page served from the page cache costs.
    A response or request that does use django-csp's per-view or nonce features, or a report-only
    policy, goes through django-csp's own path unchanged."""

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        policy = _static_policy()
        customised = (
            policy is None
            or getattr(request, "_csp_nonce", None) is not None
            or any(getattr(response, name, None) is not None for name in PER_VIEW_ATTRIBUTES)
        )
        if customised or (settings.DEBUG and response.status_code in (404, 500)):
            return super().process_response(request, response)
        if HEADER not in response and not getattr(response, "_csp_exempt", False):
            response[HEADER] = policy
        # As django-csp does: a nonce asked for after the header is written raises.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response
