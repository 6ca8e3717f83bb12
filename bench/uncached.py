"""Single-threaded, in-process cost of the listing and search pages with NOTHING cached.

    PAGE_CACHE_ENABLED=0 .venv/bin/python bench/uncached.py [--rounds 7] [--repeat 10] [PATH ...]

Each page goes through the full WSGI handler and middleware (as gunicorn would run it) with the
page cache off and the page cache's store a dummy cache, so facets, category trees and product
bodies are rebuilt on every request: the `uncached` mode of bin/bench, or any listing in the
minute after a catalogue write. Prints, per page, the minimum over `rounds` of the mean time of
`repeat` requests (min of N: the machine is shared, and other load only ever adds time), the
queries per request and their time as the driver saw it. On 2 cores, 100 req/s needs about
15 ms of total CPU (Python + PostgreSQL) per request: the figure printed is that total, since
the database answers synchronously.

Without paths it measures the pages of issue 12: all products, the root and leaf categories of
the 100,000-product seed, a common and a rare search, and two filtered listings (an attribute
value on all products, a brand on the root category), picked from the data like
bench/pick_urls.py. Runs against DATABASE_URL; writes nothing.
"""

import argparse
import os
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
        ("listing, attribute value", f"/products/?av={value}"),
        ("root category, brand", f"/c/{big.slug}/?brand={brand_id}"),
    ]


def measure(path: str, *, rounds: int, repeat: int) -> dict:
    for _ in range(2):  # jieba's dictionary, templates, the connection
        status, body = get(path)
    means = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(repeat):
            get(path)
        means.append((time.perf_counter() - started) / repeat * 1000)
    timings: list[float] = []

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings.append((time.perf_counter() - started) * 1000)

    with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(timed):
        get(path)
    if QUERIES:
        for ms, query in zip(timings, captured.captured_queries, strict=True):
            print(f"    {ms:7.2f} ms  {' '.join(query['sql'].split())[:220]}", file=sys.stderr)
    return {
        "status": status,
        "bytes": len(body),
        "min_ms": min(means),
        "median_ms": statistics.median(means),
        "queries": len(captured),
        "sql_ms": sum(timings),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--queries", action="store_true", help="print each query and its time to stderr")
    args = parser.parse_args()
    global QUERIES
    QUERIES = args.queries
    pages = [(p, p) for p in args.paths] if args.paths else default_pages()
    print("| page | path | min ms | median ms | queries | SQL ms (one request) | bytes |")
    print("|---|---|--:|--:|--:|--:|--:|")
    for name, path in pages:
        r = measure(path, rounds=args.rounds, repeat=args.repeat)
        flag = "" if r["status"] == 200 else f" (HTTP {r['status']})"
        print(
            f"| {name}{flag} | `{path}` | {r['min_ms']:.1f} | {r['median_ms']:.1f} | {r['queries']} "
            f"| {r['sql_ms']:.1f} | {r['bytes']:,} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
