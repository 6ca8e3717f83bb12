"""Fixtures for fulfillment tests."""

import os
from pathlib import Path
from unittest import mock

import pytest

from fulfillment.carrier_sandbox import start_in_thread
from tests.shop import conftest as shop

# The real Celery worker of tests/shop, for the tracking tests that run tasks through it.
celery_worker_process = shop.celery_worker_process
celery_worker = shop.celery_worker

WORKER_SANDBOX_KEY = "worker-sandbox-key"
WORKER_POLL_SECONDS = 10  # the worker's poll interval, hence its retry backoff of 1 s (fulfillment.tasks)


@pytest.fixture(scope="module")
def worker_sandbox():
    """An express sandbox for the worker subprocess, which reads its settings from the
    environment it is started with: request this before `celery_worker` (see `tracking_worker`)."""
    server = start_in_thread(key=WORKER_SANDBOX_KEY)
    environment = {
        "CARRIER_EXPRESS_URL": server.base_url,
        "CARRIER_EXPRESS_KEY": WORKER_SANDBOX_KEY,
        "CARRIER_EXPRESS_TIMEOUT": "2",
        "CARRIER_POLL_SECONDS": str(WORKER_POLL_SECONDS),
    }
    with mock.patch.dict(os.environ, environment):
        yield server
    server.shutdown()


@pytest.fixture
def tracking_worker(worker_sandbox, celery_worker, settings):
    """The real worker, started against `worker_sandbox`; this process's settings point at the
    same sandbox, so what this process ships the worker can follow."""
    started_with = Path(f"/proc/{celery_worker.process.pid}/environ").read_bytes().split(b"\0")
    assert f"CARRIER_EXPRESS_URL={worker_sandbox.base_url}".encode() in started_with, (
        "the worker was started before the sandbox's URL was in its environment"
    )
    settings.CARRIER_EXPRESS_URL = worker_sandbox.base_url
    settings.CARRIER_EXPRESS_KEY = WORKER_SANDBOX_KEY
    worker_sandbox.fail_next(0)
    yield celery_worker
    worker_sandbox.fail_next(0)
