"""Point this process's Celery app at another broker, in tests that need their own (a Redis
of their own, or a port that refuses connections)."""

import os

from shop.celery import app as celery_app


def use_broker(url: str) -> None:
    conf = celery_app.conf
    # Celery reads the CELERY_BROKER_URL environment variable first (bin/test sets it), then the
    # Django settings under the CELERY namespace, where the prefixed key wins.
    os.environ["CELERY_BROKER_URL"] = conf.broker_url = conf.CELERY_BROKER_URL = url
    celery_app._pool = None  # pools are made once per URL; start from the new one
    celery_app.amqp._producer_pool = None
