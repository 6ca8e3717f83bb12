"""PostgreSQL's CPU per purchase step (add, confirm page, place), in-process: the backend's
on-CPU time from /proc/PID/schedstat (ns) around each request (PostgreSQL on this machine), and
with --stats pg_stat_statements' deltas (plan and exec ms, calls) per step and statement, read
over a second connection. Run by bench/checkout-pg-profile.sh on a throwaway PostgreSQL with
pg_stat_statements loaded."""

import argparse
import os
import statistics
import sys
from urllib.parse import urlencode

sys.path.insert(0, os.path.join(os.getcwd(), "bench"))
from checkout import PlaceForm, django_setup

ap = argparse.ArgumentParser()
ap.add_argument("--rounds", type=int, default=30)
ap.add_argument("--variants", required=True)
ap.add_argument("--stats", action="store_true")
ap.add_argument("--top", type=int, default=25)
a = ap.parse_args()
variants = [int(v) for v in a.variants.split(",")]
django_setup()
import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

side = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)


def backend_ns(pid):
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def snap():
    rows = side.execute(
        "SELECT queryid, query, calls, total_plan_time, total_exec_time, plans FROM pg_stat_statements "
        "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
    ).fetchall()
    return {r[0]: r for r in rows}


customers = list(get_user_model().objects.filter(email__endswith="@bench.example").order_by("pk")[:50])
steps = ["add", "checkout", "place", "pay"]
cpu = {s: [] for s in steps}
nq = {s: [] for s in steps}
agg = {s: {} for s in steps}
state = {"n": 0}


def counting(execute, sql, params, many, context):
    state["n"] += 1
    return execute(sql, params, many, context)


client = Client()


def step(name, path, data=None, counted=True):
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    before = snap() if (a.stats and counted) else None
    state["n"] = 0
    t0 = backend_ns(pid)
    with connection.execute_wrapper(counting):
        r = (
            client.get(path)
            if data is None
            else client.post(path, urlencode(data), content_type="application/x-www-form-urlencoded")
        )
    connection.ensure_connection()
    pid2 = connection.connection.info.backend_pid
    t1 = backend_ns(pid2) if pid2 == pid else None
    if counted:
        if t1 is not None:
            cpu[name].append((t1 - t0) / 1e6)
        nq[name].append(state["n"])
        if before is not None:
            after = snap()
            for qid, row in after.items():
                b = before.get(qid)
                calls = row[2] - (b[2] if b else 0)
                if not calls:
                    continue
                plan = row[3] - (b[3] if b else 0)
                ex = row[4] - (b[4] if b else 0)
                plans = row[5] - (b[5] if b else 0)
                e = agg[name].setdefault(qid, [row[1], 0, 0.0, 0.0, 0])
                e[1] += calls
                e[2] += plan
                e[3] += ex
                e[4] += plans
    return r


for turn in range(a.rounds + 2):
    counted = turn >= 2
    client.cookies.clear()
    client.force_login(customers[turn % len(customers)])
    r = step("add", "/cart/add/", {"variant": variants[turn % len(variants)], "quantity": 1}, counted)
    assert r.status_code == 302
    r = step("checkout", "/checkout/", None, counted)
    form = PlaceForm.of(r.content.decode())
    assert form
    r = step("place", "/checkout/place/", form, counted)
    assert r.status_code == 302 and "/orders/" in r["Location"], r.status_code
print(f"rounds {a.rounds}, stats {'on' if a.stats else 'off'}, prepare_threshold {settings.DB_PREPARE_THRESHOLD}")
print("| step | PG CPU ms min | median | mean | statements |")
tot = 0
for s in steps:
    if not cpu[s]:
        continue
    tot += statistics.median(cpu[s])
    print(
        f"| {s} | {min(cpu[s]):.2f} | {statistics.median(cpu[s]):.2f} | {statistics.mean(cpu[s]):.2f} "
        f"| {sorted(set(nq[s]))} |"
    )
print(f"| purchase (sum of medians) | | {tot:.2f} | | |")
if a.stats:
    R = a.rounds
    for s in steps:
        rows = sorted(agg[s].values(), key=lambda e: -(e[2] + e[3]))
        tp = sum(e[2] for e in rows) / R
        te = sum(e[3] for e in rows) / R
        calls = sum(e[1] for e in rows) / R
        print(
            f"\n## {s}: per purchase plan {tp:.3f} ms exec {te:.3f} ms, "
            f"{calls:.1f} statements (with BEGIN, COMMIT, foreign key checks)"
        )
        for e in rows[: a.top]:
            print(
                f"{e[1] / R:5.2f}x plan {e[2] / R:6.3f} ({e[4] / R:4.2f} plans) exec {e[3] / R:6.3f}  "
                f"{' '.join(e[0].split())[:200]}"
            )
