"""Whole-page cache for anonymous visitors, invalidated by tag.

A catalogue page for someone with no session is the same for everyone who speaks the same
language, so it is kept whole in the "pages" cache and served with one cache round trip, before
sessions, locale or URL resolution run. Correctness rules:

- only GET/HEAD, only visitors without a session cookie, only views that opt in with
  `cache_anonymous_page`, only 200 responses that set no cookie;
- entries live PAGE_CACHE_SECONDS (60 s), which bounds how stale stock status can be;
- every page and fragment records the tags it depends on ("product:12", "category:3",
  PRODUCTS...) with the generation of each tag when it was stored; a catalogue write bumps the
  generations of the tags it affects once it commits (`page_cache_invalidate`), so what
  showed the change is missed at once and everything else stays warm;
- carts, checkout and accounts never opt in, so they always use live figures.

Generations, not deletes: a page that started rendering before a write committed may have read
the old rows. A miss reads the global invalidation sequence before the view runs, and the page
is stored only if no invalidation happened meanwhile (atomically, in a Lua script); fragments
are stamped with the generations read before they were computed. Either way a stale copy is
never stored as fresh.

On Redis a warm hit is ONE round trip: a Lua script reads the entry, checks its tags'
generations and counts the view (product pages) in the counters' hash of the same database
(shop.core.counters). Elsewhere (the embedded default's local memory) the same steps run
through the cache API. Redis down: every read misses, writes are dropped, pages still serve.
"""

import contextvars
import hashlib
import logging
from collections.abc import Callable, Iterable
from functools import lru_cache, wraps
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.utils import translation
from redis.exceptions import ResponseError

from shop.core.cache import UNAVAILABLE
from shop.core.counters import counter_incr, counter_incr_get_many, counter_key
from shop.core.dbrouter import replica_safe_to_store

log = logging.getLogger(__name__)
_ATTR = "_shop_page_cache"

# Tags every write can name. Everything depends on ALL (taxonomy writes: categories, brands,
# attributes; bulk imports). PRODUCTS: any product write (the all-products listing, searches,
# and pages that declare nothing finer). PRODUCT_SET: a product added, hidden, shown or moved
# (the home page's lists may gain or lose one).
ALL = "all"
PRODUCTS = "products"
PRODUCT_SET = "product-set"
_SEQ = "gen-seq"  # bumped by every invalidation: a miss that saw another value is not stored


def product_tag(product_id: int) -> str:
    """Pages and fragments showing this product (its page, its card)."""
    return f"product:{product_id}"


def category_tag(category_id: int) -> str:
    """Pages and fragments listing products of this category's subtree (and its facets)."""
    return f"category:{category_id}"


def _gen_key(tag: str) -> str:
    return f"gen:{tag}"


def product_fragment_key(name: str, *, product_id: int, language: str) -> str:
    """The page-cache key of a product page's fragment that another app renders (its reviews):
    the product page fetches it in the same round trip as its own parts, and the app that owns
    the fragment renders, stores and drops it under this key."""
    return f"product-{name}:{product_id}:{language}"


# -- what the page being rendered depends on ---------------------------------------------------

_collecting: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar("page_cache_tags", default=None)


def page_tag(*tags: str) -> None:
    """Declare tags the page being rendered depends on (nothing happens outside a cache miss).
    Fragments read with `fragments_read` declare theirs themselves."""
    collected = _collecting.get()
    if collected is not None:
        collected.update(tags)


def cache_anonymous_page(view: Callable) -> Callable:
    """Mark a view's responses as cacheable for anonymous visitors. A page that declares no tag
    (page_tag, or through its fragments) depends on PRODUCTS: any product write misses it."""

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


# -- invalidation ------------------------------------------------------------------------------


def _redis(cache) -> Any:
    return cache._cache.get_client(write=True) if isinstance(cache, RedisCache) else None


def _bump(tags: frozenset[str]) -> None:
    cache = caches["pages"]
    names = [_gen_key(tag) for tag in sorted(tags)] + [_SEQ]
    client = _redis(cache)
    try:
        if client is not None:
            pipe = client.pipeline(transaction=True)
            for name in names:
                pipe.incr(cache.make_and_validate_key(name))
            pipe.execute()
            return
        for name in names:
            cache.add(name, 0, None)  # generations never expire (a few bytes per tag written)
            try:
                cache.incr(name)
            except ValueError:  # evicted between the two calls, or a dummy cache
                cache.set(name, 1, None)
    except UNAVAILABLE:
        # Entries stored before the outage live at most PAGE_CACHE_SECONDS more.
        log.warning("page cache invalidation of %s failed: Redis unavailable", sorted(tags), exc_info=True)


def page_cache_invalidate(tags: Iterable[str]) -> None:
    """Miss every page and fragment that depends on any of `tags`, once the current transaction
    commits (at once outside one)."""
    tags = frozenset(tags)
    if tags:
        transaction.on_commit(lambda: _bump(tags))


def page_cache_clear() -> None:
    """Miss every cached page and fragment once the current transaction commits (bulk imports,
    taxonomy changes). Nothing is deleted: the page cache's database also keeps the view
    counters."""
    page_cache_invalidate([ALL])


# -- fragments ---------------------------------------------------------------------------------


class Fragments:
    """Fragments read in one cache round trip with the generations of the tags they depend on:
    `get` returns a fragment only if none of its tags changed since it was stored, and `set`
    stamps it with the generations read BEFORE it was computed, so a write committing during
    the computation makes the next read miss instead of serving the old rows."""

    def __init__(
        self,
        wanted: dict[str, Iterable[str]],
        *,
        plain: Iterable[str] = (),
        cache=None,
        count: tuple[str, int] | None = None,
    ) -> None:
        """`plain`: keys read as they are (no tags). `count`: a counter and member to bump in the
        same round trip (shop.core.counters: the product page's view); `pending` is then what
        counter_incr returns (how many members the counter holds if this made the member one)."""
        self.cache = cache or caches["pages"]
        self.tags = {key: (ALL, *tags) for key, tags in wanted.items()}
        every = sorted({tag for tags in self.tags.values() for tag in tags})
        page_tag(*every)
        keys = [*self.tags, *plain, *map(_gen_key, every)]
        self.pending: int | None = None
        if count is None:
            found = self.cache.get_many(keys)
        else:
            found, self.pending = counter_incr_get_many(*count, cache=self.cache, keys=keys)
        self.generations = {tag: found.get(_gen_key(tag), 0) for tag in every}
        self.found = found

    def _stamp(self, key: str) -> tuple:
        return tuple(self.generations[tag] for tag in self.tags[key])

    def get(self, key: str) -> Any:
        entry = self.found.get(key)
        if key in self.tags:
            if not isinstance(entry, tuple) or len(entry) != 2 or entry[0] != self._stamp(key):
                return None
            return entry[1]
        return entry

    def set(self, key: str, value: Any, timeout: int) -> None:
        # Read from a lagging replica after a write raised the fence: the stamps may be newer
        # than the rows (shop.core.dbrouter). Not stored; the next request computes it again.
        if replica_safe_to_store():
            self.cache.set(key, (self._stamp(key), value), timeout)


def fragment_cached(key: str, compute: Callable[[], Any], *, tags: Iterable[str], timeout: int) -> Any:
    """A single tagged fragment: cached, or computed and stored (None is never cached)."""
    fragments = Fragments({key: tuple(tags)})
    value = fragments.get(key)
    if value is None:
        value = compute()
        fragments.set(key, value, timeout)
    return value


# -- the middleware ----------------------------------------------------------------------------

# KEYS: the page, the sequence, the counters' hash name is in the entry. Returns {1, body,
# content type, language} for a fresh entry (its view counted), else {0, sequence}.
_HIT = """
local e = redis.call('HMGET', KEYS[1], 'b', 'ct', 'l', 't', 'g', 'c', 'm')
if e[1] then
  local fresh = true
  if e[4] and e[4] ~= '' then
    local names = {}
    for name in string.gmatch(e[4], '%S+') do names[#names + 1] = name end
    local now = redis.call('MGET', unpack(names))
    local i = 1
    for g in string.gmatch(e[5], '%S+') do
      if (now[i] or '0') ~= g then fresh = false break end
      i = i + 1
    end
  end
  if fresh then
    if e[6] and e[6] ~= '' then redis.call('HINCRBY', e[6], e[7], 1) end
    return {1, e[1], e[2], e[3]}
  end
end
return {0, redis.call('GET', KEYS[2]) or '0'}
"""

# KEYS: the page, the sequence, then the tags' generations. ARGV: the sequence the miss saw,
# seconds to live, body, content type, language, counter hash, member. Stores nothing (0) if
# an invalidation happened since the miss: the page may hold rows read before it committed.
_STORE = """
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
local gens = {}
if #KEYS > 2 then
  local now = redis.call('MGET', unpack(KEYS, 3))
  for i = 1, #KEYS - 2 do gens[i] = now[i] or '0' end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'b', ARGV[3], 'ct', ARGV[4], 'l', ARGV[5], 't', table.concat(KEYS, ' ', 3),
  'g', table.concat(gens, ' '), 'c', ARGV[6], 'm', ARGV[7])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""


def _key(request: HttpRequest) -> str:
    language = translation.get_language_from_request(request)
    digest = hashlib.blake2b(request.get_full_path().encode(), digest_size=16).hexdigest()
    return f"page:{language}:{digest}"


def _hit_response(content: bytes, content_type: str, language: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Language"] = language
    response["X-Page-Cache"] = "hit"
    return response


class AnonymousPageCacheMiddleware:
    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        self.cache = caches["pages"]
        self.client = _redis(self.cache)
        if self.client is not None:
            self.hit_script = self.client.register_script(_HIT)
            self.store_script = self.client.register_script(_STORE)

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
        lookup = self._lookup_redis if self.client is not None else self._lookup_portable
        hit, seen = lookup(key)
        if hit is not None:
            return hit
        collected: set[str] = set()
        token = _collecting.set(collected)
        try:
            response = self.get_response(request)
        finally:
            _collecting.reset(token)
        meta = getattr(response, _ATTR, None)
        if (
            meta is not None
            and seen is not None
            and response.status_code == 200
            and not response.cookies
            and not getattr(response, "streaming", False)
        ):
            tags = sorted({ALL, *collected} if collected - {ALL} else {ALL, PRODUCTS})
            counter = (counter_key(meta["counter"]), str(meta["member"])) if meta else ("", "")
            store = self._store_redis if self.client is not None else self._store_portable
            store(key, seen, response, tags, counter, meta)
            response["X-Page-Cache"] = "miss"
        return response

    # Redis: one script call per hit, one per store.

    def _lookup_redis(self, key: str) -> tuple[HttpResponse | None, str | None]:
        try:
            found = self.hit_script(keys=[self.cache.make_and_validate_key(key), self._name(_SEQ)], client=self.client)
        except UNAVAILABLE:
            return None, None  # Redis is down: render, and store nothing
        except ResponseError:
            return None, None  # e.g. an entry in another format (a deploy): it expires on its own
        if found[0] == 1:
            return _hit_response(found[1], found[2].decode(), found[3].decode()), None
        return None, found[1]

    def _store_redis(self, key, seen, response, tags, counter, meta) -> None:
        keys = [self.cache.make_and_validate_key(key), self._name(_SEQ), *(self._name(_gen_key(t)) for t in tags)]
        args = [seen, settings.PAGE_CACHE_SECONDS, response.content, response["Content-Type"]]
        args += [response.get("Content-Language", ""), *counter]
        try:
            self.store_script(keys=keys, args=args, client=self.client)
        except (*UNAVAILABLE, ResponseError):
            pass  # fail open: the page was served, the next visitor renders it again

    def _name(self, name: str) -> str:
        return self.cache.make_and_validate_key(name)

    # Any other cache (the embedded default's local memory): the same steps through its API.

    def _lookup_portable(self, key: str) -> tuple[HttpResponse | None, Any]:
        entry = self.cache.get(key)
        if entry is not None:
            content, content_type, language, tags, stamps, counter = entry
            found = self.cache.get_many([_gen_key(t) for t in tags])
            if tuple(found.get(_gen_key(t), 0) for t in tags) == stamps:
                if counter:
                    counter_incr(*counter)
                return _hit_response(content, content_type, language), None
        return None, self.cache.get(_SEQ, 0)

    def _store_portable(self, key, seen, response, tags, counter, meta) -> None:
        found = self.cache.get_many([_SEQ, *(_gen_key(t) for t in tags)])
        if found.get(_SEQ, 0) != seen:
            return
        stamps = tuple(found.get(_gen_key(t), 0) for t in tags)
        entry = (
            response.content,
            response["Content-Type"],
            response.get("Content-Language", ""),
            tags,
            stamps,
            (meta["counter"], meta["member"]) if meta else None,
        )
        self.cache.set(key, entry, settings.PAGE_CACHE_SECONDS)
