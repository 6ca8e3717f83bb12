"""make bench's verdict is steady and honest: a goal that is a share of the ceiling is judged by
the median of ceiling and page runs interleaved in pairs (bench/run.py), checkout by the median of
several steady runs with their place requests pooled for the p95 (bench/checkout.py combine), and
the goals table (bench/goals.py) shows the range, every trial and how many other load disturbed.
One sample against a ceiling of another minute made the verdict a coin toss near the line:
59.2-78.5 orders/s and 20.1-55.7 % for the same code on three runs."""

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import goals  # noqa: E402
import run  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_checkout_verdict", BENCH / "checkout.py")
checkout = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(checkout)


# The reference as bench/run.py sets it (the issue's 2,250 req/s in today's ceiling view), kept
# before the fixture below pins it: the tests of the mechanics reckon at a round 2,250.
CALIBRATED = {
    "ISSUE_CEILING_RPS": run.ISSUE_CEILING_RPS,
    "CEILING_COST_SINCE_ISSUE": getattr(run, "CEILING_COST_SINCE_ISSUE", None),
}


@pytest.fixture(autouse=True)
def issue_ceiling_2250(monkeypatch):
    for module in (run, goals, checkout):
        monkeypatch.setattr(module, "ISSUE_CEILING_RPS", 2250)
    monkeypatch.setattr(goals, "CEILING_COST_SINCE_ISSUE", 1.0, raising=False)


def wrk_result(rps, p50=5.0, p99=20.0, other=0.0):
    return {"requests": round(rps * 8), "seconds": 8.0, "rps": rps, "p50_ms": p50, "p99_ms": p99,
            "socket_errors": 0, "non_2xx": 0, "timeouts": 0, "other_cpu_cores": other, "wrk_text": "wrk"}  # fmt: skip


def pair(n, ceiling, page, other=0.0):
    return {"pair": n, "ceiling": wrk_result(ceiling), "page": wrk_result(page, 25, 60),
            "ratio": round(page / ceiling, 4), "other_cpu_cores": other}  # fmt: skip


def test_spread_is_the_median_and_range_of_every_trial():
    assert run.spread([59.2, 78.5, 71.9]) == {"median": 71.9, "min": 59.2, "max": 78.5, "n": 3}
    assert run.spread([1.0, 4.0, 2.0, 3.0])["median"] == 2.5  # even: the middle two's mean
    assert run.spread([None, 3.0]) == {"median": 3.0, "min": 3.0, "max": 3.0, "n": 1}
    assert run.spread([]) is None
    assert run.fmt_spread(run.spread([59.2, 78.5, 71.9])) == "71.9 (59.2–78.5)"
    assert run.fmt_spread(run.spread([0.2, 0.25]), "{:.1%}") == "22.5% (20.0%–25.0%)"
    assert run.fmt_spread(run.spread([5.0])) == "5.0"


def test_a_paired_row_is_the_median_of_its_per_pair_ratios_with_every_pair_kept():
    # The machine slows down between pairs: the ceiling beside each page run slows down with it.
    trials = [pair(1, 2600, 520), pair(2, 1700, 420, other=0.3), pair(3, 2300, 560)]
    row = run.summarize_pairs(trials)
    assert row["pairs"]["ratio"] == {"median": 0.2435, "min": 0.2, "max": 0.2471, "n": 3}
    assert row["rps"] == 520  # the page's median trial
    assert row["pairs"]["ceiling_rps"] == {"median": 2300, "min": 1700, "max": 2600, "n": 3}
    # The disturbed pair is counted, not dropped; the row is as disturbed as its worst pair (so
    # BENCH_MERGE keeps the quieter row and BENCH_ONLY_NOISY measures it again).
    assert row["pairs"]["disturbed"] == 1 and row["other_cpu_cores"] == 0.3
    assert row["requests"] == 520 * 8 + 420 * 8 + 560 * 8


def test_a_ratio_goal_is_met_by_the_median_not_by_a_ceiling_of_another_minute():
    # One quick ceiling at the start of the mode (2,700 req/s) over the median page (520 req/s):
    # 19.3 %, "not met"; beside the ceiling of its own minute the page is at 24.3 % (median).
    trials = [pair(1, 2600, 520), pair(2, 1700, 420), pair(3, 2300, 560)]
    row = {"mode": "off", "name": "product", **run.summarize_pairs(trials), "trials": trials}
    assert run.row_ratio(row, 2700) == 0.2435
    assert run.ratio_met(row, 0.23, 2700) is True
    assert run.ratio_met({"rps": 520, "socket_errors": 0, "non_2xx": 0}, 0.23, 2700) is False  # one run
    # No best-of: one pair above the line does not carry a median below it.
    low = [pair(1, 2000, 500), pair(2, 2000, 440), pair(3, 2000, 430)]
    assert run.ratio_met({**run.summarize_pairs(low)}, 0.23, 2000) is False
    # An error fails the goal whatever the ratio.
    errors = run.summarize_pairs(trials) | {"non_2xx": 1}
    assert run.ratio_met(errors, 0.23, None) is False


def test_the_pages_report_shows_each_pair_and_judges_by_the_median(tmp_path):
    trials = [pair(1, 2600, 520), pair(2, 1700, 420, other=0.3), pair(3, 2300, 560)]
    data = {
        "meta": {"products": 100000, "connections": 16},
        "results": [
            {"mode": "off", "name": "ceiling", "path": "/bench/ceiling/", **wrk_result(2700)},
            {
                "mode": "off",
                "name": "product",
                "path": "/p/x/",
                **run.summarize_pairs(trials),
                "trials": trials,
                "pair_seconds": 8,
            },
        ],
    }
    (tmp_path / "results.json").write_text(json.dumps(data))
    args = argparse.Namespace(results=str(tmp_path / "results.json"), md=str(tmp_path / "latest.md"),
                              json=str(tmp_path / "latest.json"), wrk_log=str(tmp_path / "wrk.txt"))  # fmt: skip
    run.report(args)
    written = json.loads((tmp_path / "latest.json").read_text())
    goal = next(g for g in written["goals"] if g["goal"].startswith("off: product"))
    assert goal["met"] is True and goal["measured"] == "24.3% (20.0%–24.7%)"
    product = next(r for r in written["results"] if r["name"] == "product")
    assert product["ratio"] == 0.243
    assert all("wrk_text" not in t["page"] for t in product["trials"])  # the text goes to the wrk log
    text = (tmp_path / "latest.md").read_text()
    assert "median of 3 pairs of 8 s, 24.3% (20.0%–24.7%): 20.0% (520 / 2,600 req/s), " in text
    assert "24.7% (420 / 1,700 req/s, other CPU **0.30**)" in text
    assert (tmp_path / "wrk.txt").read_text().count("# pair") == 3


def drive_result(rate, latencies, client=1.0, start=100.0, paid=None, **extra):
    paid = paid if paid is not None else round(rate * 10)
    return {"seconds": 10.0, "threads": 16, "outcomes": {"paid": paid}, "orders_per_second": rate,
            "client_cpu_ms_per_order": client, "client_cpu_cores": 0.08, "requests": 3 * paid,
            "requests_per_order": 3.0, "errors": 0, "sold_out": False, "started_at": start, "ended_at": start + 10,
            "place_p50_ms": sorted(latencies)[len(latencies) // 2], "place_p95_ms": max(latencies),
            "place_ms": sorted(latencies), **extra}  # fmt: skip


def three_runs():
    runs = [
        drive_result(78.5, [80.0] * 95 + [120.0] * 5, client=0.79, start=100),
        drive_result(59.2, [100.0] * 80 + [400.0] * 20, client=1.35, start=120),  # a slow minute
        drive_result(71.9, [90.0] * 100, client=1.1, start=140),
    ]
    ceilings = [wrk_result(2600), wrk_result(1700), wrk_result(2300)]
    checks = [{"ok": True}, {"ok": True}, {"ok": True}]
    return runs, ceilings, checks


def test_checkout_runs_combine_into_the_median_rate_and_a_pooled_p95():
    runs, ceilings, checks = three_runs()
    steady = checkout.combine(runs, ceilings, checks)
    assert steady["orders_per_second"] == 71.9
    assert steady["orders_per_second_spread"] == {"median": 71.9, "min": 59.2, "max": 78.5, "n": 3}
    # 300 place requests pooled: the 95th percentile is the slow minute's 400 ms tail, which the
    # median run's own p95 (90 ms) would hide.
    assert steady["place_p95_ms"] == 400.0 and steady["place_p50_ms"] == 90.0
    assert steady["outcomes"] == {"paid": 785 + 592 + 719} and steady["runs_counted"] == 3
    assert steady["client_cpu_ms_per_order"] == 1.1
    assert steady["ceiling_rps_spread"] == {"median": 2300, "min": 1700, "max": 2600, "n": 3}
    assert [r["ceiling"]["rps"] for r in steady["runs"]] == [2600, 1700, 2300]
    # Every run's latencies stay in the JSON: the pooled p95 can be checked against them.
    assert checkout.p95(sorted(t for r in steady["runs"] for t in r["place_ms"])) == steady["place_p95_ms"]
    assert steady["consistent"] is True and steady["sold_out"] is False
    assert (steady["started_at"], steady["ended_at"]) == (100, 150)

    # One run's check failed, or one run sold out: the whole steady figure says so.
    assert checkout.combine(runs, ceilings, [{"ok": True}, {"ok": False}, {"ok": True}])["consistent"] is False
    assert checkout.combine(runs, ceilings, [{"ok": True}, None, {"ok": True}])["consistent"] is False
    runs[1]["sold_out"] = True
    assert checkout.combine(runs, ceilings, checks)["sold_out"] is True


def test_checkout_report_writes_every_run_and_goals_reads_its_markdown_too(tmp_path):
    runs, ceilings, _checks = three_runs()
    folder = tmp_path / "runs"
    folder.mkdir()
    check = {"ok": True, "orders": 2096, "units_ordered": 2096, "units_reserved": 2096, "oversold_rows": 0,
             "negative_rows": 0, "wallets_off_ledger": 0, "orders_charged_twice": 0,
             "paid_orders_not_holding_total": 0, "bench_orders_unpaid": 0}  # fmt: skip
    (folder / "drive-0.json").write_text(json.dumps(drive_result(60.0, [90.0], start=90)))  # the warm-up
    for n, (r, c) in enumerate(zip(runs, ceilings, strict=True), 1):
        (folder / f"drive-{n}.json").write_text(json.dumps(r))
        (folder / f"ceiling-{n}.json").write_text(json.dumps(c))
        (folder / f"check-{n}.json").write_text(json.dumps(check))
    (tmp_path / "burst.json").write_text("{}")
    assert checkout.report(str(folder), str(tmp_path / "burst.json"), str(tmp_path / "checkout.json")) == 0
    written = json.loads((tmp_path / "checkout.json").read_text())
    assert written["consistent"] is True and written["burst"] is None
    assert written["steady"]["orders_per_second"] == 71.9 and len(written["steady"]["runs"]) == 3
    assert written["steady"]["warmup"]["orders_per_second"] == 60.0  # shown, not counted
    assert written["steady"]["outcomes"]["paid"] == 785 + 592 + 719

    # bin/bench-checkout tees the markdown into checkout.md: goals reads it when there is no JSON.
    md = checkout.markdown(written["steady"], None, check, True)
    assert "| 2 | 59.2 | 100.0 | 400.0 | 1.35 | 1,700 | 0 | OK |" in md
    (tmp_path / "checkout.md").write_text(md)
    from_md = goals.checkout_from_markdown(tmp_path / "checkout.md")
    assert from_md["steady"]["orders_per_second"] == 71.9
    assert from_md["steady"]["place_p95_ms"] == 400.0
    assert from_md["consistent"] is True


@pytest.fixture
def bench(tmp_path):
    trials = [pair(1, 2600, 520), pair(2, 1700, 420, other=0.3), pair(3, 2300, 560)]
    pages = {
        "meta": {"products": 100000, "connections": 16, "commit": "abc"},
        "results": [
            {"mode": "off", "name": "ceiling", "path": "/bench/ceiling/", **wrk_result(2700)},
            {
                "mode": "off",
                "name": "product",
                "path": "/p/x/",
                **run.summarize_pairs(trials),
                "trials": trials,
                "pair_seconds": 8,
            },
        ],
    }
    runs, ceilings, checks = three_runs()
    checkout_json = {"steady": checkout.combine(runs, ceilings, checks), "burst": None, "consistent": True}
    # Other load: quiet but for the second run (t 120-130).
    cpu = {"started_at": 95, "ended_at": 160, "other_cpu_cores": 0.1,
           "timeline": [[t, 0.4 if 121 <= t <= 130 else 0.02] for t in range(96, 161)]}  # fmt: skip
    (tmp_path / "pages.json").write_text(json.dumps(pages))
    (tmp_path / "checkout.json").write_text(json.dumps(checkout_json))
    (tmp_path / "checkout_cpu.json").write_text(json.dumps(cpu))
    return tmp_path


def goal_rows(path):
    args = argparse.Namespace(pages=str(path / "pages.json"), checkout=str(path / "checkout.json"),
                              login=str(path / "login.json"), checkout_cpu=str(path / "checkout_cpu.json"),
                              login_cpu=str(path / "login_cpu.json"), since=0.0, md=str(path / "goals.md"),
                              json=str(path / "goals.json"))  # fmt: skip
    goals.report(args)
    return {r["goal"].split(":")[0]: r for r in json.loads((path / "goals.json").read_text())["goals"]}


def test_the_goals_table_judges_by_medians_and_shows_the_spread_and_each_trial(bench):
    rows = goal_rows(bench)
    product = rows["product page, page cache off (10× django-oscar)"]
    assert product["met"] is True  # 19.3 % of the mode's one ceiling, 24.3 % median beside its own
    assert "median **24.3% (20.0%–24.7%)** of the ceiling run just before each" in product["ratio_to_ceiling"]
    assert product["note"].endswith("3 pairs of 8 s: 20.0%, 24.7%, 24.3%")
    assert product["trials"] == {"disturbed": 1, "counted": 3} and product["disturbed"] is True

    steady = rows["checkout, 16 buyers"]
    assert steady["met"] is True
    assert steady["figure"].startswith("median 71.9 orders/s of 3 runs (59.2–78.5) (216 req/s), p95 400 ms")
    # Each run beside the ceiling of its minute and the client's CPU an order.
    assert (
        "run 2: 59.2 orders/s, p95 400.0 ms, client 1.35 ms an order, ceiling 1,700 req/s just before"
        in (steady["note"])
    )
    assert "of the ceiling measured between the runs (2,300 (1,700–2,600) req/s)" in steady["ratio_to_ceiling"]
    # Per run: the second ran while other processes used 0.4 cores.
    assert steady["trials"] == {"disturbed": 1, "counted": 3} and steady["other_cpu_cores"] == 0.4

    text = (bench / "goals.md").read_text()
    assert "A goal is met when the median meets it" in text
    assert "| **1 of 3** |" in text


def test_a_slow_median_run_fails_checkout_whatever_the_best_run(bench):
    runs, ceilings, checks = three_runs()
    runs[2]["orders_per_second"] = 58.0  # the median run is now below 60: 78.5 does not carry it
    data = {"steady": checkout.combine(runs, ceilings, checks), "burst": None, "consistent": True}
    (bench / "checkout.json").write_text(json.dumps(data))
    rows = goal_rows(bench)
    assert rows["checkout, 16 buyers"]["met"] is False
    assert rows["checkout, 16 buyers"]["figure"].startswith("median 59.2 orders/s of 3 runs (58.0–78.5)")


# -- the verdict at the issue's machine speed ------------------------------------------------------
# Issue 12 set its absolute goals when the bare view did 2,250-2,620 req/s; the machine now swings
# between two speeds within seconds (ceilings 1,300-2,480). make bench judges every absolute goal
# twice: as measured, and scaled by the ceiling beside its own trial to 2,250 req/s.


def uncached_pair(n, ceiling, rps, p99):
    return {"pair": n, "ceiling": wrk_result(ceiling), "page": wrk_result(rps, 60, p99),
            "ratio": round(rps / ceiling, 4), "other_cpu_cores": 0.0}  # fmt: skip


def uncached_row(name, trials):
    return {"mode": "uncached", "name": name, "path": f"/{name}/", **run.summarize_pairs(trials),
            "trials": trials, "pair_seconds": 8, "pair_ceiling_seconds": 4}  # fmt: skip


def minute(tmp_path, ceiling, *, rps, p99, orders, place_ms, burst_p95, login_p50, flood_p99):
    """Every row's files for a run whose ceilings beside each trial were all `ceiling` req/s."""
    product = [pair(n, ceiling, ceiling * 0.25) for n in (1, 2, 3)]
    warm = [pair(n, ceiling, ceiling * 0.9) for n in (1, 2, 3)]
    results = [
        {"mode": "off", "name": "ceiling", "path": "/bench/ceiling/", **wrk_result(ceiling)},
        {"mode": "off", "name": "product", "path": "/p/x/", **run.summarize_pairs(product), "trials": product},
        {"mode": "warm", "name": "product", "path": "/p/x/", **run.summarize_pairs(warm), "trials": warm},
    ]
    for name in run.GOAL_UNCACHED_PAGES:
        results.append(uncached_row(name, [uncached_pair(n, ceiling, rps, p99) for n in (1, 2, 3)]))
    runs = [drive_result(orders, place_ms, start=100 + 20 * n) for n in range(3)]
    steady = checkout.combine(runs, [wrk_result(ceiling)] * 3, [{"ok": True}] * 3)
    scaled_burst = round(run.scale_latency(burst_p95, ceiling), 1)
    burst = {"buyers": 200, "p50_ms": burst_p95 / 2, "p95_ms": burst_p95, "max_ms": burst_p95, "errors": 0,
             "ceiling": {"rps": ceiling}, "at_issue_speed": {"ceiling_rps": 2250, "p95_ms": scaled_burst}}  # fmt: skip
    login = {"single": {"p50_ms": login_p50, "p95_ms": login_p50, "ceiling": {"rps": ceiling}},
             "flood": {"page": "/", "alone_p99_ms": 10, "flood_p99_ms": flood_p99, "errors": 0,
                       "ceiling": {"rps": ceiling}}}  # fmt: skip
    files = {"pages": {"meta": {"products": 100000, "connections": 16}, "results": results},
             "checkout": {"steady": steady, "burst": burst, "consistent": True}, "login": login}  # fmt: skip
    for name, data in files.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
    return tmp_path


def test_the_issue_speed_is_the_slow_end_of_the_issues_ceiling_and_scales_both_ways():
    assert run.ISSUE_CEILING_RPS == 2250  # pinned (issue_ceiling_2250): the mechanics at a round figure
    assert run.scale_throughput(90, 1500) == 135.0 and run.scale_latency(180, 1500) == 120.0
    # A fast minute: the scaled figure is the stricter one.
    assert run.scale_throughput(120, 2700) == 100.0 and run.scale_latency(140, 2700) == 168.0
    assert run.scale_throughput(90, None) is None and run.scale_latency(None, 1500) is None


def test_a_slow_minute_fails_as_measured_and_passes_at_the_issues_speed(tmp_path):
    # Ceiling 1,400 req/s beside every trial: 90 req/s, p99 180 ms is 144.6 req/s, p99 112 ms at
    # 2,250; 45 orders/s is 72.3; the burst's 3.5 s p95 is 2.2 s; login's 200 ms p50 is 124 ms.
    path = minute(tmp_path, 1400, rps=90, p99=180, orders=45, place_ms=[300.0] * 100, burst_p95=3500,
                  login_p50=200, flood_p99=200)  # fmt: skip
    rows = goal_rows(path)
    search = rows["search (mid-sized), nothing cached"]
    assert search["met"] is False and search["at_issue_speed"]["met"] is True
    assert search["at_issue_speed"]["rps"] == 144.6 and search["at_issue_speed"]["p99_ms"] == 112.0
    assert search["figure"].startswith("median 90.0 req/s, p99 180.0 ms of 3 pairs")
    steady = rows["checkout, 16 buyers"]
    assert steady["met"] is False and steady["at_issue_speed"]["met"] is True
    assert steady["at_issue_speed"]["orders_per_second"] == 72.3
    assert steady["at_issue_speed"]["place_p95_ms"] == 186.7
    burst = rows["checkout, 200 press place order at once"]
    assert burst["met"] is False and burst["at_issue_speed"]["met"] is True
    assert rows["login, one at a time"]["met"] is False and rows["login, one at a time"]["at_issue_speed"]["met"]
    flood = rows["page views during a login flood"]
    assert flood["met"] is False and flood["at_issue_speed"]["met"] is True  # 124 ms < 150 ms at 2,250
    # The shares of the ceiling are judged once: the same in both columns.
    product = rows["product page, page cache off (10× django-oscar)"]
    assert product["met"] is True and product["at_issue_speed"]["met"] is True
    text = (path / "goals.md").read_text()
    assert "| goal | figure | met | at the issue's speed | ratio to the bare view |" in text
    assert "**2 of 13 goals met as measured; 13 of 13 at the issue's machine speed, a ceiling of 2,250 req/s**" in text
    assert "| **no** | yes: 144.6 req/s, p99 112.0 ms (medians of the pairs) |" in text
    summary = json.loads((path / "goals.json").read_text())["summary"]
    assert summary == {
        "judged": 13,
        "met": 2,
        "met_at_issue_speed": 13,
        "issue_ceiling_rps": 2250,
        "not_scaled": 0,
        "scaled_disturbed": 0,
    }


def test_a_fast_minute_is_judged_stricter_at_the_issues_speed(tmp_path):
    # Ceiling 2,600 beside every trial: 110 req/s, p99 140 ms is 95.2 req/s, p99 161.8 ms at 2,250;
    # 65 orders/s is 56.3: met as measured, not at the issue's speed.
    path = minute(tmp_path, 2600, rps=110, p99=140, orders=65, place_ms=[300.0] * 100, burst_p95=2800,
                  login_p50=140, flood_p99=140)  # fmt: skip
    rows = goal_rows(path)
    listing = rows["listing, nothing cached"]
    assert listing["met"] is True and listing["at_issue_speed"]["met"] is False
    assert listing["at_issue_speed"]["rps"] == 95.2 and listing["at_issue_speed"]["p99_ms"] == 161.8
    steady = rows["checkout, 16 buyers"]
    assert steady["met"] is True and steady["at_issue_speed"]["met"] is False
    assert steady["at_issue_speed"]["orders_per_second"] == 56.2
    assert rows["checkout, 200 press place order at once"]["at_issue_speed"]["met"] is False  # 3,236 ms
    assert rows["login, one at a time"]["at_issue_speed"]["met"] is False  # 161.8 ms
    text = (path / "goals.md").read_text()
    assert "**13 of 13 goals met as measured; 2 of 13 at the issue's machine speed, a ceiling of 2,250 req/s**" in text


def test_a_row_without_a_ceiling_beside_it_is_not_judged_at_the_issues_speed(tmp_path):
    # An older run: the nothing-cached rows run once against the mode's ceiling of minutes before,
    # checkout alone (no ceiling), login without one. Shown "—" and counted as not met there.
    pages = {"meta": {"products": 100000}, "results": [
        {"mode": "uncached", "name": "ceiling", "path": "/bench/ceiling/", **wrk_result(1500)},
        {"mode": "uncached", "name": "listing", "path": "/products/", **wrk_result(150, 60, 120)}]}  # fmt: skip
    runs = [drive_result(70.0, [100.0] * 100)]
    checkout_json = {"steady": checkout.combine(runs, [None], [{"ok": True}]), "burst": None, "consistent": True}
    (tmp_path / "pages.json").write_text(json.dumps(pages))
    (tmp_path / "checkout.json").write_text(json.dumps(checkout_json))
    rows = goal_rows(tmp_path)
    assert rows["listing, nothing cached"]["met"] is True
    assert rows["listing, nothing cached"]["at_issue_speed"] is None
    assert rows["checkout, 16 buyers"]["met"] is True and rows["checkout, 16 buyers"]["at_issue_speed"] is None
    text = (tmp_path / "goals.md").read_text()
    assert "| listing, nothing cached: ≥ 100 req/s, p99 < 150 ms | 150.0 req/s, p99 120.0 ms | yes | — |" in text
    assert "2 of 2 goals met as measured; 0 of 2 at the issue's machine speed" in text
    assert "(2 without a ceiling beside them, not met there)" in text


def test_checkout_scales_each_run_by_its_own_ceiling_and_pools_the_scaled_place_requests():
    runs, ceilings, checks = three_runs()  # ceilings 2,600, 1,700 and 2,300 req/s
    steady = checkout.combine(runs, ceilings, checks)
    each = [r["at_issue_speed"]["orders_per_second"] for r in steady["runs"]]
    assert each == [67.9, 78.4, 70.3]  # 78.5 x 2,250 / 2,600; 59.2 x 2,250 / 1,700; ...
    assert steady["at_issue_speed"]["orders_per_second"] == 70.3
    assert steady["at_issue_speed"]["orders_per_second_spread"]["min"] == 67.9
    # The slow minute's 400 ms tail at 1,700 req/s is 302.2 ms at 2,250; pooled, it is the p95.
    assert steady["runs"][1]["at_issue_speed"]["place_p95_ms"] == 302.2
    assert steady["at_issue_speed"]["place_p95_ms"] == 302.2
    # A run without a ceiling: no scaled figure for the whole, rather than two runs standing for three.
    assert checkout.combine(runs, [ceilings[0], None, ceilings[2]], checks)["at_issue_speed"] is None


def test_checkout_report_reads_the_ceiling_timed_just_before_the_burst(tmp_path):
    runs, ceilings, _checks = three_runs()
    folder = tmp_path / "runs"
    folder.mkdir()
    for n, (r, c) in enumerate(zip(runs, ceilings, strict=True), 1):
        (folder / f"drive-{n}.json").write_text(json.dumps(r))
        (folder / f"ceiling-{n}.json").write_text(json.dumps(c))
    (folder / "ceiling-burst.json").write_text(json.dumps(wrk_result(1800)))
    burst = {"buyers": 200, "pressed": 200, "p50_ms": 1500, "p95_ms": 2500, "max_ms": 2600, "errors": 0,
             "outcomes": {"paid": 200}}  # fmt: skip
    (tmp_path / "burst.json").write_text(json.dumps(burst))
    checkout.report(str(folder), str(tmp_path / "burst.json"), str(tmp_path / "checkout.json"))
    written = json.loads((tmp_path / "checkout.json").read_text())
    assert written["burst"]["ceiling"]["rps"] == 1800
    assert written["burst"]["at_issue_speed"] == {"ceiling_rps": 2250, "p95_ms": 2000.0}
    assert written["steady"]["orders_per_second"] == 71.9  # the documented keys stay


def test_every_nothing_cached_goal_row_is_measured_beside_a_ceiling(tmp_path, monkeypatch):
    # bench/run.py measure with wrk and the server faked: each goal row with nothing cached runs as
    # (ceiling 4 s, page 8 s) pairs; the home page (no goal) still runs once.
    calls = []

    def fake_wrk(url, *, seconds, **_options):
        calls.append((url.split("127.0.0.1:1")[1], seconds))
        return wrk_result(2000 if "ceiling" in url else 150)

    monkeypatch.setattr(run, "wrk", fake_wrk)
    monkeypatch.setattr(run, "fetch", lambda base, path: (200, 15000, {}))
    urls = [{"name": "home", "path": "/"}] + [
        {"name": n, "path": f"/{i}/"} for i, n in enumerate(run.GOAL_UNCACHED_PAGES)
    ]
    (tmp_path / "urls.json").write_text(json.dumps({"products": 100000, "urls": urls}))
    args = argparse.Namespace(base="http://127.0.0.1:1", urls=str(tmp_path / "urls.json"), mode="uncached",
                              results=str(tmp_path / "results.json"), pages=None, seconds=15, warmup=3,
                              connections=16, threads=2, timeout=10, ours=None, quiet_wait=0, retries=1,
                              only_noisy=False, pairs=5, pair_seconds=5, uncached_pairs=3,
                              uncached_ceiling_seconds=4, uncached_page_seconds=8)  # fmt: skip
    assert run.measure(args) == 0
    rows = {r["name"]: r for r in json.loads((tmp_path / "results.json").read_text())["results"]}
    for i, name in enumerate(run.GOAL_UNCACHED_PAGES):
        row = rows[name]
        assert row["pairs"]["n"] == 3 and len(row["trials"]) == 3, name
        assert all(t["ceiling"]["rps"] == 2000 and t["page"]["rps"] == 150 for t in row["trials"])
        assert row["pair_seconds"] == 8 and row["pair_ceiling_seconds"] == 4
        assert row["pairs"]["at_issue_speed"]["rps"]["median"] == 168.8  # 150 x 2,250 / 2,000
        assert calls.count((f"/{i}/", 8)) == 3
    assert "pairs" not in rows["home"] and calls.count(("/", 15)) == 1
    assert calls.count(("/bench/ceiling/?kb=15", 4)) == 3 * len(run.GOAL_UNCACHED_PAGES)
    # bin/bench hands the settings on (make bench: 3 pairs of 4 s and 8 s at BENCH_SECONDS=15).
    script = (BENCH.parent / "bin" / "bench").read_text()
    assert '--uncached-pairs "$UNCACHED_PAIRS"' in script and "BENCH_UNCACHED_PAIRS:-3" in script


def test_login_times_a_ceiling_before_its_judged_phases_only_when_make_bench_asks(monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_login_verdict", BENCH / "login.py")
    login = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(login)
    timed = []
    monkeypatch.setattr(run, "wrk", lambda url, *, seconds, **_o: timed.append((url, seconds)) or wrk_result(1900))
    monkeypatch.delenv("BENCH_LOGIN_CEILING_SECONDS", raising=False)
    assert login.ceiling_now("http://127.0.0.1:1") is None and timed == []  # bin/bench-login alone
    monkeypatch.setenv("BENCH_LOGIN_CEILING_SECONDS", "4")
    monkeypatch.setenv("BENCH_LOGIN_CEILING_KB", "15")
    assert login.ceiling_now("http://127.0.0.1:1") == {"rps": 1900, "p50_ms": 5.0, "p99_ms": 20.0, "seconds": 8.0}
    assert timed == [("http://127.0.0.1:1/bench/ceiling/?kb=15", 4)]
    # Not routed (404s) or failing: no reference rather than a wrong one.
    monkeypatch.setattr(run, "wrk", lambda url, **_o: wrk_result(1900) | {"non_2xx": 7600})
    assert login.ceiling_now("http://127.0.0.1:1") is None
    script = (BENCH.parent / "bin" / "bench-goals").read_text()
    assert "BENCH_VIEWS_ENABLED=1 BENCH_LOGIN_CEILING_SECONDS=" in script


def test_a_scaled_verdict_on_disturbed_trials_is_shown_but_not_judged(tmp_path):
    # Another benchmark ran beside (other CPU 0.9 cores): the ceiling beside each trial fell to 900
    # req/s with it, and scaling to 2,250 turns 100 req/s into 250. Shown, said what it is, and not
    # counted as met at the issue's speed: the ceiling measured the other load, not the machine.
    trials = [uncached_pair(n, 900, 100, 200) | {"other_cpu_cores": 0.9} for n in (1, 2)]
    for t in trials:
        t["ceiling"]["other_cpu_cores"] = t["page"]["other_cpu_cores"] = 0.9
    pages = {"meta": {"products": 100000}, "results": [uncached_row("search (common)", trials)]}
    (tmp_path / "pages.json").write_text(json.dumps(pages))
    rows = goal_rows(tmp_path)
    search = rows["search (common), nothing cached"]
    assert search["met"] is False and search["disturbed"] is True
    assert search["at_issue_speed"]["met"] is True and search["at_issue_speed"]["judged"] is False
    text = (tmp_path / "goals.md").read_text()
    assert (
        "| **not judged**: 250.0 req/s, p99 80.0 ms (medians of the pairs) (**disturbed**: its ceiling measured" in text
    )
    assert "0 of 1 goals met as measured; 0 of 1 at the issue's machine speed" in text
    assert "(1 scaled on disturbed trials, not judged there: not met)" in text
    assert json.loads((tmp_path / "goals.json").read_text())["summary"]["scaled_disturbed"] == 1


def test_a_disturbed_checkout_is_not_met_at_the_issues_speed_however_it_scales(tmp_path):
    # R1's checkout run beside another engineer's test suite: ceilings 266-768 req/s, 12-21 orders/s,
    # scaled to 49-102 orders/s (median 75.5) where quiet runs of the same code scale to 52-87.
    rates, ceilings = [15.1, 18.3, 19.8], [466, 524, 572]
    runs = [drive_result(r, [450.0] * 100, start=100 + 20 * n) for n, r in enumerate(rates)]
    steady = checkout.combine(runs, [wrk_result(c) for c in ceilings], [{"ok": True}] * 3)
    assert steady["at_issue_speed"]["orders_per_second"] == 77.9  # 19.8 x 2,250 / 572: "met"
    (tmp_path / "checkout.json").write_text(json.dumps({"steady": steady, "burst": None, "consistent": True}))
    timeline = [[t, 0.9] for t in range(95, 175)]
    (tmp_path / "checkout_cpu.json").write_text(
        json.dumps({"started_at": 90, "ended_at": 175, "other_cpu_cores": 0.9, "timeline": timeline})
    )
    rows = goal_rows(tmp_path)
    row = rows["checkout, 16 buyers"]
    assert row["disturbed"] is True and row["trials"] == {"disturbed": 3, "counted": 3}
    assert row["at_issue_speed"]["judged"] is False
    text = (tmp_path / "goals.md").read_text()
    assert "**not judged**: 77.9 orders/s (runs 72.9–78.6), p95 " in text
    assert "0 of 1 goals met as measured; 0 of 1 at the issue's machine speed" in text


def test_the_explanation_spells_the_issues_ceiling_from_its_constants(tmp_path, monkeypatch):
    # One place for the issue's figure (bench/run.py): the text interpolates it everywhere.
    assert run.ISSUE_BARE_VIEW_RPS == (2250, 2620)
    monkeypatch.setattr(goals, "ISSUE_CEILING_RPS", 2000)
    monkeypatch.setattr(goals, "ISSUE_BARE_VIEW_RPS", (2000, 2400))
    pages = {"meta": {"products": 100000}, "results": []}
    (tmp_path / "pages.json").write_text(json.dumps(pages))
    goal_rows(tmp_path)
    text = (tmp_path / "goals.md").read_text()
    assert "the slow end of the 2,000–2,400 req/s the bare view did then" in text
    assert "a rate × 2,000 / the ceiling beside its trial, a latency × that ceiling / 2,000" in text
    assert "On a minute faster than 2,000 req/s" in text
    assert "2,250" not in text and "2,620" not in text


def test_the_issues_speed_is_expressed_in_todays_heavier_ceiling_view(monkeypatch):
    # R1: today's ceiling view costs ~4 % more CPU a request than the one the issue timed (in-process,
    # 90b870b against HEAD alternated: 304-325 -> 337-372 us, of ~750 us a ceiling request), so it
    # reads ~4 % lower on the same machine; scaled to 2,250 of today's, every trial was flattered by
    # as much. The issue's 2,250 is 2,160 of today's.
    assert CALIBRATED == {"ISSUE_CEILING_RPS": 2160, "CEILING_COST_SINCE_ISSUE": 1.04}
    for module in (run, goals, checkout):
        monkeypatch.setattr(module, "ISSUE_CEILING_RPS", CALIBRATED["ISSUE_CEILING_RPS"])
    # make bench run 3 at 6650fdf (2026-11-30 20:35): 68.0, 52.6 and 54.5 orders/s beside ceilings
    # of 2,381, 2,295 and 1,783 req/s: 64.3 orders/s at 2,250 as it was judged, 61.7 at 2,160.
    runs = [drive_result(r, [150.0] * 100, start=100 + 20 * n) for n, r in enumerate([68.0, 52.6, 54.5])]
    steady = checkout.combine(runs, [wrk_result(c) for c in (2381, 2295, 1783)], [{"ok": True}] * 3)
    assert [r["at_issue_speed"]["orders_per_second"] for r in steady["runs"]] == [61.7, 49.5, 66.0]
    assert steady["at_issue_speed"] == steady["at_issue_speed"] | {"ceiling_rps": 2160, "orders_per_second": 61.7}
    assert run.scale_latency(150.0, 2592) == 180.0  # a latency: x ceiling / 2,160


def test_a_run_judged_at_2250_is_restated_at_todays_reference(tmp_path, monkeypatch):
    # goals.py on last session's JSON (scaled at 2,250 when measured): the stored figures are restated
    # at today's reference, not shown under its name. 90 req/s p99 180 ms beside 1,400 was 144.6 req/s
    # p99 112 ms at 2,250: 138.8 req/s (from the stored 144.6), p99 116.7 ms at 2,160; 45 orders/s, 72.3 -> 69.4.
    path = minute(tmp_path, 1400, rps=90, p99=180, orders=45, place_ms=[300.0] * 100, burst_p95=3500,
                  login_p50=200, flood_p99=200)  # fmt: skip
    for module in (run, goals, checkout):
        monkeypatch.setattr(module, "ISSUE_CEILING_RPS", CALIBRATED["ISSUE_CEILING_RPS"])
    rows = goal_rows(path)
    search = rows["search (mid-sized), nothing cached"]
    assert search["at_issue_speed"]["rps"] == 138.8 and search["at_issue_speed"]["p99_ms"] == 116.7
    steady = rows["checkout, 16 buyers"]["at_issue_speed"]
    assert steady["orders_per_second"] == 69.4 and steady["place_p95_ms"] == 194.5
    assert steady["figure"] == "69.4 orders/s (runs 69.4–69.4), p95 194 ms"


def test_checkout_alone_says_when_the_ceilings_beside_its_runs_were_no_speed():
    # bin/bench-checkout alone beside a test suite (R1): ceilings 282-980 req/s, runs scaled to
    # 38-116 orders/s. Nothing watches other load there: the spread of the ceilings says it.
    runs, _ceilings, checks = three_runs()
    steady = checkout.combine(runs, [wrk_result(c) for c in (367, 980, 282)], checks)
    text = checkout.markdown(steady, None, None, True)
    assert "- **the ceilings beside the runs spread 282–980 req/s**: other load or a changing speed" in text
    steady = checkout.combine(runs, [wrk_result(c) for c in (1930, 2028, 2054)], checks)
    assert "the ceilings beside the runs spread" not in checkout.markdown(steady, None, None, True)
