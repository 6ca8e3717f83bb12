"""Whole-page cache for anonymous visitors.

A catalogue page for someone with no session is the same for everyone who speaks the same
language, so it is kept whole in the "pages" cache and served with one cache GET, before
sessions, locale or URL resolution run. Correctness rules:

- only GET/HEAD, only visitors without a session cookie, only views that opt in with
  `cache_anonymous_page`, only 200 responses that set no cookie;
- entries live PAGE_CACHE_SECONDS (60 s), which bounds how stale stock status can be;
- any catalogue write (price, title, image, category) clears the whole page cache on commit,
  so such a change shows at once;
- carts, checkout and accounts never opt in, so they always use live figures.
"""

import hashlib
from collections.abc import Callable
from functools import lru_cache, wraps

from django.conf import settings
from django.core.cache import caches
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.utils import translation

from shop.core.counters import counter_incr

_ATTR = "_shop_page_cache"


def product_fragment_key(name: str, *, product_id: int, language: str) -> str:
    """The page-cache key of a product page's fragment that another app renders (its reviews):
    the product page fetches it in the same round trip as its own parts, and the app that owns
    the fragment renders, stores and drops it under this key."""
    return f"product-{name}:{product_id}:{language}"


def cache_anonymous_page(view: Callable) -> Callable:
    """Mark a view's responses as cacheable for anonymous visitors."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if not hasattr(response, _ATTR):
            setattr(response, _ATTR, {})
        return response

    wrapped.page_cacheable = True
    return wrapped


@lru_cache(maxsize=4096)
def _opted_in(path: str) -> bool:
    """Whether the view at `path` caches its pages: other requests skip the cache lookup."""
    try:
        return getattr(resolve(path).func, "page_cacheable", False)
    except Resolver404:
        return False


def count_on_hit(response: HttpResponse, counter: str, member: int) -> None:
    """Ask the cache to bump a counter each time it serves this page (e.g. product views)."""
    setattr(response, _ATTR, {"counter": counter, "member": member})


def page_cache_clear() -> None:
    """Forget every cached page once the current transaction commits."""
    transaction.on_commit(lambda: caches["pages"].clear())


def _key(request: HttpRequest) -> str:
    language = translation.get_language_from_request(request)
    digest = hashlib.blake2b(request.get_full_path().encode(), digest_size=16).hexdigest()
    return f"page:{language}:{digest}"


class AnonymousPageCacheMiddleware:
    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        self.cache = caches["pages"]

    def _eligible(self, request: HttpRequest) -> bool:
        return (
            settings.PAGE_CACHE_ENABLED
            and request.method in ("GET", "HEAD")
            and settings.SESSION_COOKIE_NAME not in request.COOKIES
            and settings.CSRF_COOKIE_NAME not in request.COOKIES
            and _opted_in(request.path_info)
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not self._eligible(request):
            return self.get_response(request)
        key = _key(request)
        entry = self.cache.get(key)
        if entry is not None:
            content, content_type, language, counter = entry
            if counter:
                counter_incr(*counter)
            response = HttpResponse(content, content_type=content_type)
            response["Content-Language"] = language
            response["X-Page-Cache"] = "hit"
            return response
        response = self.get_response(request)
        meta = getattr(response, _ATTR, None)
        if (
            meta is not None
            and response.status_code == 200
            and not response.cookies
            and not getattr(response, "streaming", False)
        ):
            counter = (meta["counter"], meta["member"]) if meta else None
            self.cache.set(
                key,
                (response.content, response["Content-Type"], response.get("Content-Language", ""), counter),
                settings.PAGE_CACHE_SECONDS,
            )
            response["X-Page-Cache"] = "miss"
        return response
