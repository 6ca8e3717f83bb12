"""The answer to a password check refused for want of a free hashing slot (HashingBusy): a 503
with Retry-After, and for the shop's login the form again, built for a flood of them."""

import logging
import re
import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.urls import get_script_prefix
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

from shop.accounts.exceptions import HashingBusy

log = logging.getLogger(__name__)

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


def safe_next(request: HttpRequest) -> str:
    """The posted or ?next= target when it points into this site, else "" (no open redirect)."""
    target = request.POST.get("next") or request.GET.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


# The busy login page, rendered once per language (and script prefix) with a marker where each
# request's own value goes: a flood is mostly these answers, and the template was the larger part
# of one. Only the values below differ between requests; they are escaped as the template would.
_FIELDS = ("csrf_token", "username", "next")
_MARKER = re.compile("<(" + "|".join(_FIELDS) + ")>")  # "<" never survives escaping: no value fakes one
_pages: dict[tuple[str, str, str], list[str]] = {}
_PAGES_KEPT = 8  # languages × script prefixes: a handful; anything beyond is rendered, not kept


def _page_parts(message: str) -> list[str]:
    key = (get_language(), get_script_prefix(), message)
    if (parts := _pages.get(key)) is None:
        markers = {field: mark_safe(f"<{field}>") for field in _FIELDS}  # noqa: S308 - fixed text
        parts = _MARKER.split(render_to_string("shop/accounts/login_busy.html", {"busy": message, **markers}))
        if parts[1::2] != list(_FIELDS):
            raise ValueError("login_busy.html must show csrf_token, username and next once each, in that order")
        if len(_pages) < _PAGES_KEPT:
            _pages[key] = parts
    return parts


def login_busy_page(request: HttpRequest, busy: HashingBusy) -> HttpResponse:
    """The login form again, the email kept, and why: pressing "log in" again in a moment works.
    A page of its own, not base.html's: a flood of refused logins must cost little."""
    values = {
        "csrf_token": get_token(request),
        "username": escape(request.POST.get("username", "")[:254]),
        "next": escape(safe_next(request)),
    }
    parts = _page_parts(str(busy.message))
    content = "".join(values[part] if i % 2 else part for i, part in enumerate(parts))
    return busy_response(HttpResponse(content, status=503), busy)
