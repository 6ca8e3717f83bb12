"""PostgreSQL's share of the listing and search pages with NOTHING cached, statement by statement.

    .venv/bin/python bench/listing_sql.py [--repeat 15] [--plans] [PATH ...]

Each page is rendered once in-process through the full WSGI handler (page cache off, its store
a dummy cache, as bench/uncached.py), every statement it sends is captured with its parameters,
then each statement is sent again `repeat` times on the same connection and its minimum time
kept (round trip, parse, plan and execution: what the web worker waits for; other load only
ever adds, so the minimum is the figure to compare). Prints per page the round trips and the
sum of those minima; with --plans, each statement's EXPLAIN (ANALYZE, BUFFERS) too. Without
paths, the pages of bench/uncached.py (issue 12's six and an attribute value on all products).
Runs against DATABASE_URL; writes nothing.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(os.environ.get("BENCH_SRC") or Path(__file__).resolve().parent.parent)
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
os.environ["PAGE_CACHE_ENABLED"] = "0"
os.environ["PAGE_CACHE_URL"] = "dummycache://"

import uncached  # noqa: E402  (sets Django up)
from django.db import connection  # noqa: E402


def captured(path: str) -> list[tuple[str, object]]:
    statements: list[tuple[str, object]] = []

    def keep(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    uncached.get(path)  # warm: jieba, templates, the connection
    with connection.execute_wrapper(keep):
        status, _body = uncached.get(path)
    if status != 200:
        raise SystemExit(f"{path}: HTTP {status}")
    return statements


def timed(sql: str, params, repeat: int) -> float:
    best = float("inf")
    with connection.cursor() as cursor:
        for _ in range(repeat):
            started = time.perf_counter()
            cursor.execute(sql, params)
            if cursor.description is not None:
                cursor.fetchall()
            best = min(best, time.perf_counter() - started)
    return best * 1000


def plan(sql: str, params) -> str:
    if sql.lstrip().upper().startswith("EXPLAIN"):
        return "(an EXPLAIN itself)"
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--plans", action="store_true", help="EXPLAIN (ANALYZE, BUFFERS) every statement")
    parser.add_argument("--each", action="store_true", help="list every statement with its time")
    args = parser.parse_args()
    pages = [(p, p) for p in args.paths] if args.paths else uncached.default_pages()
    rows = []
    for name, path in pages:
        statements = captured(path)
        times = [timed(sql, params, args.repeat) for sql, params in statements]
        rows.append((name, path, len(statements), sum(times)))
        if args.each or args.plans:
            print(f"\n### {name} `{path}`: {len(statements)} statements, {sum(times):.2f} ms\n")
            for ms, (sql, params) in zip(times, statements, strict=True):
                print(f"- {ms:6.2f} ms `{' '.join(sql.split())[:300]}`")
                if args.plans:
                    print("\n```\n" + plan(sql, params) + "\n```\n")
    print("\n| page | path | statements | PostgreSQL ms (sum of each statement's min) |")
    print("|---|---|--:|--:|")
    for name, path, n, ms in rows:
        print(f"| {name} | `{path}` | {n} | {ms:.2f} |")


if __name__ == "__main__":
    main()
