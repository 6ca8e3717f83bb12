"""A Redis cache that degrades to "miss" when Redis is unreachable.

Caches here hold only what can be recomputed (whole pages, facet counts, sessions backed by
the database, view counters), so a Redis outage should slow the shop down, not stop it:
reads miss, writes are dropped, and a warning is logged (once per minute per process).
"""

import logging
import time
from functools import wraps

from django.conf import settings
from django.core.cache import close_caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.core.signals import request_finished, setting_changed
from django.utils.module_loading import import_string
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


def _closes(backend: str) -> bool:
    """Whether a cache backend's close() does anything (memcached's drops its connections)."""
    return import_string(backend).close is not BaseCache.close


def close_caches_only_if_needed() -> None:
    """Take Django's close_caches off request_finished when no configured cache's close() does
    anything. It runs after every request to close each cache used in it, and for Redis (the
    client's pool keeps its connections for the process's next requests), local memory, the
    database and files close() is BaseCache's, which does nothing: about 10 µs and 50 Python
    calls a request of looking the caches up for nothing. A configured backend that does close
    (memcached) keeps it; so does any change of CACHES (_caches_changed connects it again).
    Web processes only: the WSGI module calls it once."""
    if not any(_closes(cache["BACKEND"]) for cache in settings.CACHES.values()):
        request_finished.disconnect(close_caches)


def _caches_changed(*, setting: str, **kwargs) -> None:
    if setting == "CACHES":
        request_finished.connect(close_caches)  # Django's default again (connect() keeps one)


setting_changed.connect(_caches_changed, dispatch_uid="shop.core.cache.caches_changed")
