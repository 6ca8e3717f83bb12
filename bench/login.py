"""Login benchmark: logins one at a time, 16 at once and 200 at once, and page views during a login
flood, over HTTP against gunicorn on loopback (bin/bench-login starts everything).

    python bench/login.py setup --users N                 (inside the Django project)
    python bench/login.py drive --base URL --users N --out var/bench/login.json

`setup` creates N customers login{i}@bench.example sharing one password, hashed by the project's
preferred hasher (Argon2id: each login costs one real hash).

`drive` runs four phases. Every simulated customer is a fresh browser (its own cookies and
connections) at its own address: the server trusts 127.0.0.1 as a proxy (TRUSTED_PROXIES) and
reads the client from X-Forwarded-For, so the per-address brakes see many clients, as behind a
real balancer. A customer opens the login page (not timed), then posts the form (timed); a 503
("too many logins right now") is retried after its Retry-After, as the page asks.

- single:     one login at a time. p50/p95 of the login POST.
- concurrent: 16 customers logging in at once, each again as soon as it is in, for BENCH_SECONDS.
              p50/p95 from pressing "log in" to signed in (retries included), and of each answer.
- burst:      200 customers with the login page open press "log in" at the same instant (a
              barrier). Time until every one is signed in, p50/p95/max, busy answers, errors.
- flood:      page views (BENCH_LOGIN_PAGE, default /) by two visitors in a loop, first alone,
              then while a separate process floods the login form with wrong passwords for
              unknown emails from ever new addresses (credential stuffing from a botnet: no
              per-address or per-username brake applies, each attempt costs a hash), ignoring
              Retry-After. p50/p99 of the page views alone and during the flood.

The JSON shape is the one bench/goals.py reads (started_at/ended_at in Unix seconds per phase).
"""

import argparse
import json
import multiprocessing
import os
import random
import statistics
import sys
import threading
import time
from http.cookiejar import CookieJar
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, HTTPRedirectHandler, Request, build_opener

PASSWORD = "bench-login-pass-1234"  # noqa: S105 - throwaway benchmark accounts


def django_setup():
    sys.path.insert(0, os.getcwd())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    import django

    django.setup()


def setup(users: int) -> None:
    django_setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import identify_hasher, make_password

    User = get_user_model()
    hashed = make_password(PASSWORD)  # one hash for all: each login still verifies it in full
    User.objects.bulk_create(
        [
            User(email=f"login{i}@bench.example", username=f"login{i}@bench.example", password=hashed)
            for i in range(users)
        ],
        ignore_conflicts=True,
    )
    print(json.dumps({"users": users, "hasher": identify_hasher(hashed).algorithm, "hash": hashed.rsplit("$", 2)[0]}))


def inprocess(runs: int) -> None:
    """Single-threaded, in this process, through Django's full middleware (django.test.Client):
    the cost of one hash, of a login, of a login refused for want of a hashing slot, and of a
    page view; min and median of `runs`, wall and this process's CPU. Figures a busy machine
    disturbs far less than the HTTP phases."""
    django_setup()
    from contextlib import ExitStack

    from django.conf import settings
    from django.contrib.auth.hashers import PBKDF2PasswordHasher, get_hasher
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from shop.accounts.services import password_check_slot

    def measure(action, n: int = runs) -> dict:
        walls, cpus, queries = [], [], 0
        for _ in range(n):
            prepare = action()
            with CaptureQueriesContext(connection) as captured:
                wall, cpu = time.perf_counter(), time.process_time()
                prepare()
                cpus.append(time.process_time() - cpu)
                walls.append(time.perf_counter() - wall)
            queries = len(captured)
        return {
            "wall_min_ms": round(min(walls) * 1000, 1),
            "wall_median_ms": round(statistics.median(walls) * 1000, 1),
            "cpu_min_ms": round(min(cpus) * 1000, 1),
            "cpu_median_ms": round(statistics.median(cpus) * 1000, 1),
            "queries": queries,
        }

    stack = ExitStack()
    hasher = get_hasher()
    out = {"hasher": hasher.algorithm, "runs": runs}
    out["hash"] = measure(lambda: lambda: hasher.encode(PASSWORD, hasher.salt()))
    out["hash_pbkdf2_default"] = measure(lambda: lambda: PBKDF2PasswordHasher().encode(PASSWORD, "s" * 22), n=3)
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    User = get_user_model()
    # Customers of this measure, hashed by the hasher under test (BENCH_LOGIN_BEFORE: PBKDF2).
    hashed = make_password(PASSWORD)
    names = [f"inprocess{i}@bench.example" for i in range(2 * runs + 2)]
    User.objects.filter(email__in=names).delete()
    User.objects.bulk_create([User(email=e, username=e, password=hashed) for e in names])
    emails = iter(names)
    addresses = iter(range(1, 1 << 20))

    def browser() -> Client:
        n = next(addresses)
        client = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=f"10.200.{n >> 8 & 255}.{n & 255}")
        client.get("/account/login/")
        return client

    def login_action(expect: int):
        client, email = browser(), next(emails)

        def post():
            status = client.post("/account/login/", {"username": email, "password": PASSWORD}).status_code
            if status != expect:
                raise RuntimeError(f"login answered {status}, expected {expect}")

        return post

    out["login"] = measure(lambda: login_action(302))
    out["login_busy"] = None
    if settings.LOGIN_CONCURRENT_HASHES > 0:
        with password_check_slot():  # as if other workers held every slot: each login is refused at once
            for _ in range(settings.LOGIN_CONCURRENT_HASHES - 1):
                stack.enter_context(password_check_slot())
            out["login_busy"] = measure(lambda: login_action(503))
            stack.close()
    page = Client()
    page.get("/")  # the page cache warm
    out["page"] = measure(lambda: lambda: page.get("/"))
    print(json.dumps(out))


# -- the client -----------------------------------------------------------------------------------


class NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_addresses = iter(range(1, 1 << 30))
_address_lock = threading.Lock()


def new_address(prefix: int) -> str:
    """A new client address each call (10.x.y.z), distinct per process by `prefix`."""
    with _address_lock:
        n = next(_addresses)
    return f"10.{prefix}.{(n >> 8) & 255}.{n & 255}" if n < 65536 else f"10.{prefix + 100}.{(n >> 8) & 255}.{n & 255}"


class Browser:
    def __init__(self, base: str, address: str) -> None:
        self.base = base
        self.address = address
        self.jar = CookieJar()
        self.http = build_opener(HTTPCookieProcessor(self.jar), NoRedirect)

    def csrf(self) -> str:
        return next((c.value for c in self.jar if c.name == "csrftoken"), "")

    def request(self, path: str, data: dict | None = None) -> tuple[int, dict]:
        body = None
        headers = {"Referer": self.base + "/", "X-Forwarded-For": self.address, "Accept-Language": "en"}
        if data is not None:
            body = urlencode({**data, "csrfmiddlewaretoken": self.csrf()}).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            with self.http.open(Request(self.base + path, data=body, headers=headers), timeout=60) as response:  # noqa: S310 - loopback http only
                response.read()
                return response.status, dict(response.headers)
        except HTTPError as error:
            error.read()
            return error.code, dict(error.headers)

    def open_login(self) -> None:
        status, _h = self.request("/account/login/")
        if status != 200:
            raise RuntimeError(f"login page answered {status}")

    def login(self, email: str, password: str = PASSWORD) -> tuple[int, float, int]:
        """Post the form once. Returns (status, seconds, Retry-After in seconds or 0)."""
        started = time.perf_counter()
        status, headers = self.request("/account/login/", {"username": email, "password": password})
        took = time.perf_counter() - started
        return status, took, int(headers.get("Retry-After") or 0)


def sign_in(base: str, email: str, *, address: str, give_up: float = 60.0, opened: bool = False) -> dict:
    """One customer signing in: open the page, post, retry after Retry-After on 503.
    Returns {"ok", "seconds" (first post to signed in), "answers": [seconds...], "busy", "errors"}."""
    browser = Browser(base, address)
    if not opened:
        browser.open_login()
    return press_login(browser, email, give_up=give_up)


def press_login(browser: Browser, email: str, *, give_up: float = 60.0, since: float | None = None) -> dict:
    started = since if since is not None else time.perf_counter()
    result = {"ok": False, "answers": [], "busy": 0, "errors": {}}
    while time.perf_counter() - started < give_up:
        try:
            status, took, retry_after = browser.login(email)
        except (URLError, OSError) as exc:
            key = type(exc).__name__
            result["errors"][key] = result["errors"].get(key, 0) + 1
            break
        result["answers"].append(took)
        if status == 302:
            result["ok"] = True
            break
        if status == 503:
            result["busy"] += 1
            # As the page asks, give or take a second, as people pressing again do (all at once
            # again, 200 customers would meet as a herd each second).
            time.sleep(max(retry_after, 1) + random.random())
            continue
        result["errors"][str(status)] = result["errors"].get(str(status), 0) + 1
        break
    result["seconds"] = time.perf_counter() - started
    return result


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, max(0, round(q * len(values)) - 1))] * 1000, 1)


def summary(values: list[float]) -> dict:
    return {
        "p50_ms": round(statistics.median(values) * 1000, 1) if values else None,
        "p95_ms": pct(values, 0.95),
        "p99_ms": pct(values, 0.99),
        "max_ms": round(max(values) * 1000, 1) if values else None,
    }


# -- phases ---------------------------------------------------------------------------------------


def phase_single(base: str, emails: list[str], count: int) -> dict:
    started_at = time.time()
    results = [sign_in(base, emails[i % len(emails)], address=new_address(1)) for i in range(count)]
    answers = [r["answers"][0] for r in results if r["answers"]]
    return {
        "logins": count,
        "signed_in": sum(r["ok"] for r in results),
        "busy": sum(r["busy"] for r in results),
        "errors": sum(sum(r["errors"].values()) for r in results),
        **summary(answers),
        "started_at": round(started_at, 1),
        "ended_at": round(time.time(), 1),
    }


def phase_concurrent(base: str, emails: list[str], threads: int, seconds: float) -> dict:
    lock = threading.Lock()
    results: list[dict] = []
    turn = iter(range(1 << 30))
    stop = time.monotonic() + seconds
    started_at = time.time()

    def run() -> None:
        while time.monotonic() < stop:
            with lock:
                email = emails[next(turn) % len(emails)]
            result = sign_in(base, email, address=new_address(2))
            with lock:
                results.append(result)

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.time() - started_at
    signed = [r["seconds"] for r in results if r["ok"]]
    answers = [a for r in results for a in r["answers"]]
    answer = summary(answers)
    return {
        "threads": threads,
        "logins": len(results),
        "signed_in": len(signed),
        "logins_per_second": round(len(signed) / elapsed, 1),
        "busy": sum(r["busy"] for r in results),
        "errors": sum(sum(r["errors"].values()) for r in results) + len(results) - len(signed),
        **summary(signed),  # from pressing "log in" to signed in, retries included
        "answer_p50_ms": answer["p50_ms"],
        "answer_p95_ms": answer["p95_ms"],
        "started_at": round(started_at, 1),
        "ended_at": round(time.time(), 1),
    }


def phase_burst(base: str, emails: list[str], count: int) -> dict:
    browsers = [Browser(base, new_address(3)) for _ in range(count)]
    opened = threading.Semaphore(16)  # open the login pages a few at a time beforehand

    release = {"at": 0.0}

    def mark() -> None:
        release["at"] = time.perf_counter()

    barrier = threading.Barrier(count, action=mark)
    results: list[dict | None] = [None] * count

    def run(i: int) -> None:
        try:
            with opened:
                browsers[i].open_login()
        except Exception as exc:  # counted, and the barrier still releases the others
            results[i] = {"ok": False, "answers": [], "busy": 0, "errors": {type(exc).__name__: 1}, "seconds": 0.0}
        barrier.wait(timeout=300)
        if results[i] is None:
            results[i] = press_login(browsers[i], emails[i % len(emails)], give_up=120, since=release["at"])

    pool = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    started_at = time.time() - (time.perf_counter() - release["at"])
    done = [r for r in results if r]
    signed = [r["seconds"] for r in done if r["ok"]]
    first = [r["answers"][0] for r in done if r["answers"]]
    return {
        "logins": count,
        "signed_in": len(signed),
        "seconds": round(max(signed), 2) if signed else None,  # until the last one was signed in
        **summary(signed),
        "first_answer_p50_ms": summary(first)["p50_ms"],
        "busy": sum(r["busy"] for r in done),
        "errors": sum(sum(r["errors"].values()) for r in done)
        + sum(1 for r in done if not r["ok"] and not r["errors"]),
        "started_at": round(started_at, 1),
        "ended_at": round(time.time(), 1),
    }


def _flood(base: str, threads: int, stop_at: float, counts) -> None:
    """A separate process: `threads` attackers posting wrong passwords for unknown emails, each
    attempt from a new address, as fast as answers come (Retry-After ignored)."""
    tallies: dict[str, int] = {}
    lock = threading.Lock()

    def run(n: int) -> None:
        rng = random.Random(n)
        browser = Browser(base, new_address(50 + n))
        browser.open_login()
        while time.time() < stop_at:
            browser.address = new_address(50 + n)
            try:
                status, _took, _retry = browser.login(f"nobody{rng.randrange(10**9)}@bench.example", "wrong-guess")
                key = str(status)
            except (URLError, OSError) as exc:
                key = type(exc).__name__
            with lock:
                tallies[key] = tallies.get(key, 0) + 1

    pool = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    counts.update(tallies)


def page_views(base: str, path: str, seconds: float, visitors: int = 2) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def run() -> None:
        browser = Browser(base, "192.0.2.10")
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                status, _h = browser.request(path)
            except (URLError, OSError):
                status = 0
            took = time.perf_counter() - started
            with lock:
                if status == 200:
                    latencies.append(took)
                else:
                    errors[0] += 1

    pool = [threading.Thread(target=run) for _ in range(visitors)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return latencies, errors[0]


def phase_flood(base: str, path: str, seconds: float, attackers: int) -> dict:
    Browser(base, "192.0.2.10").request(path)  # warm the page cache
    alone_started = time.time()
    alone, alone_errors = page_views(base, path, seconds)
    manager = multiprocessing.Manager()
    counts = manager.dict()
    flood_started = time.time()
    attacker = multiprocessing.get_context("fork").Process(
        target=_flood, args=(base, attackers, flood_started + seconds + 1.5, counts)
    )
    attacker.start()
    time.sleep(1.5)  # let the flood build up before measuring
    during_started = time.time()
    during, during_errors = page_views(base, path, seconds)
    attacker.join(timeout=120)
    flood_counts = dict(counts)
    a, d = summary(alone), summary(during)
    return {
        "page": path,
        "attackers": attackers,
        "alone_p50_ms": a["p50_ms"],
        "alone_p99_ms": a["p99_ms"],
        "alone_views": len(alone),
        "flood_p50_ms": d["p50_ms"],
        "flood_p99_ms": d["p99_ms"],
        "flood_max_ms": d["max_ms"],
        "flood_views": len(during),
        "errors": alone_errors + during_errors,
        "login_attempts": flood_counts,
        "login_attempts_per_second": round(sum(flood_counts.values()) / (time.time() - flood_started), 1),
        "alone_started_at": round(alone_started, 1),
        "started_at": round(during_started, 1),
        "ended_at": round(time.time(), 1),
    }


def ceiling_now(base: str) -> dict | None:
    """make bench's speed reference for a login row: the bare view (/bench/ceiling/, routed where
    BENCH_VIEWS_ENABLED) timed by wrk at 16 connections just before the phase, when
    BENCH_LOGIN_CEILING_SECONDS is set (bin/bench-goals sets it; bin/bench-login alone does not)."""
    seconds = int(os.environ.get("BENCH_LOGIN_CEILING_SECONDS") or 0)
    if seconds <= 0:
        return None
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from run import wrk

    kb = os.environ.get("BENCH_LOGIN_CEILING_KB") or "15"
    try:
        result = wrk(f"{base}/bench/ceiling/?kb={kb}", seconds=seconds, connections=16, threads=2, timeout=10)
    except (OSError, RuntimeError) as exc:
        print(f"ceiling: {exc}", file=sys.stderr)
        return None
    if result["non_2xx"] or result["socket_errors"]:
        return None  # not routed here, or failing: no reference rather than a wrong one
    return {k: result[k] for k in ("rps", "p50_ms", "p99_ms", "seconds")}


def drive(args) -> dict:
    emails = [f"login{i}@bench.example" for i in range(args.users)]
    result = {
        "meta": {"base": args.base, "users": args.users, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    }
    phases = set(args.phases.split(","))
    if "single" in phases:
        sign_in(args.base, emails[-1], address=new_address(1))  # warm up: imports, connections
        ceiling = ceiling_now(args.base)
        result["single"] = phase_single(args.base, emails, args.single)
        if ceiling:
            result["single"]["ceiling"] = ceiling
        print(f"single: {result['single']}", file=sys.stderr)
    if "concurrent" in phases:
        result["concurrent"] = phase_concurrent(args.base, emails, args.threads, args.seconds)
        print(f"concurrent: {result['concurrent']}", file=sys.stderr)
    if "burst" in phases:
        result["burst"] = phase_burst(args.base, emails, args.burst)
        print(f"burst: {result['burst']}", file=sys.stderr)
    if "flood" in phases:
        ceiling = ceiling_now(args.base)
        result["flood"] = phase_flood(args.base, args.page, args.seconds, args.attackers)
        if ceiling:
            result["flood"]["ceiling"] = ceiling
        print(f"flood: {result['flood']}", file=sys.stderr)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--users", type=int, default=400)
    i = sub.add_parser("inprocess")
    i.add_argument("--runs", type=int, default=15)
    d = sub.add_parser("drive")
    d.add_argument("--base", required=True)
    d.add_argument("--users", type=int, default=400)
    d.add_argument("--single", type=int, default=40, help="logins one at a time")
    d.add_argument("--threads", type=int, default=16, help="customers logging in at once")
    d.add_argument("--seconds", type=float, default=10)
    d.add_argument("--burst", type=int, default=200, help="customers pressing log in at the same instant")
    d.add_argument("--attackers", type=int, default=16, help="concurrent attempts of the login flood")
    d.add_argument("--page", default="/")
    d.add_argument("--phases", default="single,concurrent,burst,flood")
    d.add_argument("--out")
    args = parser.parse_args()
    if args.command == "setup":
        setup(args.users)
        return
    if args.command == "inprocess":
        inprocess(args.runs)
        return
    result = drive(args)
    text = json.dumps(result, indent=2)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
