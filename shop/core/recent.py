"""Short "most recent first" lists kept in the cache, one per owner (e.g. the products a
customer viewed), with a set of owners whose list changed since it was last taken.

A product page must not write to the database on every hit, so a view is pushed here: one
pipelined Redis round trip (LREM, LPUSH, LTRIM, EXPIRE, SADD), or a dict entry in the embedded
default (local-memory cache). A periodic task copies the changed lists into the database.
"""

import contextlib
import threading

from django.core.cache import caches

from shop.core.cache import UNAVAILABLE
from shop.core.counters import _redis_client

# A list nobody touched for this long is dropped from the cache (the database keeps its copy).
TTL_SECONDS = 90 * 24 * 3600

_lock = threading.Lock()


def _key(name: str, owner: int) -> str:
    return f"recent:{name}:{owner}"


def _dirty_key(name: str) -> str:
    return f"recent-dirty:{name}"


def recent_push(name: str, owner: int, item: int, *, size: int) -> None:
    """Put `item` first in `owner`'s list `name` (moving it if already there), keep `size` items
    and mark the owner changed. A cache outage loses this one push, never the page."""
    client = _redis_client()
    if client is not None:
        key = _key(name, owner)
        pipe = client.pipeline(transaction=False)
        pipe.lrem(key, 0, item)
        pipe.lpush(key, item)
        pipe.ltrim(key, 0, size - 1)
        pipe.expire(key, TTL_SECONDS)
        pipe.sadd(_dirty_key(name), owner)
        with contextlib.suppress(*UNAVAILABLE):
            pipe.execute()
        return
    cache = caches["default"]
    with _lock:  # the embedded default: one process, local memory
        items = [i for i in cache.get(_key(name, owner), []) if i != item]
        cache.set(_key(name, owner), [item, *items][:size], TTL_SECONDS)
        cache.set(_dirty_key(name), {*cache.get(_dirty_key(name), set()), owner}, None)


def recent_get(name: str, owner: int) -> list[int] | None:
    """`owner`'s list, most recent first; None when the cache has none (expired, or an outage)."""
    client = _redis_client()
    if client is not None:
        try:
            raw = client.lrange(_key(name, owner), 0, -1)
        except UNAVAILABLE:
            return None
        return [int(i) for i in raw] if raw else None
    return caches["default"].get(_key(name, owner)) or None


def recent_take_changed(name: str, *, count: int) -> dict[int, list[int]]:
    """Up to `count` owners whose list changed, removed from the changed set, with their lists.
    Two round trips whatever `count` is."""
    client = _redis_client()
    if client is not None:
        try:
            owners = [int(o) for o in client.spop(_dirty_key(name), count) or []]
            if not owners:
                return {}
            pipe = client.pipeline(transaction=False)
            for owner in owners:
                pipe.lrange(_key(name, owner), 0, -1)
            lists = pipe.execute()
        except UNAVAILABLE:
            return {}
        return {owner: [int(i) for i in items] for owner, items in zip(owners, lists, strict=True)}
    cache = caches["default"]
    with _lock:
        changed = sorted(cache.get(_dirty_key(name), set()))
        taken, rest = changed[:count], changed[count:]
        cache.set(_dirty_key(name), set(rest), None)
        return {owner: cache.get(_key(name, owner), []) for owner in taken}
