"""Counters kept in the cache and flushed to the database in batches.

A product view must not write to the database on every request, so views are counted here
(one Redis HINCRBY, or a dict in the embedded default) and a periodic task moves them into
the database with one UPDATE per product touched.

The counters live in the Redis database of the page cache when that is Redis (else in the
default cache's): a page served whole from the cache counts its view in the same round trip
(shop.core.pagecache), and the page cache is never flushed as a whole outside tests (writes
invalidate by tag), so pending counts are not lost.
"""

import threading
from collections import Counter
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from shop.core.cache import UNAVAILABLE


def _redis_client():
    for alias in ("pages", "default"):
        cache = caches[alias]
        if isinstance(cache, RedisCache):
            return cache._cache.get_client(write=True)
    return None


def counter_key(name: str) -> str:
    """The Redis hash of counter `name` (member -> pending count)."""
    return f"counter:{name}"


_local = Counter()
_local_lock = threading.Lock()


def counter_incr(name: str, member: int) -> int:
    """Add one to `member` of counter `name`. Returns n when this made `member` the n-th member
    with a pending count, 0 when it had one already (or Redis is down): a caller that asks for
    a flush every N members (catalog.services.product_view_record) asks once per N new members,
    not on every increment while the counter holds N or more."""
    client = _redis_client()
    key = counter_key(name)
    if client is not None:
        pipe = client.pipeline()
        pipe.hincrby(key, member, 1)
        pipe.hlen(key)
        try:
            count, members = pipe.execute()
        except UNAVAILABLE:
            return 0  # Redis is down: this view goes uncounted, the page still serves
        return int(members) if count == 1 else 0
    with _local_lock:
        _local[(name, member)] += 1
        if _local[(name, member)] > 1:
            return 0
        return sum(1 for (n, _m) in _local if n == name)


# KEYS: the counter's hash, then the cache keys to read. ARGV: the member. Returns what
# counter_incr returns (the hash's length if the member is new in it, else 0) and the keys' raw
# values (nil when missing).
_INCR_AND_READ = """
local added = 0
if redis.call('HINCRBY', KEYS[1], ARGV[1], 1) == 1 then added = redis.call('HLEN', KEYS[1]) end
return {added, redis.call('MGET', unpack(KEYS, 2))}
"""
_scripts: dict[int, Any] = {}


def counter_incr_get_many(name: str, member: int, *, cache, keys: list[str]) -> tuple[dict[str, Any], int]:
    """`counter_incr(name, member)` and `cache.get_many(keys)` together: in ONE round trip (a Lua
    script) when the counters live in that cache's Redis, as the product page's view count and
    its cached parts do (the page cache's database); otherwise the two calls. Returns the values
    found and what counter_incr returns. Redis down: ({}, 0)."""
    client = _redis_client()
    if (
        client is None
        or not keys
        or not isinstance(cache, RedisCache)
        or cache._cache.get_client(write=True) is not client
    ):
        return cache.get_many(keys), counter_incr(name, member)
    script = _scripts.get(id(client))
    if script is None or script.registered_client is not client:
        script = _scripts[id(client)] = client.register_script(_INCR_AND_READ)
    names = {cache.make_key(key): key for key in keys}  # ours: no need to warn of memcached's limits
    try:
        pending, values = script(keys=[counter_key(name), *names], args=[member], client=client)
    except UNAVAILABLE:
        return {}, 0  # Redis is down: read nothing, count nothing, the page still serves
    loads = cache._cache._serializer.loads
    found = {key: loads(value) for key, value in zip(names.values(), values, strict=True) if value is not None}
    return found, int(pending)


def counter_take(name: str) -> dict[int, int]:
    """Remove and return every pending increment of counter `name`, atomically."""
    client = _redis_client()
    key = counter_key(name)
    if client is not None:
        pipe = client.pipeline(transaction=True)
        pipe.hgetall(key)
        pipe.delete(key)
        try:
            raw, _deleted = pipe.execute()
        except UNAVAILABLE:
            return {}
        return {int(k): int(v) for k, v in raw.items()}
    with _local_lock:
        taken = {m: c for (n, m), c in _local.items() if n == name}
        for m in taken:
            del _local[(name, m)]
        return taken
