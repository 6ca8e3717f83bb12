"""Single-threaded, in-process cost of the listing and search pages with NOTHING cached.

    PAGE_CACHE_ENABLED=0 .venv/bin/python bench/uncached.py [--rounds 7] [--repeat 10] [PATH ...]

Each page goes through the full WSGI handler and middleware (as gunicorn would run it) with the
page cache off and the page cache's store a dummy cache, so facets, category trees and product
bodies are rebuilt on every request: the `uncached` mode of bin/bench, or any listing in the
minute after a catalogue write. Prints, per page, the CPU a request costs (this process's
CPU time plus that of its PostgreSQL server process, read from /proc: the figure a shared
machine's other load hardly moves), and the wall time, each the minimum over `rounds` of the
mean of `repeat` requests (other load only ever adds), the queries per request and their time
as the driver saw it, and the Python function calls of one request (cProfile's count: the
figure no other load moves, for comparing two versions on a busy machine). On 2 cores, 100
req/s needs about 15 ms of CPU per request, PostgreSQL's included.

Without paths it measures the pages of issue 12: all products, the root and leaf categories of
the 100,000-product seed, a common, a rare and a mid-sized search, and two filtered listings (an attribute
value on all products, a brand on the root category), picked from the data like
bench/pick_urls.py. Runs against DATABASE_URL; writes nothing.
"""

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(os.environ.get("BENCH_SRC") or Path(__file__).resolve().parent.parent)
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
os.environ["PAGE_CACHE_ENABLED"] = "0"
os.environ["PAGE_CACHE_URL"] = "dummycache://"

import django  # noqa: E402

django.setup()

from urllib.parse import quote  # noqa: E402

from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test import RequestFactory  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

HANDLER = WSGIHandler()
QUERIES = False
FACTORY = RequestFactory()


def get(path: str) -> tuple[int, bytes]:
    environ = FACTORY.get(path, HTTP_HOST="127.0.0.1").environ
    status: list[str] = []
    body = b"".join(HANDLER(environ, lambda s, h, *_: status.append(s)))
    return int(status[0].split()[0]), body


def default_pages() -> list[tuple[str, str]]:
    """bin/bench's pages (bench/pick_urls.py) but home and product, and an attribute value
    (the most common one) on all products."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import pick_urls

    from catalog.models import Category, Product

    active = Product.objects.filter(is_active=True)
    big = max(Category.get_root_nodes().filter(is_active=True), key=pick_urls.subtree_count)
    leaves = list(
        Category.objects.filter(is_active=True, numchild=0)
        .annotate(n=Count("products"))
        .filter(n__gt=0)
        .order_by("n", "path")
    )
    leaf = leaves[len(leaves) // 2]
    rare, _hits = pick_urls.rare_word()
    brand_id, _name, _n = pick_urls.top_brand(big)
    through = Product.attribute_values.through
    value = (
        through.objects.filter(product__in=active)
        .values("attributevalue_id")
        .annotate(n=Count("id"))
        .order_by("-n", "attributevalue_id")
        .first()["attributevalue_id"]
    )
    return [
        ("listing", "/products/"),
        ("category (root)", f"/c/{big.slug}/"),
        ("category (leaf)", f"/c/{leaf.slug}/"),
        ("search (common)", "/search/?q=" + quote(pick_urls.COMMON_WORD)),
        ("search (rare)", "/search/?q=" + quote(rare)),
        ("search (mid-sized)", "/search/?q=" + quote(pick_urls.MID_WORD)),
        ("listing, attribute value", f"/products/?av={value}"),
        ("root category, brand", f"/c/{big.slug}/?brand={brand_id}"),
    ]


def _stat(pid: int | str) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def database_cpu() -> float:
    """CPU seconds used so far by the PostgreSQL server this process talks to (Linux /proc, the
    server on this machine, used by nothing else meanwhile): the postmaster, its live children
    (this connection's backend, background workers) and those it has reaped (parallel query
    workers). With the Python process's own CPU time, a request's whole cost in CPU, which
    other load on a shared machine does not inflate as it does the wall time."""
    if not hasattr(database_cpu, "postmaster"):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            database_cpu.postmaster = int(_stat(cursor.fetchone()[0])[1])
    ticks = 0
    try:
        own = _stat(database_cpu.postmaster)
        ticks += sum(int(n) for n in own[11:15])  # utime, stime, and its reaped children's
    except OSError:
        return 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = _stat(entry.name)
            except OSError:
                continue
            if int(fields[1]) == database_cpu.postmaster:
                ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def measure(path: str, *, rounds: int, repeat: int) -> dict:
    for _ in range(2):  # jieba's dictionary, templates, the connection
        status, body = get(path)
    means, cpus = [], []
    for _ in range(rounds):
        started, cpu, pg = time.perf_counter(), time.process_time(), database_cpu()
        for _ in range(repeat):
            get(path)
        means.append((time.perf_counter() - started) / repeat * 1000)
        cpus.append(((time.process_time() - cpu) + (database_cpu() - pg)) / repeat * 1000)
    timings: list[float] = []

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings.append((time.perf_counter() - started) * 1000)

    with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(timed):
        get(path)
    # Read before the next request: its start clears the query log.
    queries, statements = len(captured), list(captured.captured_queries)
    profile = cProfile.Profile()
    profile.enable()
    get(path)
    profile.disable()
    if QUERIES:
        for ms, query in zip(timings, statements, strict=True):
            print(f"    {ms:7.2f} ms  {' '.join(query['sql'].split())[:220]}", file=sys.stderr)
    return {
        "status": status,
        "bytes": len(body),
        "min_ms": min(means),
        "cpu_ms": min(cpus),
        "median_ms": statistics.median(means),
        "queries": queries,
        "sql_ms": sum(timings),
        "calls": pstats.Stats(profile).total_calls,
    }


def distribution(path: str, *, requests: int, slowest: int) -> None:
    """One request at a time, each timed (wall, this process's CPU, the garbage collector's
    pauses) with its statements, to stderr: the percentiles, then the slowest requests and
    where their time went. What makes a page's slowest 1 % slow in-process (a collection, a
    slow plan for one statement) shows here; what gunicorn's queueing adds under wrk does not."""
    import gc

    pauses: list[float] = []
    started_gc = [0.0]

    def on_gc(phase, info):
        if phase == "start":
            started_gc[0] = time.perf_counter()
        else:
            pauses.append((time.perf_counter() - started_gc[0]) * 1000)

    for _ in range(3):
        get(path)
    gc.callbacks.append(on_gc)
    runs = []
    try:
        for _ in range(requests):
            statements: list[tuple[float, str]] = []

            def timed(execute, sql, params, many, context, statements=statements):
                t = time.perf_counter()
                try:
                    return execute(sql, params, many, context)
                finally:
                    statements.append(((time.perf_counter() - t) * 1000, " ".join(sql.split())[:120]))

            pauses.clear()
            wall, cpu = time.perf_counter(), time.process_time()
            with connection.execute_wrapper(timed):
                get(path)
            runs.append(
                ((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000, sum(pauses), statements)
            )
    finally:
        gc.callbacks.remove(on_gc)
    walls = sorted(r[0] for r in runs)

    def pct(p: float) -> float:
        return walls[min(len(walls) - 1, int(len(walls) * p))]

    print(
        f"{path}: {requests} requests, wall p50 {pct(0.5):.1f} p90 {pct(0.9):.1f} p99 {pct(0.99):.1f} "
        f"max {walls[-1]:.1f} ms; CPU p50 {statistics.median(r[1] for r in runs):.1f} ms",
        file=sys.stderr,
    )
    for wall_ms, cpu_ms, gc_ms, statements in sorted(runs, key=lambda r: -r[0])[:slowest]:
        sql_ms = sum(ms for ms, _sql in statements)
        print(
            f"  {wall_ms:6.1f} ms: CPU {cpu_ms:.1f}, garbage collector {gc_ms:.1f}, SQL {sql_ms:.1f}", file=sys.stderr
        )
        for ms, sql in statements:
            print(f"      {ms:6.2f} ms  {sql}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--queries", action="store_true", help="print each query and its time to stderr")
    parser.add_argument(
        "--distribution",
        type=int,
        metavar="N",
        help="instead: N requests of each page one by one, their percentiles and the slowest ones' statements",
    )
    parser.add_argument("--slowest", type=int, default=3, help="with --distribution: how many slow requests to show")
    args = parser.parse_args()
    global QUERIES
    QUERIES = args.queries
    pages = [(p, p) for p in args.paths] if args.paths else default_pages()
    if args.distribution:
        for _name, path in pages:
            distribution(path, requests=args.distribution, slowest=args.slowest)
        return
    print(
        "| page | path | CPU ms (min) | wall ms (min) | wall ms (median) | queries | SQL ms (one request) "
        "| Python calls | bytes |"
    )
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|")
    for name, path in pages:
        r = measure(path, rounds=args.rounds, repeat=args.repeat)
        flag = "" if r["status"] == 200 else f" (HTTP {r['status']})"
        print(
            f"| {name}{flag} | `{path}` | {r['cpu_ms']:.1f} | {r['min_ms']:.1f} | {r['median_ms']:.1f} "
            f"| {r['queries']} | {r['sql_ms']:.1f} | {r['calls']:,} | {r['bytes']:,} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
