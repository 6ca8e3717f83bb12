"""The statement-count guards (test_confirm_page, test_checkout_queries, test_order_extras) saw
one extra statement now and then under `-n 2`: the other worker's test began by flushing the
shared Redis databases, so this worker's session missed the cache and was read from PostgreSQL.
Each worker now has databases of its own (tests/redis_per_worker.py), the Celery broker's too: two
Celery workers (one per xdist worker) on one broker database ran each other's tasks."""

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import caches

from shop.celery import app as celery_app
from tests.redis_per_worker import redis_urls_for_worker

URLS = {  # as bin/test has them
    "broker": "redis://127.0.0.1:6400/0",
    "default": "redis://127.0.0.1:6400/1",
    "pages": "redis://127.0.0.1:6400/2",
    "local": "locmem://",
}


def test_no_two_workers_share_a_redis_database():
    seen = {}
    for n in range(5):
        for alias, location in redis_urls_for_worker(URLS, f"gw{n}").items():
            assert location not in seen, (alias, f"gw{n}", seen.get(location))
            seen[location] = (alias, f"gw{n}")
    assert redis_urls_for_worker(URLS, "gw0") == {
        "broker": "redis://127.0.0.1:6400/0",
        "default": "redis://127.0.0.1:6400/1",
        "pages": "redis://127.0.0.1:6400/2",
    }
    assert redis_urls_for_worker(URLS, "gw1") == {
        "broker": "redis://127.0.0.1:6400/3",
        "default": "redis://127.0.0.1:6400/4",
        "pages": "redis://127.0.0.1:6400/5",
    }
    assert redis_urls_for_worker(URLS, "") == {}  # a plain run keeps the environment's URLs
    with pytest.raises(RuntimeError):
        redis_urls_for_worker(URLS, "gw5")  # database 16: Redis has 0-15


def test_this_worker_flushes_only_its_own_databases():
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker or not os.environ.get("CACHE_URL", "").startswith("redis://"):
        pytest.skip("only under pytest-xdist on Redis")
    index = int(worker[2:])
    default = caches["default"]._cache._servers[0]
    pages = caches["pages"]._cache._servers[0]
    assert default.endswith(f"/{1 + 3 * index}") and pages.endswith(f"/{2 + 3 * index}"), (default, pages)
    broker = celery_app.connection_for_write().as_uri()
    assert broker.endswith(f"/{3 * index}") and os.environ["CELERY_BROKER_URL"].endswith(f"/{3 * index}"), broker
    assert os.environ["CACHE_URL"] == default  # what a Celery worker started by a test reads
    assert Path(settings.MEDIA_ROOT).name == worker == Path(os.environ["MEDIA_ROOT"]).name
