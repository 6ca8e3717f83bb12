"""Load the shop's pages with wrk and report req/s and latency against a bare-Django ceiling.

Driven by bin/bench, which starts the services and gunicorn; this file only measures:

    bench/run.py measure --base URL --urls urls.json --mode off|warm|uncached --results results.json \
        [--ours "PID PID..."]
    bench/run.py report --results results.json --md var/bench/latest.md --json var/bench/latest.json
    bench/run.py wrk --url URL --seconds S     (one run, its JSON on stdout: bin/bench-checkout's ceiling)

`measure` adds one row per page to the results file; the first mode measured also sizes the
ceiling: a view returning as many bytes as the root category page, touching neither the
database nor the cache. `report` prints the tables and checks the issue's goals.

Rows whose goal is a share of the ceiling (the product page, page cache off and warm: RATIO_GOALS)
are measured in interleaved pairs in the same gunicorn: ceiling, page, ceiling, page, ... (--pairs,
--pair-seconds), so each page trial is divided by a ceiling measured the minute it ran. The machine's
speed swings +-30 % minute to minute; one page run divided by a ceiling run of another minute made
the verdict a coin toss near the line. Such a row reports the median of the per-pair ratios with
its range (min-max) and every pair (trials, in the JSON and the wrk log); the goal is met when the
median meets it. No trial is dropped or repeated.

The rows with an absolute goal and nothing cached (GOAL_UNCACHED_PAGES) run the same way
(--uncached-pairs of --uncached-ceiling-seconds and --uncached-page-seconds): their req/s and p99
are the medians of the page runs (the verdict as measured), and each trial scaled by the ceiling
run just before it to the issue's machine speed (ISSUE_CEILING_RPS) gives the verdict at that
speed (pairs.at_issue_speed). Other rows are one run each.

The machine may be shared: with --ours (gunicorn, postmaster, redis), each run also records
how much CPU other processes took meanwhile ("other CPU", in cores), and waits a little for
a quiet machine before each page.
"""

import argparse
import http.client
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

try:
    import psutil
except ImportError:  # only the "other CPU" column needs it
    psutil = None

HERE = Path(__file__).resolve().parent
LUA = HERE / "report.lua"
MODES = {
    "off": "page cache off (every request rendered)",
    "warm": "page cache on, warm",
    "uncached": "page cache and facet cache off (nothing cached between requests)",
}
# Issue 12's goals at 100,000 products (bench/goals.py prints them beside checkout and login).
# With nothing cached, every listing and search page serves 100 req/s with p99 under 150 ms.
GOAL_UNCACHED_RPS = 100
GOAL_UNCACHED_P99_MS = 150
GOAL_UNCACHED_PAGES = (
    "listing",
    "category (root)",
    "category (leaf)",
    "search (common)",
    "search (rare)",
    "search (mid-sized)",
    "listing (filtered)",
)
# The product page: ten times django-oscar's 57 req/s side by side, about a quarter of the
# bare view's 2,250-2,620 req/s measured in the same runs, so a share of the ceiling (it moves
# with the machine) with the page cache off; and 70 % of the ceiling warm.
GOAL_PRODUCT_OFF_RATIO = 0.23
GOAL_WARM_RATIO = 0.7
PAGE_ORDER = {
    name: i
    for i, name in enumerate(
        [
            "ceiling",
            "home",
            "listing",
            "category (root)",
            "category (leaf)",
            "search (common)",
            "search (rare)",
            "search (mid-sized)",
            "listing (filtered)",
            "product",
        ]
    )
}
NOISY_CORES = 0.15  # other processes busier than this during a run: the row is marked
# Rows whose goal is a share of the ceiling: measured in interleaved pairs (ceiling, page) and
# judged by the median of the per-pair ratios.
RATIO_GOALS = {("off", "product"): GOAL_PRODUCT_OFF_RATIO, ("warm", "product"): GOAL_WARM_RATIO}
# The machine's speed the absolute goals were set at. Issue 12's text: the goals were set when the
# bare Django view (the ceiling) did 2,250-2,620 req/s on this machine; its slow end (in today's
# ceiling, below), so on a faster minute the figure scaled to it is stricter than the one measured.
# make bench judges every absolute goal twice: as measured, and "at the issue's machine speed",
# the figure scaled by the ceiling measured beside its own trial (scale_throughput, scale_latency).
ISSUE_BARE_VIEW_RPS = (2250, 2620)  # the issue's text: "a bare Django view did 2,250-2,620"
# Today's ceiling view is not quite the one the issue timed: its request walks more URL patterns and
# three more middlewares (login slots, replica routing, hashing busy). Measured in-process, the
# code the issue was filed against (90b870b) and HEAD alternated 24 times, the view's CPU a request
# (min) went from 304-325 to 337-372 us: +33 us of about 750 us a ceiling request costs on two
# cores (workers, wrk, the kernel), ~4 %. So on the same machine today's ceiling reads ~4 % lower,
# and a trial scaled by it to 2,250 would be flattered by as much: the issue's speed is expressed
# in today's ceiling (R1, 2026-11-30, /work/notes/b26/r1/). Measure again if the view's path changes.
CEILING_COST_SINCE_ISSUE = 1.04
ISSUE_CEILING_RPS = int(round(ISSUE_BARE_VIEW_RPS[0] / CEILING_COST_SINCE_ISSUE, -1))  # 2,160


def scale_throughput(value: float | None, ceiling_rps: float | None) -> float | None:
    """A rate (req/s, orders/s) measured beside a ceiling of ceiling_rps, at the issue's speed."""
    return None if value is None or not ceiling_rps else value * ISSUE_CEILING_RPS / ceiling_rps


def scale_latency(ms: float | None, ceiling_rps: float | None) -> float | None:
    """A latency measured beside a ceiling of ceiling_rps, at the issue's speed."""
    return None if ms is None or not ceiling_rps else ms * ceiling_rps / ISSUE_CEILING_RPS


def paired(mode: str, name: str) -> bool:
    """Whether a row is measured in interleaved (ceiling, page) pairs: a share-of-the-ceiling goal,
    or an absolute goal with nothing cached (its ceiling beside each trial scales it)."""
    return (mode, name) in RATIO_GOALS or (mode == "uncached" and name in GOAL_UNCACHED_PAGES)


def spread(values: list[float | None]) -> dict | None:
    """The median of some trials with their range: {"median", "min", "max", "n"} (None: no trial).
    An even count's median is the mean of the middle two, as statistics.median."""
    picked = sorted(v for v in values if v is not None)
    if not picked:
        return None
    middle = len(picked) // 2
    median = picked[middle] if len(picked) % 2 else (picked[middle - 1] + picked[middle]) / 2
    return {"median": median, "min": picked[0], "max": picked[-1], "n": len(picked)}


def fmt_spread(s: dict | None, fmt: str = "{:,.1f}", unit: str = "") -> str:
    """ "71.9 (59.2–78.5)": the median, then the range when there was more than one trial."""
    if not s:
        return "—"
    text = fmt.format(s["median"])
    return (text if s["n"] == 1 else f"{text} ({fmt.format(s['min'])}–{fmt.format(s['max'])})") + unit


def summarize_pairs(trials: list[dict]) -> dict:
    """A row's figures from its interleaved (ceiling, page) trials, every trial counted.

    rps / p50 / p99: the medians of the page's trials; ratio: the median of the per-pair ratios
    page rps / ceiling rps, with min and max; other CPU: the worst trial's (a pair is disturbed
    when either of its runs was), so BENCH_MERGE and --only-noisy treat the row as its worst
    trial; errors and requests: summed. pairs.at_issue_speed: each trial's rps and p99 scaled by
    the ceiling run just before it (scale_throughput, scale_latency), their medians and ranges."""
    pages = [t["page"] for t in trials]
    ratios = [t["page"]["rps"] / t["ceiling"]["rps"] if t["ceiling"].get("rps") else None for t in trials]
    others = [t.get("other_cpu_cores") for t in trials]
    beside = [t["ceiling"].get("rps") for t in trials]
    ratio = spread(ratios)
    return {
        "requests": sum(p.get("requests", 0) for p in pages),
        "seconds": round(sum(p.get("seconds", 0) for p in pages), 2),
        "rps": round(spread([p["rps"] for p in pages])["median"], 1),
        "p50_ms": round(spread([p["p50_ms"] for p in pages])["median"], 2),
        "p99_ms": round(spread([p["p99_ms"] for p in pages])["median"], 2),
        "socket_errors": sum(p.get("socket_errors", 0) for p in pages),
        "non_2xx": sum(p.get("non_2xx", 0) for p in pages),
        "timeouts": sum(p.get("timeouts", 0) for p in pages),
        "bytes_per_request": pages[0].get("bytes_per_request") if pages else 0,
        "other_cpu_cores": None if any(o is None for o in others) else max(others, default=None),
        "pairs": {
            "n": len(trials),
            "ratio": ratio and {k: round(v, 4) if k != "n" else v for k, v in ratio.items()},
            "rps": spread([p["rps"] for p in pages]),
            "ceiling_rps": spread([t["ceiling"].get("rps") for t in trials]),
            "disturbed": sum(1 for o in others if o is not None and o >= NOISY_CORES),
            "p99_ms": spread([p["p99_ms"] for p in pages]),
            "at_issue_speed": {
                "ceiling_rps": ISSUE_CEILING_RPS,
                "rps": rounded(spread([scale_throughput(p["rps"], c) for p, c in zip(pages, beside, strict=True)])),
                "p99_ms": rounded(spread([scale_latency(p["p99_ms"], c) for p, c in zip(pages, beside, strict=True)])),
            },
        },
    }


def rounded(s: dict | None, digits: int = 1) -> dict | None:
    return s and {k: round(v, digits) if k != "n" else v for k, v in s.items()}


def uncached_met(row: dict) -> bool:
    """An absolute page goal as measured: the rate (a paired row: the median of its page runs) and
    the p99 (the median of its page runs' p99s), with no error."""
    errors = (row.get("socket_errors") or 0) + (row.get("non_2xx") or 0)
    return row["rps"] >= GOAL_UNCACHED_RPS and row["p99_ms"] < GOAL_UNCACHED_P99_MS and not errors


def uncached_at_issue_speed(row: dict) -> dict | None:
    """The same goal at the issue's machine speed: {"rps", "p99_ms", "met"}, the medians of a paired
    row's trials, each scaled by the ceiling run just before it. None for a row run once
    (BENCH_UNCACHED_PAIRS=0, older results): its ceiling was measured minutes before, and over the
    runs of 2026-11-30 scaling by such a ceiling made five of seven rows less steady, not more."""
    scaled = (row.get("pairs") or {}).get("at_issue_speed") or {}
    if not scaled.get("rps") or not scaled.get("p99_ms"):
        return None
    # Stored at the reference of its day (2,250 before R1): restated at today's, exactly (linear).
    factor = ISSUE_CEILING_RPS / (scaled.get("ceiling_rps") or ISSUE_CEILING_RPS)
    rps, p99 = scaled["rps"]["median"] * factor, scaled["p99_ms"]["median"] / factor
    errors = (row.get("socket_errors") or 0) + (row.get("non_2xx") or 0)
    met = rps >= GOAL_UNCACHED_RPS and p99 < GOAL_UNCACHED_P99_MS and not errors
    return {"rps": round(rps, 1), "p99_ms": round(p99, 1), "met": met}


def row_ratio(row: dict, ceiling_rps: float | None) -> float | None:
    """A row's share of the ceiling: the median of its pairs' ratios when measured in pairs,
    else its req/s over the run's reference ceiling."""
    pairs = row.get("pairs")
    if pairs and pairs.get("ratio"):
        return pairs["ratio"]["median"]
    return row["rps"] / ceiling_rps if ceiling_rps and "rps" in row else None


def ratio_met(row: dict, share: float, ceiling_rps: float | None) -> bool | None:
    """A ratio goal's verdict: the median (or the one run) meets the share, with no error."""
    ratio = row_ratio(row, ceiling_rps)
    if ratio is None:
        return None
    return ratio >= share and not (row.get("socket_errors") or 0) + (row.get("non_2xx") or 0)


def log(message: str) -> None:
    print(f"\033[1;34m==>\033[0m {message}", file=sys.stderr, flush=True)


def fetch(base: str, path: str) -> tuple[int, int, dict[str, str]]:
    """GET base+path without cookies; returns (status, body bytes, headers)."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.request("GET", path, headers={"Accept-Encoding": "identity"})
        response = conn.getresponse()
        body = response.read()
        return response.status, len(body), {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


# -- other processes' CPU ----------------------------------------------------------------------


class CpuWatch:
    """CPU seconds used by processes other than the benchmark's own, between start() and stop().

    Ours: the process trees of the given PIDs (gunicorn, postmaster, redis), this process and
    its children (wrk), with the CPU of descendants that exited meanwhile (PostgreSQL's parallel
    workers). Everything else the kernel counts as busy is someone else's.

    marks: also ours, with their trees, the processes whose command line or working directory
    contains one of these strings (a benchmark's temporary directory, e.g. /tmp/shop-checkout.):
    what a script under watch starts as a daemon (PostgreSQL, Redis) is no longer its child."""

    def __init__(self, roots: list[int], marks: list[str] | None = None) -> None:
        self.roots = roots
        self.marks = [m for m in marks or [] if m]
        self.enabled = psutil is not None and bool(roots or self.marks)

    def _marked(self) -> list[int]:
        found = []
        for p in psutil.process_iter(["pid", "cmdline", "cwd"]):
            text = " ".join(p.info.get("cmdline") or []) + " " + (p.info.get("cwd") or "")
            if any(mark in text for mark in self.marks):
                found.append(p.info["pid"])
        return found

    def _ours(self) -> dict[tuple[int, float], float]:
        seen = {}
        procs = []
        for pid in [*self.roots, *(self._marked() if self.marks else []), os.getpid()]:
            try:
                root = psutil.Process(pid)
                procs += [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
        for p in procs:
            try:
                t = p.cpu_times()
                # children_*: descendants that already exited (PostgreSQL's parallel workers, wrk).
                seen[(p.pid, p.create_time())] = t.user + t.system + t.children_user + t.children_system
            except psutil.Error:
                continue
        return seen

    @staticmethod
    def _busy() -> float:
        t = psutil.cpu_times()
        return sum(t) - t.idle - getattr(t, "iowait", 0.0)

    def start(self) -> None:
        if self.enabled:
            self.t0, self.busy0, self.ours0 = time.time(), self._busy(), self._ours()

    def stop(self) -> float | None:
        """Other processes' load in cores (CPU seconds per second) since start()."""
        if not self.enabled:
            return None
        busy, ours = self._busy(), self._ours()
        used = sum(cpu - self.ours0.get(key, 0.0) for key, cpu in ours.items())
        elapsed = max(time.time() - self.t0, 1e-6)
        return max(0.0, (busy - self.busy0 - used) / elapsed)

    def wait_quiet(self, *, limit: float, max_wait: float) -> tuple[float, bool]:
        """Wait (at most max_wait seconds) until others use less than `limit` cores over 1 s.
        Returns (seconds waited, whether the machine is quiet)."""
        if not self.enabled or max_wait <= 0:
            return 0.0, True
        started = time.time()
        quiet = False
        while not quiet and time.time() - started < max_wait:
            self.start()
            time.sleep(1)
            quiet = self.stop() < limit
        return max(0.0, time.time() - started - 1), quiet


# -- wrk -----------------------------------------------------------------------------------------


def wrk(url: str, *, seconds: int, connections: int, threads: int, timeout: int) -> dict:
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        f"--timeout={timeout}s",
        "--latency",
        "-s",
        str(LUA),
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    match = re.search(r"^WRK_JSON (\{.*\})$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout[-500:]} {done.stderr[-500:]}")
    raw = json.loads(match.group(1))
    duration = raw["duration_us"] / 1e6
    errors = raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["timeouts"]
    return {
        "requests": raw["requests"],
        "seconds": round(duration, 2),
        "rps": round(raw["requests"] / duration, 1) if duration else 0.0,
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p75_ms": round(raw["p75_us"] / 1000, 2),
        "p90_ms": round(raw["p90_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "mean_ms": round(raw["mean_us"] / 1000, 2),
        "max_ms": round(raw["max_us"] / 1000, 2),
        "socket_errors": errors,
        "timeouts": raw["timeouts"],
        "non_2xx": raw["status_errors"],
        "bytes_per_request": round(raw["bytes"] / raw["requests"]) if raw["requests"] else 0,
        "wrk_text": done.stdout.split("WRK_JSON")[0].rstrip(),
    }


def git(*argv: str) -> str:
    done = subprocess.run(["git", *argv], capture_output=True, text=True, cwd=HERE.parent, check=False)
    return done.stdout.strip()


def load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {"meta": {}, "results": []}


def save(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n")


def warm_page_cache(base: str, row: dict, path: str) -> None:
    """Fill the page cache for `path` (the first GET stores the page, the next ones must hit) and
    note in `row` whether it serves from the cache, with a warning when it does not."""
    for _ in range(3):
        _status, _size, headers = fetch(base, path)
    row["page_cache"] = headers.get("x-page-cache", "none")
    if row["page_cache"] != "hit":
        log(f"warning: {path} is not served from the page cache ({row['page_cache']})")


def measure_pairs(
    args: argparse.Namespace,
    watch: CpuWatch,
    row: dict,
    url: str,
    ceiling: str,
    options: dict,
    *,
    pairs: int,
    seconds: tuple[int, int],
) -> None:
    """ceiling, page, ceiling, page, ...: `pairs` pairs of seconds (ceiling's, page's) each, after one
    warm-up of each. Every pair is kept, disturbed or not (its other CPU says so): the verdict is
    the median, and a trial re-run until it looks right would make it a choice."""
    waited, _quiet = watch.wait_quiet(limit=NOISY_CORES, max_wait=args.quiet_wait)
    if waited >= 1:
        row["waited_for_quiet_s"] = round(waited)
    if args.mode == "warm":
        warm_page_cache(args.base, row, row["path"])
    if args.warmup:
        wrk(ceiling, seconds=args.warmup, **options)
        wrk(url, seconds=args.warmup, **options)
    trials = []
    for n in range(pairs):
        if n:  # a short wait for quiet between pairs: the whole wait is spent before the first
            watch.wait_quiet(limit=NOISY_CORES, max_wait=min(args.quiet_wait, 5))
        trial = {"pair": n + 1}
        others = []
        for (part, target), length in zip((("ceiling", ceiling), ("page", url)), seconds, strict=True):
            watch.start()
            result = wrk(target, seconds=length, **options)
            other = watch.stop()
            result["other_cpu_cores"] = None if other is None else round(other, 2)
            others.append(result["other_cpu_cores"])
            trial[part] = result
        trial["ratio"] = round(trial["page"]["rps"] / trial["ceiling"]["rps"], 4) if trial["ceiling"]["rps"] else None
        trial["other_cpu_cores"] = None if None in others else max(others)
        trials.append(trial)
    row.update(summarize_pairs(trials), trials=trials, pair_seconds=seconds[1])
    if seconds[0] != seconds[1]:
        row["pair_ceiling_seconds"] = seconds[0]


def measure(args: argparse.Namespace) -> int:
    results_path = Path(args.results)
    data = load(results_path)
    picked = json.loads(Path(args.urls).read_text())
    if data["meta"].get("products") not in (None, picked["products"]):
        data = {"meta": {}, "results": []}  # merged results of another catalogue size: start afresh
    # A page may be measured in some modes only ("modes"): the mid-sized search is a goal row
    # with nothing cached, and make bench stays short.
    pages = [p for p in picked["urls"] if args.mode in p.get("modes", [args.mode])]
    if args.pages:
        wanted = [w.strip() for w in args.pages.split(",") if w.strip()]
        pages = [p for p in pages if any(p["name"].startswith(w) for w in wanted)]
    if args.only_noisy:
        # Re-measure only what is missing, failed or was disturbed in the results being merged.
        before = {r["name"]: r for r in data["results"] if r["mode"] == args.mode}
        pages = [p for p in pages if (before.get(p["name"]) or {}).get("other_cpu_cores", 9) >= NOISY_CORES]
    meta = data["meta"]
    if not meta:
        changed = git("status", "--porcelain", "--untracked-files=no").splitlines()
        meta.update(
            date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            commit=os.environ.get("BENCH_CODE")
            or (git("rev-parse", "--short", "HEAD") or "?") + (f"+{len(changed)} changed files" if changed else ""),
            uncommitted=[line[3:] for line in changed],
        )
    meta.update(
        products=picked["products"],
        threads=args.threads,
        connections=args.connections,
        seconds=args.seconds,
        warmup_seconds=args.warmup,
        wrk_timeout_seconds=args.timeout,
        workers=int(os.environ.get("BENCH_WORKERS", "2")),
        cpus=os.cpu_count(),
        python=platform.python_version(),
    )
    watch = CpuWatch([int(p) for p in args.ours.split()] if args.ours else [])
    failures = 0

    if "ceiling_kb" not in meta:
        # The ceiling returns as many bytes as the big category page (measured once).
        category = next(p for p in picked["urls"] if p["name"] == "category (root)")
        status, size, _headers = fetch(args.base, category["path"])
        meta["ceiling_kb"] = max(1, round(size / 1024)) if status == 200 else 20
        meta["category_page_bytes"] = size
        log(f"category page {category['path']}: {size:,} bytes -> ceiling ?kb={meta['ceiling_kb']}")
    pages.insert(
        0,
        {
            "name": "ceiling",
            "path": f"/bench/ceiling/?kb={meta['ceiling_kb']}",
            "note": "bare Django view, same bytes, no query",
        },
    )

    for page in pages:
        row = {"mode": args.mode, **{k: v for k, v in page.items() if k != "modes"}}
        try:
            status, size, _headers = fetch(args.base, page["path"])
            row.update(status=status, page_bytes=size)
            if status != 200:
                raise RuntimeError(f"HTTP {status}")
            url = args.base + page["path"]
            options = {"connections": args.connections, "threads": args.threads, "timeout": args.timeout}
            ratio_goal = (args.mode, page["name"]) in RATIO_GOALS
            how = (
                (args.pairs, (args.pair_seconds, args.pair_seconds))
                if ratio_goal
                else (args.uncached_pairs, (args.uncached_ceiling_seconds, args.uncached_page_seconds))
            )
            if paired(args.mode, page["name"]) and how[0] > 0:
                ceiling_url = args.base + pages[0]["path"]
                measure_pairs(args, watch, row, url, ceiling_url, options, pairs=how[0], seconds=how[1])
                pairs = row["pairs"]
                log(
                    f"{args.mode:8} {page['name']:16} {row['rps']:>9,.1f} req/s median of {pairs['n']} pairs: "
                    f"{fmt_spread(pairs['ratio'], '{:.1%}')} of the ceiling beside it "
                    f"({fmt_spread(pairs['ceiling_rps'], '{:,.0f}')} req/s); "
                    f"{pairs['disturbed']} pairs disturbed"
                )
            else:
                tried = []
                for attempt in range(1 + args.retries):  # a disturbed run is tried again, the quieter kept
                    waited, quiet = watch.wait_quiet(limit=NOISY_CORES, max_wait=args.quiet_wait)
                    if attempt and not quiet:
                        log(f"{args.mode:8} {page['name']:16} still busy after {waited:.0f} s: keeping the first run")
                        break
                    if args.mode == "warm" and page["name"] != "ceiling":
                        warm_page_cache(args.base, row, page["path"])
                    if args.warmup:
                        wrk(url, seconds=args.warmup, **options)
                    watch.start()
                    result = wrk(url, seconds=args.seconds, **options)
                    other = watch.stop()
                    result.update(other_cpu_cores=None if other is None else round(other, 2), attempts=attempt + 1)
                    if waited >= 1:
                        result["waited_for_quiet_s"] = round(waited)
                    # A disturbed run is run once more and the quieter kept, chosen by the other CPU,
                    # never by the figure; every attempt stays in the row (attempts_measured).
                    tried.append({k: result[k] for k in ("rps", "p50_ms", "p99_ms", "other_cpu_cores")})
                    best = row.get("other_cpu_cores")
                    if "rps" not in row or (other is not None and best is not None and other < best):
                        row.update(result)
                    if other is None or other < NOISY_CORES:
                        break
                    if attempt < args.retries:
                        log(f"{args.mode:8} {page['name']:16} disturbed: other processes used {other:.2f} cores; again")
                if len(tried) > 1:
                    row["attempts_measured"] = tried
                other = row["other_cpu_cores"]
                noisy = f"  other CPU {other:.2f} cores" if other is not None and other >= NOISY_CORES else ""
                log(
                    f"{args.mode:8} {page['name']:16} {row['rps']:>9,.1f} req/s  p50 {row['p50_ms']:>7.1f} ms  "
                    f"p99 {row['p99_ms']:>7.1f} ms  errors {row['socket_errors'] + row['non_2xx']}{noisy}"
                )
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
            failures += 1
            row["error"] = str(exc)[:300]
            log(f"{args.mode:8} {page['name']:16} FAILED: {row['error']}")
        row["at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        row["code"] = os.environ.get("BENCH_CODE", meta.get("commit", "?"))
        same = [r for r in data["results"] if r["mode"] == args.mode and r["name"] == page["name"]]
        earlier_quieter = (
            same
            and "rps" in same[0]
            and "rps" in row
            and (same[0].get("other_cpu_cores") or 0) < (row.get("other_cpu_cores") or 0)
        )
        if earlier_quieter:  # merging into earlier results: keep whichever run was less disturbed
            log(f"{args.mode:8} {page['name']:16} kept the earlier, quieter run")
            continue
        data["results"] = [r for r in data["results"] if r not in same]
        data["results"].append(row)
        save(results_path, data)
    return 1 if failures else 0


# -- report -----------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def reference_ceiling(rows: list[dict]) -> float | None:
    """The ceiling req/s: measured with the page cache off (bare Django), else in any mode."""
    ceilings = {r["mode"]: r["rps"] for r in rows if r["name"] == "ceiling" and "rps" in r}
    for mode in ("off", "uncached", "warm"):
        if mode in ceilings:
            return ceilings[mode]
    return None


def build_report(data: dict) -> tuple[str, dict]:
    meta = data["meta"]
    rows = data["results"]
    ceiling_rps = reference_ceiling(rows)
    for r in rows:
        ratio = row_ratio(r, ceiling_rps) if "rps" in r else None
        r["ratio"] = None if ratio is None else round(ratio, 3)
    products = meta.get("products", 0)
    codes = sorted({r.get("code", meta.get("commit", "?")) for r in rows})
    lines = [
        f"# Benchmark: {products:,} products",
        "",
        f"- {meta.get('date', '')}, code {', '.join(f'`{c}`' for c in codes)}, {meta.get('cpus')} CPUs, "
        f"gunicorn `shop.wsgi` with {meta.get('workers')} sync workers; PostgreSQL, Redis and wrk on the same machine",
        f"- load: `wrk -t{meta.get('threads')} -c{meta.get('connections')} -d{meta.get('seconds')}s "
        f"--timeout {meta.get('wrk_timeout_seconds')}s --latency` per page after a {meta.get('warmup_seconds')} s "
        f"warm-up; no cookies (anonymous visitors); concurrency **{meta.get('connections')}**, so latencies "
        f"include queueing behind {meta.get('workers')} workers",
        f"- ceiling: `/bench/ceiling/?kb={meta.get('ceiling_kb')}`, a bare Django view returning as many bytes as "
        f"the root category page ({meta.get('category_page_bytes', 0):,} bytes), page cache off: "
        f"**{_fmt(ceiling_rps)} req/s**; “ratio” is req/s over this",
        f"- “other CPU”: cores used meanwhile by processes outside the benchmark (≥ {NOISY_CORES} marks a "
        "disturbed row)",
        "- rows whose goal is a share of the ceiling (the product page off and warm) are measured in pairs "
        "interleaved in the same gunicorn (ceiling, page, ceiling, page, …): their req/s, p50 and p99 are the "
        "medians of the page's trials and their ratio the **median of the per-pair ratios** (page over the "
        "ceiling run just before it), range and every pair in the notes; other CPU is the worst pair's",
        "",
    ]
    for mode, title in MODES.items():
        mode_rows = sorted((r for r in rows if r["mode"] == mode), key=lambda r: PAGE_ORDER.get(r["name"], 99))
        if not mode_rows:
            continue
        lines += [
            f"## {title}",
            "",
            "| page | req/s | p50 ms | p99 ms | ratio to ceiling | errors | other CPU | URL | notes |",
            "|---|--:|--:|--:|--:|--:|--:|---|---|",
        ]
        for r in mode_rows:
            if "rps" not in r:
                lines.append(f"| {r['name']} | FAILED | | | | | | `{r['path']}` | {r.get('error', '')} |")
                continue
            errors = r["socket_errors"] + r["non_2xx"]
            ratio = "—" if r["ratio"] is None else f"{r['ratio'] * 100:.1f}%"
            other = r.get("other_cpu_cores")
            other_text = "—" if other is None else (f"**{other:.2f}**" if other >= NOISY_CORES else f"{other:.2f}")
            lines.append(
                f"| {r['name']} | {_fmt(r['rps'])} | {_fmt(r['p50_ms'])} | {_fmt(r['p99_ms'])} | {ratio} | "
                f"{errors} | {other_text} | `{r['path']}` | {'; '.join(filter(None, [r.get('note'), pairs_note(r)]))} |"
            )
        lines.append("")

    goals = check_goals(rows, ceiling_rps)
    if goals:
        at = "" if products >= 100_000 else f" (set for 100,000 products; this run has {products:,})"
        lines += [
            f"## Goals{at}",
            "",
            f"“at the issue's speed”: an absolute goal's figures scaled to a ceiling of {ISSUE_CEILING_RPS:,} req/s "
            "(issue 12's), each trial by the ceiling run beside it; a share of the ceiling is judged as measured.",
            "",
            "| goal | measured | met | at the issue's speed |",
            "|---|--:|:-:|---|",
        ]
        for g in goals:
            lines.append(
                f"| {g['goal']} | {g['measured']} | {'yes' if g['met'] else '**no**'} | {fmt_at_issue_speed(g)} |"
            )
        lines.append("")
    data["goals"] = goals
    return "\n".join(lines), data


def pairs_note(r: dict) -> str:
    """Each pair of an interleaved row: "median of 3 pairs (21.0–25.1%): 21.0% (512 / 2,438), ..."."""
    pairs = r.get("pairs")
    if not pairs:
        return ""
    each = ", ".join(
        f"{t['ratio']:.1%} ({t['page']['rps']:,.0f} / {t['ceiling']['rps']:,.0f} req/s"
        + (f", other CPU **{t['other_cpu_cores']:.2f}**" if (t.get("other_cpu_cores") or 0) >= NOISY_CORES else "")
        + ")"
        for t in r.get("trials", [])
        if t.get("ratio") is not None
    )
    median = fmt_spread(pairs["ratio"], "{:.1%}")
    length = f"{r.get('pair_seconds', '?')} s"
    if r.get("pair_ceiling_seconds"):
        length = f"{r['pair_ceiling_seconds']} s of the ceiling and {length} of the page"
    return f"ratio: median of {pairs['n']} pairs of {length}, {median}: {each}"


def fmt_at_issue_speed(goal: dict) -> str:
    scaled = goal.get("at_issue_speed")
    if "at_issue_speed" not in goal:  # a share of the ceiling: the same verdict
        return "yes (a ratio)" if goal["met"] else "**no** (a ratio)"
    if not scaled:
        return "— (no ceiling beside it)"
    return f"{'yes' if scaled['met'] else '**no**'}: {scaled['rps']:,.1f} req/s, p99 {scaled['p99_ms']:,.1f} ms"


def check_goals(rows: list[dict], ceiling_rps: float | None) -> list[dict]:
    goals = []
    by = {(r["mode"], r["name"]): r for r in rows if "rps" in r}
    for name in GOAL_UNCACHED_PAGES:
        r = by.get(("uncached", name))
        if r:
            scaled = uncached_at_issue_speed(r)
            goals.append(
                {
                    "goal": f"uncached: {name} ≥ {GOAL_UNCACHED_RPS} req/s, p99 < {GOAL_UNCACHED_P99_MS} ms"
                    + (" (medians of the pairs)" if r.get("pairs") else ""),
                    "measured": f"{r['rps']:,.1f} req/s, p99 {r['p99_ms']:,.1f} ms",
                    "met": uncached_met(r),
                    "at_issue_speed": scaled,
                }
            )
    for (mode, name), share in RATIO_GOALS.items():
        r = by.get((mode, name))
        ratio = r and row_ratio(r, ceiling_rps)
        if ratio is not None:
            pairs = r.get("pairs")
            goals.append(
                {
                    "goal": f"{mode}: {name} ≥ {share:.0%} of ceiling"
                    + (" (median of the interleaved pairs)" if pairs else ""),
                    "measured": fmt_spread(pairs["ratio"], "{:.1%}") if pairs else f"{ratio:.1%}",
                    "met": ratio_met(r, share, ceiling_rps),
                }
            )
    return goals


def report(args: argparse.Namespace) -> int:
    data = load(Path(args.results))
    text, data = build_report(data)
    print(text)
    if args.md:
        Path(args.md).write_text(text + "\n")
    if args.wrk_log:
        with open(args.wrk_log, "w") as out:
            for r in data["results"]:
                out.write(f"## {r['mode']} {r['name']} {r['path']}\n{r.get('wrk_text', r.get('error', ''))}\n\n")
                for t in r.get("trials", []):  # every pair of an interleaved row, as wrk printed it
                    out.write(
                        f"# pair {t['pair']} of {len(r['trials'])}: ceiling, then the page; ratio {t['ratio']}\n"
                        f"{t['ceiling'].get('wrk_text', '')}\n{t['page'].get('wrk_text', '')}\n\n"
                    )
    if args.json:
        for r in data["results"]:
            r.pop("wrk_text", None)
            for t in r.get("trials", []):
                t["ceiling"].pop("wrk_text", None)
                t["page"].pop("wrk_text", None)
        save(Path(args.json), data)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--base", required=True)
    m.add_argument("--urls", required=True)
    m.add_argument("--mode", choices=list(MODES), required=True)
    m.add_argument("--results", required=True)
    m.add_argument("--pages", help="comma-separated page-name prefixes (the ceiling is always run)")
    m.add_argument("--seconds", type=int, default=20)
    m.add_argument("--warmup", type=int, default=3)
    m.add_argument("--connections", type=int, default=16)
    m.add_argument("--threads", type=int, default=2)
    m.add_argument("--timeout", type=int, default=10)
    m.add_argument("--ours", help="PIDs whose process trees are the benchmark's own (gunicorn, postgres, redis)")
    m.add_argument("--quiet-wait", type=float, default=30, help="seconds to wait at most for a quiet machine")
    m.add_argument("--retries", type=int, default=1, help="runs again when other processes disturbed it")
    m.add_argument("--only-noisy", action="store_true", help="only pages missing or disturbed in --results")
    m.add_argument("--pairs", type=int, default=5, help="interleaved (ceiling, page) pairs for a ratio goal's row")
    m.add_argument("--pair-seconds", type=int, default=5, help="wrk duration of each run of a pair")
    m.add_argument("--uncached-pairs", type=int, default=3, help="(ceiling, page) pairs for a nothing-cached goal row")
    m.add_argument("--uncached-ceiling-seconds", type=int, default=4, help="its ceiling runs' wrk duration")
    m.add_argument("--uncached-page-seconds", type=int, default=8, help="its page runs' wrk duration")
    r = sub.add_parser("report")
    r.add_argument("--results", required=True)
    r.add_argument("--md")
    r.add_argument("--json")
    r.add_argument("--wrk-log")
    w = sub.add_parser("wrk")
    w.add_argument("--url", required=True)
    w.add_argument("--seconds", type=int, default=5)
    w.add_argument("--connections", type=int, default=16)
    w.add_argument("--threads", type=int, default=2)
    w.add_argument("--timeout", type=int, default=10)
    args = parser.parse_args()
    if args.command == "wrk":
        options = {"connections": args.connections, "threads": args.threads, "timeout": args.timeout}
        print(json.dumps(wrk(args.url, seconds=args.seconds, **options)))
        return 0
    return measure(args) if args.command == "measure" else report(args)


if __name__ == "__main__":
    sys.exit(main())
