"""A real Celery worker for tests marked `worker`: a subprocess on the test's Redis broker
and the pytest test database, so tasks cross a process boundary as in production."""

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection

from shop.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")
READY_TIMEOUT = 30.0


@dataclass
class Worker:
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for(self, condition: Callable[[], object], what: str, timeout: float = 30.0):
        """Poll `condition` until it returns something truthy; fail with the worker's log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            if self.process.poll() is not None:
                pytest.fail(f"the worker exited ({self.process.returncode}) while waiting for {what}\n{self.log()}")
            time.sleep(0.05)  # the only sleep: polling another process
        pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n--- worker log ---\n{self.log()}")

    def task_done(self, task_id: str) -> bool:
        return f"[{task_id}] succeeded" in self.log()

    def ran(self, task_name: str) -> bool:
        return any(task_name in line and "succeeded" in line for line in self.log().splitlines())


def _test_database_url() -> str:
    """DATABASE_URL with the database name pytest-django created (test_shop, test_shop_gw0...)."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


@pytest.fixture(scope="module")
def celery_worker_process(django_db_setup, tmp_path_factory):
    if "DATABASE_URL" not in os.environ or not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("needs PostgreSQL and Redis (run through bin/test)")
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    env = {
        **os.environ,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DATABASE_URL": _test_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "CONN_MAX_AGE": "0",  # no connection left open when the test database is flushed
        "PYTHONUNBUFFERED": "1",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(CELERY),
                "-A",
                "shop",
                "worker",
                "--pool=solo",
                "--concurrency=1",
                "-l",
                "info",
                "--hostname=pytest-worker@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    worker = Worker(process=process, log_path=log_path)
    try:
        worker.wait_for(lambda: " ready." in worker.log(), "the worker to start", timeout=READY_TIMEOUT)
        yield worker
    finally:
        process.terminate()  # warm shutdown: finishes the task at hand
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture
def celery_worker(celery_worker_process, transactional_db):
    """The running worker, with this process sending tasks to the broker instead of running
    them eagerly. The worker's log is printed after the test (pytest shows it on failure)."""
    conf = celery_app.conf
    was_eager = conf.task_always_eager
    # The app reads Django settings under the CELERY namespace, where the prefixed key wins
    # over the plain one: `conf.task_always_eager = False` alone would change nothing.
    conf.task_always_eager = conf.CELERY_TASK_ALWAYS_EAGER = False
    assert conf.task_always_eager is False
    start = len(celery_worker_process.log())
    try:
        yield celery_worker_process
    finally:
        conf.task_always_eager = conf.CELERY_TASK_ALWAYS_EAGER = was_eager
        print("--- celery worker log (this test) ---")
        print(celery_worker_process.log()[start:])
        assert celery_worker_process.process.poll() is None, "the worker died during the test"
