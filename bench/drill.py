"""Drills on the running cluster (bin/cluster): what happens when things go wrong past one machine.

    bench/drill.py run --env var/cluster/cluster.env --md var/cluster/drill.md [--only 1,3]

Driven by bin/cluster-drill (make cluster-drill), which starts the cluster when it is not running.
Four drills, each PASS or FAIL with its figures:

1. stock race: BUYERS customers (distinct accounts, each logged in with a prepared cart at the
   one-page confirm) press "place order" at the same instant, through the balancer, for one
   variant with UNITS units: exactly UNITS orders placed and paid from the wallet, the rest sent
   back to the cart with "not enough stock", no 5xx; on the primary, the variant's available units
   end at 0 and are never seen below 0 while the buyers press (sampled every 20 ms).
2. a web node dies: catalogue pages loaded through the balancer by a few threads; one node's
   gunicorn master is killed (kill -9); errors are counted (only requests in flight may fail:
   at most one per loading thread); the node is started again and the balancer sends it
   requests again.
3. the replica stops: catalogue pages (cache-missing URLs, so they read the database) keep
   being served through the balancer (reads fall back to the primary within the router's check
   interval); /healthz says so; the replica is started again and catches up (replay lag 0 bytes
   on the primary's pg_stat_replication).
4. a worker dies with mail queued: 100 order mails are written to the outbox and queued; as the
   first ones are sent, one Celery worker is killed (kill -9, its pool with it); every mail is
   sent, by the other worker, exactly once (distinct Message-IDs, and raw deliveries, counted in
   the cluster's file mail backend when EMAIL_URL is filemail://DIR, else from the outbox rows);
   the worker is started again.

The Django parts (creating the buyers, queuing mails) run in subprocesses of this script with
the cluster's primary as DATABASE_URL; everything else speaks HTTP to the balancer, SQL to the
primary and runs bin/cluster's subcommands (stop-node N, start-node N, stop-replica,
start-replica, stop-worker N, start-worker N).
"""

import argparse
import csv
import io
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit
from urllib.request import HTTPCookieProcessor, HTTPRedirectHandler, Request, build_opener, urlopen

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
PASSWORD = "drill-pass-1234"  # noqa: S105 - throwaway drill accounts
STOCK_MESSAGES = ("not enough stock", "库存不足")


def log(message: str) -> None:
    print(f"\033[1;34m==>\033[0m {message}", file=sys.stderr, flush=True)


def read_env(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (optionally `export`, optionally quoted), as bin/cluster writes them."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def cluster(*argv: str, timeout: int = 180) -> subprocess.CompletedProcess:
    log("bin/cluster " + " ".join(argv))
    done = subprocess.run(
        ["bash", str(ROOT / "bin" / "cluster"), *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )
    if done.returncode:
        log(f"bin/cluster {' '.join(argv)} exited {done.returncode}: {done.stderr[-400:]}")
    return done


def sql(dsn: str, query: str, params: tuple = ()) -> list[tuple]:
    import psycopg

    with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def plain_dsn(url: str) -> str:
    """postgres://… as psycopg takes it (Django's URL may carry options psycopg does not know)."""
    return url.replace("postgresql://", "postgres://", 1).split("?")[0]


# -- HTTP ------------------------------------------------------------------------------------------


class NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Client:
    """A browser of one customer: its own cookies, no redirects followed, English pages."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = CookieJar()
        self.http = build_opener(HTTPCookieProcessor(self.jar), NoRedirect)

    def csrf(self) -> str:
        return next((c.value for c in self.jar if c.name == "csrftoken"), "")

    def request(self, path: str, data: dict | None = None, timeout: float = 60) -> tuple[int, str, str]:
        body = None
        headers = {"Referer": self.base + "/", "Accept-Language": "en"}
        if data is not None:
            body = urlencode({**data, "csrfmiddlewaretoken": self.csrf()}, doseq=True).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            with self.http.open(Request(self.base + path, data=body, headers=headers), timeout=timeout) as response:  # noqa: S310 - the drill's own cluster
                return response.status, response.read().decode(errors="replace"), response.headers.get("Location", "")
        except HTTPError as error:
            return error.code, error.read().decode(errors="replace"), error.headers.get("Location", "")

    def steady(self, path: str, data: dict | None = None, tries: int = 6) -> tuple[int, str, str]:
        """request(), tried again on a gateway error or "busy" (502/503/504): getting the buyers
        ready is not what the drill measures, the race at "place order" is."""
        delay = 0.5
        for _ in range(tries - 1):
            status, body, location = self.request(path, data)
            if status not in (502, 503, 504):
                return status, body, location
            time.sleep(delay + random.random() * delay)  # jitter, not a secret
            delay = min(delay * 2, 5)
        return self.request(path, data)

    def messages(self, path: str = "/cart/") -> list[str]:
        """The flash messages of the page a refused order lands on (the cart)."""
        status, body, _l = self.steady(path)
        if status != 200:
            return [f"(HTTP {status} on {path})"]
        block = re.search(r'<ul class="messages">(.*?)</ul>', body, re.DOTALL)
        return (
            [re.sub(r"<[^>]+>", "", m).strip() for m in re.findall(r"<li[^>]*>(.*?)</li>", block.group(1), re.DOTALL)]
            if block
            else []
        )

    def login(self, email: str, deadline: float) -> None:
        """Log in, waiting and trying again while the shop answers "too many logins" (429/503)."""
        delay = 0.5
        while True:
            self.steady("/account/login/")
            status, _body, location = self.request("/account/login/", {"username": email, "password": PASSWORD})
            if status == 302 and "/login/" not in location:
                return
            if status not in (429, 502, 503, 504) or time.monotonic() > deadline:
                raise RuntimeError(f"login of {email}: HTTP {status}")
            time.sleep(delay + random.random() * delay)  # jitter, not a secret
            delay = min(delay * 2, 5)


def get(url: str, timeout: float = 10) -> tuple[int, str]:
    try:
        with urlopen(Request(url, headers={"Accept-Encoding": "identity"}), timeout=timeout) as response:  # noqa: S310
            return response.status, response.read().decode(errors="replace")
    except HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def haproxy_servers(stats_url: str) -> dict[str, dict]:
    """Backend servers from HAProxy's CSV stats: {"backend/server": {"status", "stot", "addr"}}."""
    if not stats_url:
        return {}
    url = stats_url.rstrip("/") + "/;csv" if not stats_url.endswith(";csv") else stats_url
    try:
        status, text = get(url, timeout=5)
    except (OSError, URLError):
        return {}
    if status != 200:
        return {}
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    servers = {}
    for row in rows:
        if row.get("svname") in ("FRONTEND", "BACKEND", None):
            continue
        servers[f"{row['pxname']}/{row['svname']}"] = {
            "status": row.get("status", ""),
            "stot": int(row.get("stot") or 0),
            "addr": row.get("addr", ""),
        }
    return servers


def server_for(servers: dict[str, dict], node_url: str, index: int) -> str | None:
    """The HAProxy server of a node: by address, else the one whose name ends with its number."""
    netloc = urlsplit(node_url).netloc if node_url else ""
    for name, s in servers.items():
        if netloc and s["addr"] and s["addr"].split(":")[-1] == netloc.split(":")[-1]:
            return name
    for name in servers:
        if name.rstrip("/").endswith(str(index)):
            return name
    return None


# -- Django-side helpers (run as subprocesses with the cluster's primary) -----------------------


def django_setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    import django

    django.setup()


def setup_buyers(run: str, buyers: int, units: int) -> None:
    """BUYERS customers with an address and a full wallet; one variant with UNITS units."""
    django_setup()
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from catalog.models import ProductVariant
    from fulfillment.models import Stock
    from fulfillment.services import stock_set_on_hand
    from payments.models import Wallet, WalletEntry
    from shop.models import Address

    User = get_user_model()
    hashed = make_password(PASSWORD)
    emails = [f"drill-{run}-{i}@drill.example" for i in range(buyers)]
    users = User.objects.bulk_create([User(email=e, username=e, password=hashed) for e in emails])
    Address.objects.bulk_create(
        [
            Address(user=u, recipient="演练", phone="13800138000", province="上海市", city="上海市", district="黄浦区",
                    province_code="310000", city_code="310100", district_code="310101", street="演练路1号",
                    is_default=True)
            for u in users
        ]
    )  # fmt: skip
    wallets = Wallet.objects.bulk_create([Wallet(user=u, balance=Decimal("100000.00")) for u in users])
    WalletEntry.objects.bulk_create(
        [WalletEntry(wallet=w, amount=w.balance, balance_after=w.balance, reason="top_up") for w in wallets]
    )
    # A variant nobody holds: its stock counted through the stock service (movement history kept).
    variant = (
        ProductVariant.objects.filter(is_active=True, product__is_active=True)
        .exclude(stocks__reserved__gt=0)
        .order_by("?")
        .first()
    )
    rows = list(Stock.objects.filter(variant=variant).order_by("warehouse_id"))
    for n, row in enumerate(rows):
        stock_set_on_hand(warehouse_id=row.warehouse_id, variant_id=variant.pk, on_hand=units if n == 0 else 0)
    json.dump({"variant": variant.pk, "emails": emails}, sys.stdout)


def queue_mails(run: str, count: int) -> None:
    """COUNT order mails written to the outbox and queued, like the ones an order writes."""
    django_setup()
    from django.db import transaction

    from orders.models import Notification
    from orders.services import notification_queue

    # Drill 1's orders are paid from the wallet as they are placed: one "placed and paid" mail each.
    kinds = (Notification.Kind.ORDER_PLACED, Notification.Kind.ORDER_PAID)
    template = Notification.objects.filter(kind__in=kinds, order__isnull=False).order_by("-pk").first()
    if template is None:
        raise SystemExit("no order mail to copy: run drill 1 first")
    with transaction.atomic():  # queued on commit, all at once
        for i in range(count):
            notification_queue(
                kind=template.kind,
                key=f"drill:{run}:{i}",
                to=f"drill-{run}-mail-{i}@drill.example",
                language=template.language,
                context=template.context,
                order=template.order,
                user=template.user,
            )
    json.dump({"queued": count}, sys.stdout)


def django_popen(env: dict, *argv: str) -> subprocess.Popen:
    """The same as django_call, in the background."""
    return subprocess.Popen(  # the drill's own helper
        [PY, __file__, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=django_env(env), cwd=ROOT
    )


def django_call(env: dict, *argv: str) -> dict:
    """Run one of the helpers above against the cluster's primary; its JSON answer."""
    done = subprocess.run(
        [PY, __file__, *argv], capture_output=True, text=True, env=django_env(env), cwd=ROOT, check=False
    )
    if done.returncode:
        raise RuntimeError(f"{argv[0]} failed: {done.stderr[-800:]}")
    return json.loads(done.stdout)


def django_env(env: dict) -> dict:
    # The cluster's own settings (bin/cluster writes them to APP_ENV), on the primary alone.
    app = read_env(Path(env["APP_ENV"])) if env.get("APP_ENV") and Path(env["APP_ENV"]).exists() else {}
    child = {
        **os.environ,
        "CACHE_URL": env.get("CACHE_URL", ""),
        **app,
        "DATABASE_URL": env["PRIMARY_DATABASE_URL"],
        "CELERY_BROKER_URL": app.get("CELERY_BROKER_URL") or env.get("CELERY_BROKER_URL") or env.get("REDIS_URL", ""),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DEBUG": "0",
        "SECRET_KEY": app.get("SECRET_KEY") or "drill-" + secrets.token_hex(24),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "ERROR",
    }
    if not child["CACHE_URL"]:
        child.pop("CACHE_URL")
    child.pop("REPLICA_DATABASE_URL", None)  # writes and reads of the helpers: the primary only
    return child


# -- the drills ---------------------------------------------------------------------------------


def drill_stock_race(env: dict, run: str, buyers: int, units: int) -> dict:
    base = env["CLUSTER_URL"].rstrip("/")
    dsn = plain_dsn(env["PRIMARY_DATABASE_URL"])
    made = django_call(env, "setup-buyers", "--run", run, "--buyers", str(buyers), "--units", str(units))
    variant, emails = made["variant"], made["emails"]
    log(f"drill 1: {buyers} buyers for variant {variant} with {units} units; logging in and preparing carts")
    servers_before = haproxy_servers(env.get("HAPROXY_STATS_URL", ""))

    barrier = threading.Barrier(buyers + 1, timeout=600)
    lock = threading.Lock()
    outcomes: dict[str, int] = {}
    latencies: list[float] = []
    deadline = time.monotonic() + 300
    prepare_slots = threading.Semaphore(16)  # logins hash a password: not all 200 at once

    def buyer(email: str) -> None:
        client = Client(base)
        form = None
        try:
            with prepare_slots:
                client.login(email, deadline)
                status, _b, _l = client.steady("/cart/add/", {"variant": variant, "quantity": 1})
                if status != 302:
                    raise RuntimeError(f"cart add: HTTP {status}")
                status, body, _l = client.steady("/checkout/")  # the one-page confirm, choices made
                address = re.search(r'name="address" value="(\d+)" checked', body)
                token = re.search(r'name="cart" value="([^"]+)"', body)
                total = re.search(r'name="total" value="([^"]+)"', body)  # placed only at the total shown
                if status != 200 or not address or not token or not total:
                    raise RuntimeError(f"checkout: HTTP {status}")
                choice = {"address": address.group(1), "shipping_method": "standard", "payment_method": "wallet"}
                form = {**choice, "cart": token.group(1), "insured": "0", "total": total.group(1)}
        except Exception as exc:  # a buyer who could not get ready still meets the others
            with lock:
                key = f"not ready: {exc}"[:100]
                outcomes[key] = outcomes.get(key, 0) + 1
        barrier.wait()
        if form is None:
            return
        started = time.perf_counter()
        try:
            status, _b, location = client.request("/checkout/place/", form)
        except (OSError, URLError) as exc:
            outcome = f"connection error: {exc}"[:80]
        else:
            if status >= 500:
                outcome = f"HTTP {status}"
            elif status == 302 and "/orders/" in location:
                outcome = "placed"
            elif status == 302:
                landing = urlsplit(location).path or "/cart/"
                said = " / ".join(client.messages(landing)) or f"(no message on {landing})"
                if any(m in said.lower() for m in STOCK_MESSAGES):
                    outcome = "refused: not enough stock"
                elif said.startswith("(HTTP 5"):
                    # Sent back to the cart cleanly; only reading its message failed (an overloaded node).
                    outcome = f"refused, message not read {said}"[:160]
                else:
                    outcome = f"refused: {said}"[:160]
            else:
                outcome = f"HTTP {status}"
        took = time.perf_counter() - started
        with lock:
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            latencies.append(took)

    # Available units on the primary, sampled while the buyers press.
    samples: list[int] = []
    stop_sampling = threading.Event()

    def sample() -> None:
        import psycopg

        with psycopg.connect(dsn, autocommit=True) as conn:
            while not stop_sampling.is_set():
                row = conn.execute(
                    "SELECT coalesce(sum(on_hand - reserved), 0), coalesce(min(on_hand - reserved), 0) "
                    "FROM fulfillment_stock WHERE variant_id = %s",
                    (variant,),
                ).fetchone()
                samples.append(min(row))
                time.sleep(0.02)

    threads = [threading.Thread(target=buyer, args=(e,)) for e in emails]
    for t in threads:
        t.start()
    barrier.wait()
    log("drill 1: all buyers ready; pressing place order at once")
    sampler = threading.Thread(target=sample)
    sampler.start()
    pressed = time.monotonic()
    for t in threads:
        t.join(timeout=300)
    elapsed = time.monotonic() - pressed
    time.sleep(0.2)
    stop_sampling.set()
    sampler.join()

    orders = sql(
        dsn,
        "SELECT o.status, count(DISTINCT o.id) FROM orders_order o JOIN orders_orderline l ON l.order_id = o.id "
        "WHERE l.variant_id = %s AND o.placed_at > now() - interval '1 hour' GROUP BY o.status",
        (variant,),
    )
    by_status = {status: n for status, n in orders}
    stock = sql(
        dsn,
        "SELECT coalesce(sum(on_hand), 0), coalesce(sum(reserved), 0), coalesce(min(on_hand - reserved), 0) "
        "FROM fulfillment_stock WHERE variant_id = %s",
        (variant,),
    )[0]
    on_hand, reserved, min_row = (int(v) for v in stock)
    servers_after = haproxy_servers(env.get("HAPROXY_STATS_URL", ""))
    spread = {
        name: s["stot"] - servers_before.get(name, {}).get("stot", 0)
        for name, s in servers_after.items()
        if s["stot"] - servers_before.get(name, {}).get("stot", 0) > 0
    }
    latencies.sort()
    placed = outcomes.get("placed", 0)
    refused = outcomes.get("refused: not enough stock", 0)
    unread = sum(n for k, n in outcomes.items() if k.startswith("refused, message not read"))
    errors = sum(
        n for k, n in outcomes.items() if k != "placed" and not k.startswith(("refused: not enough", "refused, "))
    )
    total_orders = sum(by_status.values())
    paid = by_status.get("paid", 0)
    checks = {
        f"{units} placed": placed == units,
        f"{units} orders on the primary": total_orders == units,
        "all paid": paid == units,
        "the rest refused with 'not enough stock' (or sent back to the cart, message unread)": refused + unread
        == buyers - units,
        "no 5xx or other error at place order": errors == 0,
        "available 0 at the end": on_hand - reserved == 0,
        "never below 0": min([*samples, min_row]) >= 0,
        "both nodes served": len(spread) >= 2 or not servers_after,
    }
    return {
        "name": f"{buyers} buyers at once for {units} units",
        "passed": all(checks.values()),
        "checks": checks,
        "figures": {
            "outcomes": outcomes,
            "orders_by_status": by_status,
            "stock": {"on_hand": on_hand, "reserved": reserved, "available": on_hand - reserved},
            "lowest_available_seen": min(samples) if samples else None,
            "samples": len(samples),
            "place_p50_ms": round(latencies[len(latencies) // 2] * 1000) if latencies else None,
            "place_p95_ms": round(latencies[int(len(latencies) * 0.95) - 1] * 1000) if latencies else None,
            "place_max_ms": round(latencies[-1] * 1000) if latencies else None,
            "all_answered_s": round(elapsed, 2),
            "requests_per_balancer_server": spread,
            "variant": variant,
        },
    }


class Load:
    """A few threads GETting pages through the balancer, each request a new connection."""

    def __init__(self, base: str, paths: list[str], threads: int = 6) -> None:
        self.base, self.paths, self.threads = base, paths, threads
        self.results: list[tuple[float, float, str]] = []  # (start, end, outcome)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.counter = 0

    def _path(self) -> str:
        with self.lock:
            self.counter += 1
            n = self.counter
        path = self.paths[n % len(self.paths)]
        # A query the page cache has never seen: the page is rendered, so it reads the database.
        return f"{path}{'&' if '?' in path else '?'}drill={n}"

    def _run(self) -> None:
        while not self.stop.is_set():
            started = time.time()
            try:
                status, _body = get(self.base + self._path(), timeout=15)
                outcome = "ok" if status == 200 else f"HTTP {status}"
            except (OSError, URLError) as exc:
                outcome = f"error: {type(exc).__name__}"
            with self.lock:
                self.results.append((started, time.time(), outcome))

    def __enter__(self) -> "Load":
        self.workers = [threading.Thread(target=self._run) for _ in range(self.threads)]
        for w in self.workers:
            w.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for w in self.workers:
            w.join(timeout=30)

    def between(self, start: float, end: float | None = None) -> tuple[int, int]:
        """(requests, failures) among the requests started in [start, end)."""
        picked = [r for r in self.results if r[0] >= start and (end is None or r[0] < end)]
        return len(picked), sum(1 for r in picked if r[2] != "ok")

    def failures(self) -> list[tuple[float, float, str]]:
        return [r for r in self.results if r[2] != "ok"]


def catalogue_paths(base: str) -> list[str]:
    """The all-products listing, a category and a product page, found on the home page."""
    paths = ["/products/"]
    try:
        _status, home = get(base + "/", timeout=15)
        paths += sorted(set(re.findall(r'href="(/c/[^"/]+/)"', home)))[:1]
        paths += sorted(set(re.findall(r'href="(/p/[^"/]+/)"', home)))[:1]
    except (OSError, URLError):
        pass
    return paths


def wait_for(predicate, timeout: float, every: float = 0.5) -> float | None:
    """Seconds until predicate() is true, or None after timeout."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return round(time.monotonic() - started, 1)
        time.sleep(every)
    return None


def kill_tree(pid: int) -> list[int]:
    """kill -9 a process and its children (a Celery worker's pool dies with the machine)."""
    killed = []
    try:
        import psutil

        children = psutil.Process(pid).children(recursive=True)
    except Exception:  # psutil missing or the process already gone
        children = []
    for p in [pid, *[c.pid for c in children]]:
        try:
            os.kill(p, signal.SIGKILL)
            killed.append(p)
        except ProcessLookupError:
            pass
    return killed


def wait_gone(pid: int, timeout: float = 15) -> None:
    """Until the killed process is reaped: bin/cluster's start-* skips a PID that still answers kill -0."""

    wait_for(lambda: not Path(f"/proc/{pid}").exists(), timeout, every=0.1)  # a zombie still has one


def drill_web_node(env_path: Path, env: dict, node: int = 1) -> dict:
    base = env["CLUSTER_URL"].rstrip("/")
    stats = env.get("HAPROXY_STATS_URL", "")
    pid = int(env[f"NODE{node}_PID"])
    paths = catalogue_paths(base)
    server = server_for(haproxy_servers(stats), env.get(f"NODE{node}_URL", ""), node)
    log(f"drill 2: loading {paths} through the balancer; kill -9 node {node}'s gunicorn master {pid}")
    with Load(base, paths) as load:
        time.sleep(4)
        killed_at = time.time()
        os.kill(pid, signal.SIGKILL)
        down_after = wait_for(lambda: server is None or haproxy_servers(stats)[server]["status"].startswith("DOWN"), 30)
        time.sleep(4)
        restarted_at = time.time()
        wait_gone(pid)
        cluster("start-node", str(node))
        env.update(read_env(env_path))
        up_after = wait_for(lambda: server is None or haproxy_servers(stats)[server]["status"].startswith("UP"), 60)
        before_back = haproxy_servers(stats).get(server, {}).get("stot", 0) if server else 0
        time.sleep(5)
        after_back = haproxy_servers(stats).get(server, {}).get("stot", 0) if server else 0
    total, _failed = load.between(0)
    _before_n, before_failed = load.between(0, killed_at)
    around_n, around_failed = load.between(killed_at, restarted_at)
    failures = load.failures()
    in_flight_bound = load.threads  # one request in flight per thread when the node died
    taken_back = server is None or (up_after is not None and after_back > before_back)
    checks = {
        f"errors ≤ requests in flight ({in_flight_bound})": len(failures) <= in_flight_bound,
        "no error before the kill": before_failed == 0,
        "balancer marked the node down": server is None or down_after is not None,
        "node back and served again": taken_back,
    }
    return {
        "name": f"kill -9 web node {node} under load",
        "passed": all(checks.values()),
        "checks": checks,
        "figures": {
            "requests": total,
            "errors": len(failures),
            "error_kinds": sorted({f[2] for f in failures}),
            "requests_between_kill_and_restart": around_n,
            "errors_between_kill_and_restart": around_failed,
            "marked_down_after_s": down_after,
            "marked_up_after_restart_s": up_after,
            "requests_to_the_node_after_it_came_back": after_back - before_back,
            "balancer_server": server,
            "pages": paths,
        },
    }


def healthz(base: str) -> dict:
    """The node's /healthz as JSON (?format=json): {"status", "replica": {"state", "lag_seconds"}}."""
    try:
        status, body = get(base + "/healthz?format=json", timeout=5)
        data = json.loads(body) if status == 200 else {"status": f"HTTP {status}"}
    except (OSError, URLError, ValueError) as exc:
        data = {"status": f"error {exc}"}
    return data


def replica_of(health: dict) -> str:
    return ((health.get("replica") or {}).get("state") or "not configured").lower()


def replica_state(dsn: str) -> tuple[str | None, int | None]:
    """(state, replay lag in bytes) of the first standby the primary sees, or (None, None)."""
    rows = sql(
        dsn,
        "SELECT state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint FROM pg_stat_replication",
    )
    return (rows[0][0], rows[0][1]) if rows else (None, None)


def drill_replica(env: dict) -> dict:
    base = env["CLUSTER_URL"].rstrip("/")
    dsn = plain_dsn(env["PRIMARY_DATABASE_URL"])
    paths = catalogue_paths(base)
    health_before = healthz(base)
    log(f"drill 3: stop the replica; loading {paths}")
    with Load(base, paths, threads=4) as load:
        time.sleep(2)
        stopped_at = time.time()
        cluster("stop-replica")
        time.sleep(12)
        health_down = healthz(base)
        settled_at = time.time()
        time.sleep(6)
        resumed_at = time.time()
        cluster("start-replica")
        caught_up = wait_for(lambda: replica_state(dsn) == ("streaming", 0), 90)
        wait_for(lambda: replica_of(healthz(base)) == "ok", 30)
    health_after = healthz(base)
    total, failed = load.between(0)
    during_n, during_failed = load.between(stopped_at, resumed_at)
    _settled_n, settled_failed = load.between(settled_at, resumed_at)
    first_ok = min((r[0] for r in load.results if r[0] >= stopped_at and r[2] == "ok"), default=None)
    lag_after = (health_after.get("replica") or {}).get("lag_seconds")
    checks = {
        "pages served with the replica stopped (no error after the first 12 s)": during_n > 0 and settled_failed == 0,
        "/healthz says the replica is down": replica_of(health_down) == "down" and replica_of(health_before) == "ok",
        "replica streaming again, lag 0 bytes": caught_up is not None,
        "/healthz says the replica is back": replica_of(health_after) == "ok" and (lag_after or 0) < 1,
    }
    return {
        "name": "stop the replica",
        "passed": all(checks.values()),
        "checks": checks,
        "figures": {
            "requests": total,
            "errors": failed,
            "requests_while_stopped": during_n,
            "errors_while_stopped": during_failed,
            "errors_after_the_first_12_s": settled_failed,
            "first_success_after_stop_s": None if first_ok is None else round(first_ok - stopped_at, 2),
            "healthz_before": health_before,
            "healthz_replica_down": health_down,
            "healthz_after": health_after,
            "caught_up_after_start_s": caught_up,
            "error_kinds": sorted({f[2] for f in load.failures()}),
        },
    }


def mail_dir(env: dict) -> Path | None:
    """Where the cluster's file mail backend writes: its EMAIL_URL read as Django reads it
    (django-environ; a relative path is relative to the processes' directory, the project)."""
    app = read_env(Path(env["APP_ENV"])) if env.get("APP_ENV") and Path(env["APP_ENV"]).exists() else {}
    url = app.get("EMAIL_URL") or env.get("EMAIL_URL", "")
    if url.startswith("filemail:"):
        import environ

        path = Path(environ.Env.email_url_config(url).get("EMAIL_FILE_PATH") or ".")
        return path if path.is_absolute() else ROOT / path
    return Path(env["MAIL_DIR"]) if env.get("MAIL_DIR") else None


def drill_worker(env_path: Path, env: dict, run: str, count: int = 100, worker: int = 1) -> dict:
    dsn = plain_dsn(env["PRIMARY_DATABASE_URL"])
    folder = mail_dir(env)
    pid = int(env[f"WORKER{worker}_PID"])

    def sent() -> int:
        return sql(
            dsn, "SELECT count(*) FROM orders_notification WHERE key LIKE %s AND state = 'sent'", (f"drill:{run}:%",)
        )[0][0]

    # Worker 2 stopped (gracefully) while the mails are queued, so that worker 1 takes them all
    # and is killed in the middle: what it held must then be done by worker 2.
    other = 2 if worker == 1 else 1
    cluster("stop-worker", str(other))
    log(f"drill 4: queue {count} order mails; kill -9 worker {worker} ({pid}) as the first are sent")
    queued_at = time.monotonic()
    helper = django_popen(env, "queue-mails", "--run", run, "--count", str(count))
    wait_for(lambda: sent() >= 1 or helper.poll() not in (None, 0), 120, every=0.02)
    sent_at_kill = sent()
    killed = kill_tree(pid)
    killed_at = time.monotonic()
    helper.wait(timeout=120)
    for p in killed:
        wait_gone(p)
    log(f"drill 4: worker {worker} killed with {sent_at_kill} of {count} sent; starting worker {other}")
    cluster("start-worker", str(other))
    # Tasks worker 1 had reserved come back by the outbox's sweeper (beat, every 30 s: rows still
    # pending after 30 s are queued again; the row it was sending once its lease,
    # NOTIFICATION_LEASE_SECONDS, has run out) or by the broker's visibility timeout (1 h).
    all_sent = wait_for(lambda: sent() >= count, 240, every=0.5)
    done_s = None if all_sent is None else round(time.monotonic() - queued_at, 1)
    cluster("start-worker", str(worker))
    env.update(read_env(env_path))
    rows = sql(
        dsn,
        "SELECT state, attempts, count(*) FROM orders_notification WHERE key LIKE %s GROUP BY state, attempts",
        (f"drill:{run}:%",),
    )
    per_address: dict[str, int] = {}
    ids_per_address: dict[str, set[str]] = {}
    counted_in = "the outbox rows (no file mail backend: EMAIL_URL is not filemail://)"
    if folder and folder.is_dir():
        counted_in = f"the file mail backend ({folder})"
        # Raw deliveries per address, and the distinct Message-IDs among them: a mail sent again
        # after its worker died mid-send carries the row's Message-ID, the same message to mail
        # systems that deduplicate (orders.services.notification_message_id).
        to_pattern = re.compile(rf"^To: (drill-{re.escape(run)}-mail-\d+@drill\.example)$", re.MULTILINE)
        id_pattern = re.compile(r"^Message-ID: (<[^>]+>)", re.MULTILINE | re.IGNORECASE)
        for f in folder.iterdir():
            try:
                text = f.read_text(errors="replace")
            except OSError:
                continue
            for chunk in text.split("\n" + "-" * 79 + "\n"):  # the file backend's separator
                head = chunk.split("\n\n", 1)[0]
                to, message_id = to_pattern.search(head), id_pattern.search(head)
                if to is None:
                    continue
                address = to.group(1)
                per_address[address] = per_address.get(address, 0) + 1
                ids_per_address.setdefault(address, set()).add(message_id.group(1) if message_id else chunk)
        mails = sum(per_address.values())
        twice = sorted(a for a, n in per_address.items() if n > 1)
        distinct = sum(len(ids) for ids in ids_per_address.values())
        once_each = len(per_address) == count and distinct == count
    else:
        mails = sum(n for state, _attempts, n in rows if state == "sent")
        twice = []
        distinct = mails
        once_each = mails == count
    in_flight = 2  # the killed worker's processes (--concurrency 2): mails it may have sent but not marked
    checks = {
        "worker killed with mail still queued": 0 < sent_at_kill < count,
        f"all {count} sent, by the other worker": all_sent is not None,
        "each exactly once (distinct Message-IDs)": once_each,
        f"delivered twice (same Message-ID) only if being sent when the worker died (≤ {in_flight})": (
            len(twice) <= in_flight
        ),
    }
    return {
        "name": f"kill -9 worker {worker} with {count} mails queued",
        "passed": all(checks.values()),
        "checks": checks,
        "figures": {
            "sent_when_killed": sent_at_kill,
            "killed_pids": killed,
            "all_sent_after_queueing_s": done_s,
            "all_sent_after_kill_s": None if all_sent is None else round(time.monotonic() - killed_at, 1),
            "outbox_rows_by_state_and_attempts": [list(r) for r in rows],
            "mails_counted": mails,
            "distinct_message_ids": distinct,
            "mailed_twice": len(twice),
            "addresses_mailed_twice": twice[:10],
            "counted_in": counted_in,
        },
    }


# -- report -----------------------------------------------------------------------------------


def write_report(results: list[dict], env: dict, md: Path) -> None:
    lines = [
        f"# Cluster drills, {datetime.now(UTC):%Y-%m-%d %H:%M UTC}",
        "",
        f"Balancer {env.get('CLUSTER_URL')}, nodes {env.get('NODE1_URL')} and {env.get('NODE2_URL')}, "
        f"primary :{env.get('PRIMARY_PORT')} with a streaming replica :{env.get('REPLICA_PORT')}; "
        "`make cluster-drill` (bin/cluster-drill, bench/drill.py).",
        "",
        "| drill | result | figures |",
        "|---|:-:|---|",
    ]
    for r in results:
        main = {k: v for k, v in r.get("figures", {}).items() if not isinstance(v, (dict, list)) or k == "outcomes"}
        summary = ", ".join(f"{k.replace('_', ' ')} {json.dumps(v, ensure_ascii=False)}" for k, v in main.items())
        lines.append(f"| {r['name']} | {'PASS' if r['passed'] else '**FAIL**'} | {summary} |")
    for r in results:
        lines += ["", f"## {r['name']}: {'PASS' if r['passed'] else 'FAIL'}", "", f"Run {r.get('at', '?')}.", ""]
        for check, ok in r.get("checks", {}).items():
            lines.append(f"- [{'x' if ok else ' '}] {check}")
        if r.get("error"):
            lines.append(f"- error: `{r['error']}`")
        lines += ["", "```json", json.dumps(r.get("figures", {}), ensure_ascii=False, indent=1), "```"]
    md.write_text("\n".join(lines) + "\n")
    md.with_suffix(".json").write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n")


def run(args: argparse.Namespace) -> int:
    env_path = Path(args.env)
    env = read_env(env_path)
    only = {int(x) for x in args.only.split(",")} if args.only else {1, 2, 3, 4}
    tag = datetime.now(UTC).strftime("%H%M%S")
    drills = {
        1: lambda: drill_stock_race(env, tag, args.buyers, args.units),
        2: lambda: drill_web_node(env_path, env),
        3: lambda: drill_replica(env),
        4: lambda: drill_worker(env_path, env, tag, args.mails),
    }
    results = []
    earlier = []
    previous = Path(args.md).with_suffix(".json")
    if args.only and previous.exists():  # a partial run keeps the other drills' last results
        earlier = [r for r in json.loads(previous.read_text()) if r.get("drill") not in only]
    for n in sorted(only):
        started = time.monotonic()
        try:
            result = drills[n]()
        except Exception as exc:  # one failed drill must not hide the others
            result = {"name": f"drill {n}", "passed": False, "checks": {}, "figures": {}, "error": repr(exc)[:500]}
        result["seconds"] = round(time.monotonic() - started, 1)
        result["drill"] = n
        result["at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        results.append(result)
        verdict = "\033[1;32mPASS\033[0m" if result["passed"] else "\033[1;31mFAIL\033[0m"
        print(f"{verdict}  drill {n}: {result['name']}", flush=True)
        for check, ok in result.get("checks", {}).items():
            print(f"      [{'x' if ok else ' '}] {check}", flush=True)
        if result.get("error"):
            print(f"      error: {result['error']}", flush=True)
        write_report(sorted(earlier + results, key=lambda r: r.get("drill", 0)), env, Path(args.md))
    return 0 if all(r["passed"] for r in results) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--env", default=str(ROOT / "var" / "cluster" / "cluster.env"))
    r.add_argument("--md", default=str(ROOT / "var" / "cluster" / "drill.md"))
    r.add_argument("--only", help="comma-separated drill numbers (1-4)")
    r.add_argument("--buyers", type=int, default=200)
    r.add_argument("--units", type=int, default=50)
    r.add_argument("--mails", type=int, default=100)
    s = sub.add_parser("setup-buyers")
    s.add_argument("--run", required=True)
    s.add_argument("--buyers", type=int, required=True)
    s.add_argument("--units", type=int, required=True)
    q = sub.add_parser("queue-mails")
    q.add_argument("--run", required=True)
    q.add_argument("--count", type=int, required=True)
    args = parser.parse_args()
    if args.command == "setup-buyers":
        setup_buyers(args.run, args.buyers, args.units)
        return 0
    if args.command == "queue-mails":
        queue_mails(args.run, args.count)
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
