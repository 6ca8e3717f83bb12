"""Each pytest-xdist worker gets Redis databases of its own.

Every test starts by clearing the caches (tests/conftest.py _clean_caches: FLUSHDB on the
"default" and "pages" databases). With `-n 2` both workers shared those databases, so one
worker's next test could empty the other's in the middle of a request: its session (cached_db)
then missed Redis and was read from PostgreSQL, one statement more than the statement-count
guards allow, which is why they failed now and then, more often on a loaded machine (requests
take longer, so more of them overlap a flush in the other worker)."""

import contextlib
import os
from urllib.parse import urlsplit, urlunsplit

REDIS_DATABASES = 16  # redis-server's default `databases`


def redis_locations_for_worker(caches: dict, worker: str) -> dict[str, str]:
    """The LOCATION each Redis cache in `caches` takes for xdist worker `worker` ("gw0", "gw1", …):
    the database numbers shifted by the worker's index times the number of Redis caches, so no
    two workers share one. Empty for no worker (a plain run keeps the environment's URLs)."""
    if not worker.startswith("gw"):
        return {}
    redis = {alias: c for alias, c in caches.items() if c["BACKEND"].endswith("RedisCache")}
    shift = int(worker[2:]) * len(redis)
    locations = {}
    for alias, cache in redis.items():
        parts = urlsplit(cache["LOCATION"])
        db = int(parts.path.strip("/") or 0) + shift
        if db >= REDIS_DATABASES:
            raise RuntimeError(f"xdist worker {worker}: Redis has no database {db}; run fewer workers")
        locations[alias] = urlunsplit(parts._replace(path=f"/{db}"))
    return locations


def redis_per_worker() -> None:
    """Point this process's caches at its worker's databases (before any test runs)."""
    from django.conf import settings
    from django.core.cache import caches

    for alias, location in redis_locations_for_worker(
        settings.CACHES, os.environ.get("PYTEST_XDIST_WORKER", "")
    ).items():
        settings.CACHES[alias]["LOCATION"] = location
        with contextlib.suppress(AttributeError):  # a cache already made keeps its old server
            del caches[alias]
