"""Each pytest-xdist worker gets Redis databases and a media directory of its own.

Every test starts by clearing the caches (tests/conftest.py _clean_caches: FLUSHDB on the
"default" and "pages" databases). With `-n 2` both workers shared those databases, so one
worker's next test could empty the other's in the middle of a request: its session (cached_db)
then missed Redis and was read from PostgreSQL, one statement more than the statement-count
guards allow, which is why they failed now and then, more often on a loaded machine (requests
take longer, so more of them overlap a flush in the other worker).

The Celery broker's database is moved with them: each worker's tests that need a real Celery
worker (tests/shop/conftest.py) start one, and two of them consuming one broker database took
each other's tasks, which then ran against the other worker's caches and test database. The
environment is changed too, because those Celery workers (and the other subprocesses tests
start) read their settings from it.

MEDIA_ROOT: the demo catalogue (browser tests, tests/shop) writes its photos and thumbnails only
when they are missing; two workers building it at once into one directory could each see the
other's half-written file."""

import contextlib
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REDIS_DATABASES = 16  # redis-server's default `databases`


def redis_urls_for_worker(urls: dict[str, str], worker: str) -> dict[str, str]:
    """The URL each Redis database in `urls` (name -> redis:// URL: the broker, the caches) takes
    for xdist worker `worker` ("gw0", "gw1", …): every worker a block of as many databases as the
    plain run uses (0 up to the highest number in `urls`), so no two workers share one and gw0
    keeps the plain run's. Empty for no worker (a plain run keeps the environment's URLs)."""
    if not worker.startswith("gw"):
        return {}
    parsed = {name: urlsplit(url) for name, url in urls.items() if url.startswith(("redis://", "rediss://"))}
    numbers = {name: int(parts.path.strip("/") or 0) for name, parts in parsed.items()}
    block = max(numbers.values(), default=-1) + 1
    shift = int(worker[2:]) * block
    moved = {}
    for name, parts in parsed.items():
        db = numbers[name] + shift
        if db >= REDIS_DATABASES:
            raise RuntimeError(f"xdist worker {worker}: Redis has no database {db}; run fewer workers")
        moved[name] = urlunsplit(parts._replace(path=f"/{db}"))
    return moved


def redis_per_worker() -> None:
    """Point this process's caches, Celery broker and media directory at its worker's own, and
    set the environment its subprocesses inherit to match (before any test runs)."""
    from django.conf import settings
    from django.core.cache import caches

    from shop.celery import app as celery_app

    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker:
        return
    urls = {alias: c["LOCATION"] for alias, c in settings.CACHES.items() if c["BACKEND"].endswith("RedisCache")}
    urls["broker"] = settings.CELERY_BROKER_URL
    moved = redis_urls_for_worker(urls, worker)
    for alias in settings.CACHES:
        if alias in moved:
            settings.CACHES[alias]["LOCATION"] = moved[alias]
            with contextlib.suppress(AttributeError):  # a cache already made keeps its old server
                del caches[alias]
    # What a subprocess's settings derive the caches from: CACHE_URL ("pages" is the next
    # database unless PAGE_CACHE_URL is set), as shop/settings.py does.
    if "default" in moved and os.environ.get("CACHE_URL", "").startswith("redis"):
        os.environ["CACHE_URL"] = moved["default"]
    if "pages" in moved and os.environ.get("PAGE_CACHE_URL", "").startswith("redis"):
        os.environ["PAGE_CACHE_URL"] = moved["pages"]
    if "broker" in moved:
        # Celery reads the CELERY_BROKER_URL environment variable first, then the Django settings
        # under the CELERY namespace, where the prefixed key wins (as tests/shop/test_faults.py).
        conf = celery_app.conf
        settings.CELERY_BROKER_URL = os.environ["CELERY_BROKER_URL"] = moved["broker"]
        conf.broker_url = conf.CELERY_BROKER_URL = moved["broker"]
        celery_app._pool = None  # pools are made once per URL
        celery_app.amqp._producer_pool = None
    media = Path(settings.MEDIA_ROOT) / worker
    media.mkdir(parents=True, exist_ok=True)
    settings.MEDIA_ROOT = media
    os.environ["MEDIA_ROOT"] = str(media)
