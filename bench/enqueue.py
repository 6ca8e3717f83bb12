"""CPU of shop.core.tasks.enqueue against a real Redis (part P1 of issue 12).

    CELERY_BROKER_URL=redis://127.0.0.1:PORT/0 .venv/bin/python bench/enqueue.py [--n 2000] [--rounds 15] [--cprofile]

Queues orders.tasks.notification_send N times a round (the order mail, queued on commit by
every purchase) and prints the CPU per enqueue (process time, so other load on the machine
matters less than wall time): the minimum and median of the rounds' means. The queue is
emptied afterwards. No database is touched."""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
os.environ.setdefault("DATABASE_URL", "sqlite:////tmp/bench-enqueue-unused.sqlite3")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "0")
os.environ.setdefault("LOG_LEVEL", "ERROR")
os.environ.setdefault("SECRET_KEY", os.urandom(24).hex())  # DEBUG off, as served

import django

django.setup()

import redis  # noqa: E402
from django.conf import settings  # noqa: E402

from shop.core.tasks import enqueue  # noqa: E402

TASK = "orders.tasks.notification_send"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--cprofile", action="store_true")
    opts = parser.parse_args()
    url = settings.CELERY_BROKER_URL
    assert url.startswith("redis://"), f"needs a real Redis broker, not {url}"
    queue = redis.Redis.from_url(url)
    assert enqueue(TASK, 0)  # connect and declare outside the measurement
    means, users = [], []
    try:
        for _ in range(opts.rounds):
            started, user = time.process_time(), os.times().user
            for n in range(opts.n):
                if not enqueue(TASK, n):
                    raise SystemExit("enqueue returned False: is the broker up?")
            means.append((time.process_time() - started) / opts.n * 1e6)
            users.append((os.times().user - user) / opts.n * 1e6)
        if opts.cprofile:
            import cProfile
            import pstats

            profile = cProfile.Profile(time.process_time)  # CPU, as the means
            profile.enable()
            for n in range(opts.n):
                enqueue(TASK, n)
            profile.disable()
            pstats.Stats(profile).sort_stats("cumulative").print_stats(45)
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        calls = _statements(queue, opts.n)
        python_calls = _python_calls(opts.n)
    finally:
        queue.delete("celery")
    print(
        f"enqueue CPU µs: min {min(means):.1f} median {statistics.median(means):.1f} "
        f"(user {statistics.median(users):.1f}, the rest system; {opts.rounds} rounds of {opts.n}); "
        f"Redis commands per enqueue: {calls}; Python calls per enqueue {python_calls:.0f}; "
        f"transport {_transport()}"
    )


def _python_calls(n: int) -> float:
    """Function calls per enqueue (C and Python): a measure of work that load does not blur."""
    import cProfile
    import pstats

    profile = cProfile.Profile()
    profile.enable()
    for i in range(n):
        enqueue(TASK, i)
    profile.disable()
    return pstats.Stats(profile).total_calls / n


def _transport() -> str:
    from celery import current_app

    with current_app.connection_for_write() as connection:
        cls = type(connection.transport)
    return f"{cls.__module__}.{cls.__qualname__}"


def _statements(queue, n: int) -> str:
    """Redis commands per enqueue, from the server's own command statistics."""
    queue.config_resetstat()
    for i in range(n):
        enqueue(TASK, i)
    stats = queue.info("commandstats")
    parts = {k.removeprefix("cmdstat_"): v["calls"] / n for k, v in stats.items() if k != "cmdstat_config|resetstat"}
    return ", ".join(f"{k} {v:.2f}" for k, v in sorted(parts.items()) if v >= 0.005)


if __name__ == "__main__":
    main()
