"""Why the product page's req/s swings with the page cache off (issue 12, P23).

Against a stack already running (PostgreSQL restored from the seed, Redis: DATABASE_URL,
CACHE_URL, ... in the environment), starts one gunicorn as bin/bench does in mode `off` and
alternates wrk on the bare ceiling view and on the product page, recording per run: req/s,
p50/p99, and the CPU each process used per request served (the two workers apart, gunicorn's
master, every PostgreSQL process together, Redis, wrk), from /proc/<pid>/stat:

    .venv/bin/python bench/product_swing.py --src DIR --pairs 12 --seconds 10 [--product /p/...]

Prints one line per run and writes a JSON file (--out) with every figure.
"""

import argparse
import contextlib
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parent.parent


def cpu_s(pid: int, reaped: bool = False) -> float:
    """utime + stime of `pid` (with `reaped`: also of its children that exited, as PostgreSQL's
    backends do when a connection closes)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICK


def probe_ms() -> float:
    """CPU ms of a fixed piece of pure Python (dicts, strings, calls): how quick the machine is
    this minute, whatever runs beside it (the minimum of 5)."""
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        d = {}
        for i in range(20000):
            d[str(i)] = "".join(("a", str(i), "b")).upper()
        sorted(d.items())
        best = min(best, time.process_time() - start)
    return best * 1000


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def postgres_pids(datadir: str) -> list[int]:
    master = int(Path(datadir, "postmaster.pid").read_text().split()[0])
    return [master, *children(master)]


def redis_pid() -> int:
    port = os.environ["REDIS_PORT"]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if cmd.startswith("redis-server") and f":{port}" in cmd:
                return int(proc.name)
    raise SystemExit("no redis-server")


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wrk(url: str, seconds: int, script: str = "") -> tuple[dict, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            "-c16",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "--latency",
            *(["-s", script] if script else []),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    requests = int(re.search(r"(\d+) requests in", out).group(1))

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests": requests,
        "rps": requests / seconds,
        "p50": ms(" 50"),
        "p99": ms(" 99"),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
    }, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--src", required=True)
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--product", default="/p/p50079-knitwear/")
    parser.add_argument("--ceiling", default="/bench/ceiling/?kb=15")
    parser.add_argument("--out", default="var/bench/product-swing.json")
    parser.add_argument("--label", default="")
    parser.add_argument("--only", default="", help="ceiling or product: measure only that page")
    parser.add_argument("--script", default="", help="a wrk Lua script for the product page (e.g. many products)")
    args = parser.parse_args()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, PAGE_CACHE_ENABLED="0")
    env.pop("PAGE_CACHE_URL", None)
    gunicorn = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "shop.wsgi",
            "--chdir",
            args.src,
            "--workers",
            "2",
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "60",
            "--graceful-timeout",
            "5",
            "--log-level",
            "warning",
        ],
        env=env,
    )
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2)  # noqa: S310 - our http URL
                break
            except OSError:
                time.sleep(0.2)
        workers = sorted(children(gunicorn.pid))
        pg = postgres_pids(os.environ["PG_DATA"])
        rpid = redis_pid()
        print(f"gunicorn {gunicorn.pid} workers {workers} redis {rpid} postgres {len(pg)} procs", flush=True)
        runs = []
        pages = [("ceiling", args.ceiling), ("product", args.product)]
        if args.only:
            pages = [p for p in pages if p[0] == args.only]
        for pair in range(args.pairs):
            for name, path in pages:
                url = base + path
                script = args.script if name == "product" else ""
                if args.warmup:
                    wrk(url, args.warmup, script)
                pg = postgres_pids(os.environ["PG_DATA"])
                procs = {f"w{i}": [p] for i, p in enumerate(workers)} | {
                    "master": [gunicorn.pid],
                    "postgres": pg,
                    "redis": [rpid],
                }
                before = {k: sum(cpu_s(p, k == "postgres" and p == pg[0]) for p in v) for k, v in procs.items()}
                probe = probe_ms()
                stat0 = Path("/proc/stat").read_text().split("\n")[0].split()
                result, wrk_cpu = wrk(url, args.seconds, script)
                stat1 = Path("/proc/stat").read_text().split("\n")[0].split()
                pg_after = postgres_pids(os.environ["PG_DATA"])
                procs["postgres"] = sorted(set(pg) | set(pg_after))
                used = {
                    k: sum(cpu_s(p, k == "postgres" and p == pg[0]) for p in v) - before[k] for k, v in procs.items()
                }
                used["wrk"] = wrk_cpu
                busy = sum(int(a) - int(b) for a, b in zip(stat1[1:9], stat0[1:9], strict=False))
                idle = sum(int(stat1[i]) - int(stat0[i]) for i in (4, 5))
                machine = (busy - idle) / TICK
                steal = (int(stat1[8]) - int(stat0[8])) / TICK
                n = result["requests"]
                per = {k: round(v * 1000 / n, 3) for k, v in used.items()}
                other = machine - sum(used.values())
                row = {
                    "pair": pair,
                    "page": name,
                    "t": time.strftime("%H:%M:%S"),
                    **result,
                    "cpu_ms_per_req": per,
                    "machine_busy_cores": round(machine / args.seconds, 2),
                    "other_cores": round(other / args.seconds, 2),
                    "steal_cores": round(steal / args.seconds, 2),
                    "probe_ms": round(probe, 2),
                    "load1": float(Path("/proc/loadavg").read_text().split()[0]),
                }
                runs.append(row)
                pretty = " ".join(f"{k}={v:.3f}" for k, v in per.items())
                print(
                    f"{row['t']} {pair:2} {name:8} {result['rps']:8.1f} req/s p50 {result['p50']:6.2f} "
                    f"p99 {result['p99']:6.2f} | ms/req {pretty} | busy {row['machine_busy_cores']} "
                    f"other {row['other_cores']} steal {row['steal_cores']} probe {row['probe_ms']} "
                    f"load {row['load1']}",
                    flush=True,
                )
        Path(args.out).write_text(json.dumps({"label": args.label, "src": args.src, "runs": runs}, indent=1))
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        try:
            gunicorn.wait(10)
        except subprocess.TimeoutExpired:
            gunicorn.kill()


if __name__ == "__main__":
    sys.exit(main())
