"""The statement-count guards (test_confirm_page, test_checkout_queries, test_order_extras) saw
one extra statement now and then under `-n 2`: the other worker's test began by flushing the
shared Redis databases, so this worker's session missed the cache and was read from PostgreSQL.
Each worker now has databases of its own (tests/redis_per_worker.py)."""

import os

import pytest
from django.core.cache import caches

from tests.redis_per_worker import redis_locations_for_worker

REDIS = "django.core.cache.backends.redis.RedisCache"
CACHES = {
    "default": {"BACKEND": REDIS, "LOCATION": "redis://127.0.0.1:6400/1"},
    "pages": {"BACKEND": "shop.core.cache.ResilientRedisCache", "LOCATION": "redis://127.0.0.1:6400/2"},
    "local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
}


def test_no_two_workers_share_a_redis_database():
    seen = {}
    for n in range(7):
        for alias, location in redis_locations_for_worker(CACHES, f"gw{n}").items():
            assert location not in seen, (alias, f"gw{n}", seen.get(location))
            seen[location] = (alias, f"gw{n}")
    assert redis_locations_for_worker(CACHES, "gw0") == {
        "default": "redis://127.0.0.1:6400/1",
        "pages": "redis://127.0.0.1:6400/2",
    }
    assert redis_locations_for_worker(CACHES, "") == {}  # a plain run keeps the environment's URLs
    with pytest.raises(RuntimeError):
        redis_locations_for_worker(CACHES, "gw7")  # database 16: Redis has 0-15


def test_this_worker_flushes_only_its_own_databases():
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker or not os.environ.get("CACHE_URL", "").startswith("redis://"):
        pytest.skip("only under pytest-xdist on Redis")
    index = int(worker[2:])
    default = caches["default"]._cache._servers[0]
    pages = caches["pages"]._cache._servers[0]
    assert default.endswith(f"/{1 + 2 * index}") and pages.endswith(f"/{2 + 2 * index}"), (default, pages)
