"""The product page's frame for visitors without a session: rendered once per process and language.

Around the product's body (rendered once per product, cached in the page cache's store, see
catalog.views) the page is base.html and product_detail.html: header, footer, links, the title,
the canonical link and the reviews block. With the page cache off, rendering that frame through
the template engine was a third of the page's Python (about 0.55 ms a request on the benchmark
machine, docs/benchmark.md "Issue 12, third session: the product page"), although for a visitor
with no session (no messages, no cart, not signed in: every visitor the page cache serves) it
differs only in a few values. So it is rendered once, with placeholders in place of those
values, split there, and each request joins the pieces with its own values, escaped as the
template would have escaped them: the same bytes as rendering the template (tests compare them).
A frame that shows the visitor's CSRF token is never kept.

It applies only when the template would see what it was rendered with: no session cookie (so no
cart count and no signed-in user), no pending messages, and a reviews block already rendered
(the block's tag renders it otherwise). Anyone else gets the template rendered as before. A
frame whose placeholders do not come out as they went in (a filter added to one of them in the
template) is not used: the page is rendered as before and a warning logged once.
"""

import logging
import threading
from functools import lru_cache
from urllib.parse import quote

from django.conf import settings
from django.contrib.messages import get_messages
from django.core.signals import setting_changed
from django.http import HttpRequest
from django.template import loader
from django.template.defaultfilters import truncatechars, urlencode
from django.urls import get_script_prefix, get_urlconf
from django.utils.autoreload import file_changed
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

log = logging.getLogger(__name__)

TEMPLATE = "catalog/product_detail.html"
# What the view passes to the template, filled in per request; "next" is the request's path in
# the language switch link (base.html: request.get_full_path|urlencode).
_ESCAPED = ("title", "canonical_url")
_SAFE = ("structured_data", "body", "reviews")
_FIELDS = frozenset((*_ESCAPED, *_SAFE, "meta_description", "next"))
_NEXT_ENCODED = urlencode("\x00next\x00")  # "%00next%00": as the urlencode filter leaves it

_shells: dict[tuple, list[str] | None] = {}
MAX_FRAMES = 16  # languages x script prefixes; past it the frame is rendered for each request
_lock = threading.Lock()


class _PathMarker:
    """The request as the frame's template sees it, its path a placeholder."""

    def __init__(self, request: HttpRequest) -> None:
        self._request = request

    def get_full_path(self) -> str:
        return "\x00next\x00"

    def __getattr__(self, name: str):
        return getattr(self._request, name)


def _applies(request: HttpRequest, context: dict) -> bool:
    return (
        context.get("reviews") is not None
        and settings.SESSION_COOKIE_NAME not in request.COOKIES
        and getattr(request, "cart_count", None) is None
        and not request.user.is_authenticated
        and not get_messages(request)
    )


def _build(request: HttpRequest, template) -> list[str] | None:
    context = {name: f"\x00{name}\x00" for name in _FIELDS - {"next"}}
    context.update({name: mark_safe(context[name]) for name in _SAFE})  # noqa: S308 - placeholders
    # A {% csrf_token %} shows a placeholder, not this visitor's token, whether or not the token
    # was asked for earlier in the request (the token's cookie flag would not change then).
    context.update(request=_PathMarker(request), product_id=0, variant_data=[])
    context["csrf_token"] = "\x00csrf_token\x00"  # noqa: S105 - a placeholder, no secret
    html = template.render(context, request).replace(_NEXT_ENCODED, "\x00next\x00")
    pieces = html.split("\x00")
    names = pieces[1::2]
    if "csrf_token" in names:
        # This visitor's token must not be served to the next ones.
        log.warning("%s: it shows a CSRF token; rendering it on every request", TEMPLATE)
        return None
    if len(pieces) % 2 == 0 or set(names) != _FIELDS:
        log.warning("%s: its placeholders came out changed (%s); rendering it on every request", TEMPLATE, names)
        return None
    return pieces


@lru_cache(maxsize=2048)
def _description(text: str, language: str) -> str:
    """`{{ meta_description|truncatechars:300 }}`, kept per text (most are a product's summary)
    and language (the ellipsis is translated)."""
    return conditional_escape(truncatechars(text, 300))


def product_frame_render(request: HttpRequest, context: dict) -> str | None:
    """The page for `context` (the view's context for TEMPLATE) from the frame rendered once, or
    None where the frame does not apply: then render the template."""
    if not _applies(request, context):
        return None
    language = get_language()
    key = (language, get_script_prefix(), get_urlconf())
    try:
        pieces = _shells[key]
    except KeyError:
        pieces = _build(request, loader.get_template(TEMPLATE))
        with _lock:
            # The script prefix comes from the request (a proxy may pass SCRIPT_NAME on): a
            # visitor making up prefixes must not grow the process without bound.
            if len(_shells) < MAX_FRAMES:
                _shells[key] = pieces
    if pieces is None:
        return None
    values = {name: conditional_escape(context[name]) for name in _ESCAPED}
    values.update({name: context[name] for name in _SAFE})
    values["meta_description"] = _description(context["meta_description"], language)
    # `|urlencode` is quote() with "/" kept, and its output has nothing to escape.
    values["next"] = conditional_escape(quote(request.get_full_path()))
    return "".join(piece if i % 2 == 0 else values[piece] for i, piece in enumerate(pieces))


def _forget(**kwargs) -> None:
    with _lock:
        _shells.clear()


# Rendered again after a setting changes (tests) or, in development, a template file (the
# autoreloader then resets the template loaders as well).
setting_changed.connect(_forget, dispatch_uid="catalog.product_shell.forget")
file_changed.connect(_forget, dispatch_uid="catalog.product_shell.forget")
