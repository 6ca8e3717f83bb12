"""Where a page's time goes: its SQL (captured, then EXPLAIN ANALYZE'd) and its Python (cProfile).

    PAGE_CACHE_ENABLED=0 .venv/bin/python bench/explain.py --urls urls.json > explain.md
    PAGE_CACHE_ENABLED=0 .venv/bin/python bench/explain.py --urls urls.json --cached > explain-cached.md

Without --cached nothing is cached (facets, category trees and product page bodies are rebuilt
on every request: the `uncached` mode, or the first visit after a catalogue write). With
--cached they come from the real cache (CACHE_URL), warmed first: the `off` mode.

Runs against the database in DATABASE_URL (bin/bench runs it against the bench database with
BENCH_EXPLAIN=1). Each page is rendered in-process through the full WSGI handler and
middleware, as gunicorn would; nothing is written to the database. Prints Markdown:
per page, the wall time split into SQL and the rest, every query with its time, the plans of
the slowest queries, and the functions that take the most time.
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(os.environ.get("BENCH_SRC") or Path(__file__).resolve().parent.parent)  # the code under test
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
os.environ.setdefault("PAGE_CACHE_ENABLED", "0")
CACHED = "--cached" in sys.argv  # decided before Django reads its settings
if not CACHED:
    os.environ.setdefault("PAGE_CACHE_URL", "dummycache://")  # facets too: show every query

import django  # noqa: E402

django.setup()

from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import RequestFactory  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

HANDLER = WSGIHandler()
FACTORY = RequestFactory()


def get(path: str) -> tuple[int, int]:
    environ = FACTORY.get(path, HTTP_HOST="127.0.0.1").environ
    status = []
    body = b"".join(HANDLER(environ, lambda s, h, *_: status.append(s)))
    return int(status[0].split()[0]), len(body)


def explain(sql: str) -> tuple[float, str]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    execution = next((line for line in plan.splitlines() if line.startswith("Execution Time")), "")
    ms = float(execution.split(":")[1].split()[0]) if execution else 0.0
    return ms, plan


def one_page(name: str, path: str, *, repeat: int, plans: int, profile_rows: int) -> str:
    out = [f"## {name}: `{path}`", ""]
    for _ in range(2):  # warm: jieba's dictionary, templates, connection
        status, size = get(path)
    if status != 200:
        return "\n".join([*out, f"HTTP {status}", ""])
    started = time.perf_counter()
    for _ in range(repeat):
        get(path)
    wall = (time.perf_counter() - started) / repeat * 1000
    timings: list[float] = []

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings.append((time.perf_counter() - started) * 1000)

    with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(timed):
        get(path)
    queries = list(zip(timings, (q["sql"] for q in captured.captured_queries), strict=True))
    sql_ms = sum(t for t, _ in queries)
    out += [
        f"- {size:,} bytes; **{wall:.1f} ms** per request in-process (mean of {repeat}), single-threaded",
        f"- **{len(queries)} queries, {sql_ms:.1f} ms in SQL** (as the driver saw it) — "
        f"{wall - sql_ms:.1f} ms elsewhere (ORM, view, templates, middleware)",
        "",
        "| # | ms | EXPLAIN ANALYZE ms | query |",
        "|--:|--:|--:|---|",
    ]
    explained = []
    for i, (ms, sql) in enumerate(queries, 1):
        if sql.lstrip().upper().startswith("SELECT"):
            exec_ms, plan = explain(sql)
            explained.append((exec_ms, i, sql, plan))
        else:
            exec_ms = None
        short = " ".join(sql.split())
        short = short if len(short) <= 160 else short[:157] + "..."
        shown = "" if exec_ms is None else f"{exec_ms:.2f}"
        out.append(f"| {i} | {ms:.2f} | {shown} | `{short.replace('|', '¦')}` |")
    out.append("")
    for exec_ms, i, sql, plan in sorted(explained, reverse=True)[:plans]:
        out += [f"### query {i}: {exec_ms:.2f} ms", "", "```sql", sql, "```", "", "```", plan, "```", ""]
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(repeat):
        get(path)
    profiler.disable()
    for order in ("tottime", "cumulative"):
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats(order).print_stats(profile_rows)
        text = stream.getvalue()
        text = text[text.find("ncalls") :] if "ncalls" in text else text
        for prefix in (sysconfig.get_paths()["purelib"] + "/", str(ROOT) + "/", sysconfig.get_paths()["stdlib"] + "/"):
            text = text.replace(prefix, "")
        title = "own time" if order == "tottime" else "cumulative time"
        out += [f"### profile: top {profile_rows} functions by {title}, {repeat} requests", "", "```", text.rstrip()]
        out += ["```", ""]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--urls", required=True, help="the JSON written by bench/pick_urls.py")
    parser.add_argument("--only", help="comma-separated page names")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--plans", type=int, default=3, help="plans shown per page (slowest first)")
    parser.add_argument("--profile-rows", type=int, default=25)
    parser.add_argument("--cached", action="store_true", help="use the real cache, as the off mode does")
    args = parser.parse_args()
    picked = json.loads(Path(args.urls).read_text())
    only = set(args.only.split(",")) if args.only else None
    cached = "facets, trees and product bodies cached" if args.cached else "nothing cached"
    print(f"# Where the time goes: {picked['products']:,} products, page cache off, {cached}\n")
    for page in picked["urls"]:
        if only and page["name"] not in only:
            continue
        print(
            one_page(page["name"], page["path"], repeat=args.repeat, plans=args.plans, profile_rows=args.profile_rows)
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
