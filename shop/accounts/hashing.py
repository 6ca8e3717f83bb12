"""A bound on password hashes running at once on one host.

A hash is tens of milliseconds of one core. With sync web workers, a flood of logins that all
hash would hold every worker, and page views would queue behind them. So at most
settings.LOGIN_CONCURRENT_HASHES password checks run at once per host. A check that finds no
free slot waits at most settings.LOGIN_HASH_WAIT_MS for one, then is refused (HashingBusy). The
wait holds the worker too, so it is 0 unless the host has web workers to spare; then a few
hashes' wait lets two customers who press "sign in" in the same instant both get in.

The slots are a Redis sorted set shared by every process on the host (and by every gunicorn
node on it: they share its cores), keyed by the host's name. Each holder is stamped with
Redis's clock and counts for at most HOLD_SECONDS, so a worker killed mid-hash cannot keep a
slot. Without Redis (local-memory cache, `make run`) or when Redis is unreachable, a
per-process semaphore stands in: the bound then holds per process, and never blocks a login
the Redis bound would allow (fail open, as RATELIMIT_FAIL_OPEN does).
"""

import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from shop.accounts.exceptions import HashingBusy
from shop.core.cache import UNAVAILABLE

log = logging.getLogger(__name__)

HOLD_SECONDS = 10  # far above a hash (~30 ms), far below gunicorn's 30 s timeout
POLL_SECONDS = 0.01  # a third of a hash: a freed slot is found soon, Redis sees ≤ 100 tries/s

# Drop holders older than HOLD_SECONDS, then take a slot if one is free. Atomic, one round trip,
# Redis's own clock (no skew between web nodes).
_ACQUIRE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], t, ARGV[3])
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
  return 1
end
return 0
"""

_local_lock = threading.Lock()
_local: dict[int, threading.BoundedSemaphore] = {}


def slots_key() -> str:
    return f"accounts:hashing:{socket.gethostname()}"


def _redis():
    """The default cache's Redis client and the slots' key in it; (None, None) when the default
    cache is not Redis."""
    cache = caches["default"]
    if not isinstance(cache, RedisCache):
        return None, None
    return cache._cache.get_client(write=True), cache.make_and_validate_key(slots_key())


def _local_semaphore(limit: int) -> threading.BoundedSemaphore:
    with _local_lock:
        if limit not in _local:
            _local[limit] = threading.BoundedSemaphore(limit)
        return _local[limit]


def _tries() -> int:
    """Tries at a slot within settings.LOGIN_HASH_WAIT_MS, POLL_SECONDS apart. Counted in tries,
    not read off the clock: a try costs far less than a poll, and tests may freeze the clock."""
    return 1 + int(settings.LOGIN_HASH_WAIT_MS / 1000 / POLL_SECONDS)


@contextmanager
def hashing_slot() -> Iterator[None]:
    """Hold one of the host's password-hashing slots for the body; raise HashingBusy when all
    stay taken for settings.LOGIN_HASH_WAIT_MS. settings.LOGIN_CONCURRENT_HASHES = 0: no bound."""
    limit = settings.LOGIN_CONCURRENT_HASHES
    if limit <= 0:
        yield
        return
    client, key = _redis()
    if client is not None:
        token = uuid.uuid4().hex
        acquire = client.register_script(_ACQUIRE)
        try:
            for attempt in range(_tries()):
                if taken := acquire(keys=[key], args=[limit, HOLD_SECONDS, token]):
                    break
                if attempt + 1 < _tries():
                    time.sleep(POLL_SECONDS)
        except UNAVAILABLE:
            log.warning("Redis unavailable: password hashes bounded per process only", exc_info=True)
        else:
            if not taken:
                raise HashingBusy
            try:
                yield
            finally:
                with suppress(*UNAVAILABLE):  # else the slot lapses after HOLD_SECONDS
                    client.zrem(key, token)
            return
    semaphore = _local_semaphore(limit)
    for attempt in range(_tries()):
        if semaphore.acquire(blocking=False):
            break
        if attempt + 1 == _tries():
            raise HashingBusy
        time.sleep(POLL_SECONDS)
    try:
        yield
    finally:
        semaphore.release()
