"""A Redis cache that degrades to "miss" when Redis is unreachable.

Caches here hold only what can be recomputed (whole pages, facet counts, sessions backed by
the database, view counters), so a Redis outage should slow the shop down, not stop it:
reads miss, writes are dropped, and a warning is logged (once per minute per process).
"""

import logging
import time
from functools import wraps

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)
_last_warning = [0.0]


def _degrade(default):
    def decorate(method):
        @wraps(method)
        def wrapper(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except UNAVAILABLE:
                if time.monotonic() - _last_warning[0] > 60:
                    _last_warning[0] = time.monotonic()
                    log.warning("Redis cache unavailable; serving without it", exc_info=True)
                return default() if callable(default) else default

        return wrapper

    return decorate


class _ReusedClientRedisCacheClient(RedisCacheClient):
    """Django builds a new redis.Redis around the pool on every cache call, which costs more
    than a round trip to a local Redis (its response callbacks are set up each time: about
    0.1 ms, twice per product page). The client is thread-safe and the pool reconnects after
    a fork, so one client per server is kept instead."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            if index not in self._pools:  # as RedisCacheClient._get_connection_pool, for this index
                self._pools[index] = self._pool_class.from_url(self._servers[index], **self._pool_options)
            client = self._clients[index] = self._client(connection_pool=self._pools[index])
        return client


class ResilientRedisCache(RedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = _ReusedClientRedisCacheClient

    get = _degrade(None)(RedisCache.get)
    get_many = _degrade(dict)(RedisCache.get_many)
    set = _degrade(None)(RedisCache.set)
    set_many = _degrade(list)(RedisCache.set_many)
    add = _degrade(False)(RedisCache.add)
    touch = _degrade(False)(RedisCache.touch)
    delete = _degrade(False)(RedisCache.delete)
    delete_many = _degrade(None)(RedisCache.delete_many)
    has_key = _degrade(False)(RedisCache.has_key)
    incr = _degrade(0)(RedisCache.incr)
    clear = _degrade(None)(RedisCache.clear)
