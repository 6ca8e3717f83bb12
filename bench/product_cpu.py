"""The product page's cost in-process, single-threaded: wall time, this process's CPU and its
PostgreSQL backend's CPU per request (from /proc), against the ceiling view, minimum over N
batches of R requests through the full WSGI stack (docs/benchmark.md, "Issue 12: product page"),
and the page's SQL statements and Redis round trips (commands sent at once, as redis-py writes
them to the socket).

    SRC=<code tree> MODE=off|uncached .venv/bin/python bench/product_cpu.py [N] [R] [profile]

Needs the environment bin/bench sets (DATABASE_URL of a seeded database, CACHE_URL, DEBUG=0,
SECRET_KEY, ALLOWED_HOSTS with 127.0.0.1, BENCH_VIEWS_ENABLED=1) and PRODUCT, the product's path.
The CPU figures are steadier than wall time on a machine shared with other work.
"""

import os
import sys
import time

SRC = os.environ.get("SRC") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, SRC)
os.chdir(SRC)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
os.environ["PAGE_CACHE_ENABLED"] = "0"
MODE = os.environ.get("MODE", "off")
if MODE == "uncached":
    os.environ["PAGE_CACHE_URL"] = "dummycache://"

import django  # noqa: E402

django.setup()

from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import RequestFactory  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

HANDLER, FACTORY = WSGIHandler(), RequestFactory()
PRODUCT = os.environ.get("PRODUCT", "/p/p49939-dress/")
CEILING = "/bench/ceiling/?kb=14"


def get(path: str) -> tuple[str, int]:
    status = []
    body = b"".join(HANDLER(FACTORY.get(path, HTTP_HOST="127.0.0.1").environ, lambda s, h, *_: status.append(s)))
    return status[0], len(body)


def pg_cpu() -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench(path: str, batches: int, size: int) -> tuple[float, float, float]:
    wall = cpu = pg = float("inf")
    for _ in range(batches):
        pg0, t0, c0 = pg_cpu(), time.perf_counter(), time.process_time()
        for _ in range(size):
            get(path)
        wall = min(wall, (time.perf_counter() - t0) / size)
        cpu = min(cpu, (time.process_time() - c0) / size)
        pg = min(pg, (pg_cpu() - pg0) / size)
    return wall * 1000, cpu * 1000, pg * 1000


def redis_round_trips(path: str, n: int) -> float:
    from redis.connection import AbstractConnection

    sent = []
    real = AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        sent.append(command)
        return real(self, command, check_health)

    AbstractConnection.send_packed_command = counting
    try:
        for _ in range(n):
            get(path)
    finally:
        AbstractConnection.send_packed_command = real
    return len(sent) / n


def main() -> None:
    batches = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    print(get(PRODUCT), get(CEILING))
    for _ in range(20):
        get(PRODUCT)
    with CaptureQueriesContext(connection) as queries:
        get(PRODUCT)
    print("queries:", [q["sql"][:100] for q in queries.captured_queries])
    print("Redis round trips per request:", redis_round_trips(PRODUCT, 20))
    ceiling, product = bench(CEILING, batches, size), bench(PRODUCT, batches, size)
    print(
        f"{MODE}: wall ms ceiling {ceiling[0]:.3f} product {product[0]:.3f} | Python CPU ms ceiling "
        f"{ceiling[1]:.3f} product {product[1]:.3f} | PostgreSQL CPU ms product {product[2]:.3f}"
    )
    if "profile" in sys.argv:
        import cProfile
        import pstats

        profile = cProfile.Profile(time.process_time)
        profile.enable()
        for _ in range(size):
            get(PRODUCT)
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(60)


if __name__ == "__main__":
    main()
