"""Checkout benchmark: many buyers placing and paying orders over HTTP, then a consistency check.

    python bench/checkout.py setup   --buyers N --stock S       (inside the Django project)
    python bench/checkout.py drive   --base URL --buyers N --seconds T --threads C --variants V
    python bench/checkout.py restock --variants V --free F     (inside the Django project)
    python bench/checkout.py burst   --base URL --buyers N --variants V
    python bench/checkout.py check   [--burst burst.json]      (inside the Django project)
    python bench/checkout.py profile --variants V [--cprofile STEP] [--sql STEP]
    python bench/checkout.py report  --runs DIR [--burst burst.json] --json out.json  (no Django)

`setup` creates N customers (password "bench-pass-1234"), each with an address and a wallet,
and a few "hot" variants with S units in stock each: enough that the steady run does not sell
out (bin/bench-checkout gives each 60 units per second of the run, 1,000 at least), since a
sold-out run measures the stock, not the shop; `drive` reports `sold_out` when a buyer was
refused for stock. Overselling is proven by the cluster drill (200 buyers for 50 units) and the
tests; the consistency check still holds after every run. `drive` runs C threads; each logs a customer in, then buys
until T seconds pass: adds a hot variant to the cart, opens the one-page confirm (GET /checkout/:
the default address, shipping and the wallet already chosen, the totals shown) and presses
"place order", which places the order and pays it from the wallet in one request. Only when the
place response says the order is not paid (its flash message is a warning) does the buyer post
the pay request. `burst` gives each of N buyers a cart at the confirm page (logged in, one hot
unit added, the confirm page opened), then all of them press "place order" at the same instant
(a barrier) and reports p50/p95/max from that instant. `restock` gives the hot variants F free units again
(for a burst after a drive that sold them out). `check` compares orders with reserved stock
and the wallets with their ledgers and payments (nothing oversold, nobody charged twice).
`profile` times the requests of a purchase in-process, single-threaded.

`report` makes one verdict of several steady runs (bin/bench-checkout: one warm-up drive, not
counted, then BENCH_CHECKOUT_RUNS drives, each after a short run of the bare ceiling view on the
same gunicorn and followed by the consistency check): orders/s is the median of the runs with
its range, place p50/p95 are taken from every run's latencies pooled, and each run is shown with
the ceiling measured the minute before it and the client's CPU an order (the machine's speed:
a slow minute shows as a slow minute). No run is dropped or repeated; consistent only when every
check was.

The buyers' client runs on the cores the shop it measures runs on, so it is kept light (Buyer:
raw sockets, cookies in a dict, the place form read by a scanner that HTMLParser checks), and
`drive` reports what it took: its CPU time per paid order and in cores over the measured window
(client_cpu_ms_per_order, client_cpu_cores; bench/goals.py shows them beside the checkout row).
Measured on the shared 2-core machine: about 7 ms of CPU an order with urllib's opener stack,
CookieJar and HTMLParser; about 2 ms now. Threads stay: one buyer alone costs the same per order
as 16 threads in one process, so worker processes would save no GIL hand-offs worth having.
"""

import argparse
import base64
import json
import os
import random
import re
import socket
import statistics
import sys
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ISSUE_CEILING_RPS, fmt_spread, scale_latency, scale_throughput, spread

PASSWORD = "bench-pass-1234"  # noqa: S105 - throwaway benchmark accounts


class PlaceForm(HTMLParser):
    """What the confirm page's form posts to "place order", as a browser would: its hidden
    fields, checked radios and checkboxes, and text inputs; None when the page has no enabled
    place-order button (e.g. the wallet is short)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.can_place = False
        self._in_form = False

    def handle_starttag(self, tag, attrs) -> None:
        a = dict(attrs)
        if tag == "form" and a.get("id") == "confirm-form":
            self._in_form = True
        elif tag == "input" and self._in_form and a.get("name") and "disabled" not in a:
            kind = a.get("type", "text")
            if kind in ("radio", "checkbox") and "checked" not in a:
                return
            if kind != "submit":
                self.fields[a["name"]] = a.get("value") or ("on" if kind == "checkbox" else "")
        elif tag == "button" and self._in_form and a.get("id") == "place-order":
            self.can_place = "disabled" not in a

    def handle_endtag(self, tag) -> None:
        if tag == "form":
            self._in_form = False

    @classmethod
    def of(cls, page: str) -> dict | None:
        parser = cls()
        parser.feed(page)
        return parser.fields if parser.can_place and "cart" in parser.fields else None


# What PlaceForm reads, by two compiled patterns over the form's text only: the driver reads a
# confirm page per purchase, and HTMLParser (pure Python, every tag of the page: about 1.1 ms of
# CPU a page) cost more than the rest of the buyer's work; this costs about 0.06 ms. It relies on
# what Django renders: attributes quoted, no ">" inside a value (escaped as &gt;). PlaceForm stays
# the reference: each of `drive`'s threads reads its first page with both (a difference is an error
# outcome), and tests/shop/test_p2_bench_client.py compares them on real confirm pages.
FORM_TAG = re.compile(r"<(input|button)\b([^>]*)>", re.I)
TAG_ATTR = re.compile(r"""([^\s/>"'=]+)(\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?""")
MAX_AGE = re.compile(r"max-age\s*=\s*(-?\d+)", re.I)


def place_form(page: str) -> dict | None:
    """PlaceForm.of(page), without parsing the rest of the page."""
    at = page.find('id="confirm-form"')
    start = page.rfind("<form", 0, at)
    if at < 0 or start < 0 or page.find(">", start) < at:  # no such form, or the id is not the form's
        return None
    end = page.find("</form", at)
    fields: dict[str, str] = {}
    can_place = False
    for tag, text in FORM_TAG.findall(page, at, len(page) if end < 0 else end):
        a: dict[str, str | None] = {}
        for name, equals, double, single, bare in TAG_ATTR.findall(text):
            value = double or single or bare
            a[name.lower()] = (unescape(value) if "&" in value else value) if equals else None
        if tag.lower() == "button":
            if a.get("id") == "place-order":
                can_place = "disabled" not in a
        elif a.get("name") and "disabled" not in a:
            kind = a.get("type", "text")
            if kind in ("radio", "checkbox") and "checked" not in a:
                continue
            if kind != "submit":
                fields[a["name"]] = a.get("value") or ("on" if kind == "checkbox" else "")
    return fields if can_place and "cart" in fields else None


def unchunk(body: bytes) -> bytes:
    """The body of a response sent with Transfer-Encoding: chunked."""
    out, at = [], 0
    while True:
        eol = body.index(b"\r\n", at)
        size = int(body[at:eol].split(b";", 1)[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(body[eol + 2 : eol + 2 + size])
        at = eol + 2 + size + 2


def flash_messages(cookie_value: str) -> list[tuple[int, str]]:
    """(level, text) of the flash messages in Django's messages cookie (signed, not encrypted):
    level 25 success, 30 warning, 40 error. [] when there is none or it cannot be read."""
    try:
        payload = cookie_value.strip('"').split(":", 1)[0]  # value:timestamp:signature
        data = base64.urlsafe_b64decode(payload.lstrip(".") + "=" * (-len(payload.lstrip(".")) % 4))
        messages = json.loads(zlib.decompress(data) if payload.startswith(".") else data)
    except (ValueError, zlib.error):
        return []
    return [(m[2], str(m[3])) for m in messages if isinstance(m, list) and len(m) > 3 and m[0] == "__json_message"]


def django_setup():
    sys.path.insert(0, os.getcwd())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    import django

    django.setup()


def setup(buyers: int, stock: int, hot: int) -> None:
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
    users = User.objects.bulk_create(
        [
            User(email=f"buyer{i}@bench.example", username=f"buyer{i}@bench.example", password=hashed)
            for i in range(buyers)
        ]
    )
    Address.objects.bulk_create(
        [
            Address(user=u, recipient="买家", phone="13800138000", province="上海市", city="上海市", district="黄浦区",
                    province_code="310000", city_code="310100", district_code="310101", street="测试路1号",
                    is_default=True)
            for u in users
        ]
    )  # fmt: skip
    wallets = Wallet.objects.bulk_create([Wallet(user=u, balance=Decimal("1000000.00")) for u in users])
    WalletEntry.objects.bulk_create(
        [WalletEntry(wallet=w, amount=w.balance, balance_after=w.balance, reason="top_up") for w in wallets]
    )
    # Hot variants nobody holds yet (the demo data's orders reserve a few), counted through the
    # stock service so that every row keeps its movement history.
    variants = list(
        ProductVariant.objects.filter(is_active=True, product__is_active=True)
        .exclude(stocks__reserved__gt=0)
        .order_by("pk")[:hot]
    )
    for variant in variants:
        rows = list(Stock.objects.filter(variant=variant).order_by("warehouse_id"))
        for n, row in enumerate(rows):
            stock_set_on_hand(warehouse_id=row.warehouse_id, variant_id=variant.pk, on_hand=stock if n == 0 else 0)
    # Each buyer signed in beforehand (a session as a login makes it, through the shop's backend):
    # the benchmark times buying, not password hashing (bin/bench-login measures that). Until
    # 2026-11-30 the sessions named Django's ModelBackend, which only sessions older than the
    # shop's backend carry: the buyers' user was loaded by the slower path a login never gives.
    from django.conf import settings
    from django.test import Client

    sessions = {}
    for user in users:
        client = Client()
        client.force_login(user, backend="shop.accounts.backends.AddressThrottledModelBackend")
        sessions[user.email] = client.cookies[settings.SESSION_COOKIE_NAME].value
    json.dump({"variants": [v.pk for v in variants], "sessions": sessions}, sys.stdout)


SESSIONS: dict[str, str] = {}  # email -> session key, from setup's output (--sessions)


class Buyer:
    """One customer's browser, as light as a load generator should be: it runs on the cores the
    shop it measures runs on. A request is one HTTP/1.1 exchange on its own socket (gunicorn's
    sync workers close each connection after its response, so keep-alive would save nothing),
    written and read by hand: no urllib opener, CookieJar or email header parser. Cookies are a
    dict (the shop sets every cookie on "/" of one host; a cookie deleted by Max-Age=0 or an empty
    value is dropped, as a browser does); redirects are not followed."""

    def __init__(self, base: str, email: str) -> None:
        url = urlsplit(base)
        self.base = base
        # Resolved once: a connect per request, not a name lookup per request ("localhost" may
        # name ::1 and 127.0.0.1: the first that accepts, as urllib would).
        found = socket.getaddrinfo(url.hostname, url.port or 80, type=socket.SOCK_STREAM)
        self.family, self.address = found[0][0], found[0][4]
        for family, _type, _proto, _name, address in found if len(found) > 1 else ():
            try:
                socket.create_connection(address[:2], timeout=5).close()
            except OSError:
                continue
            self.family, self.address = family, address
            break
        self.fixed_headers = f"Host: {url.netloc}\r\nReferer: {base}/\r\nConnection: close\r\n"
        self.email = email
        self.cookies: dict[str, str] = {}
        if email in SESSIONS:
            self.cookies["sessionid"] = SESSIONS[email]
        self.requests = 0  # made by this buyer, to state a purchase's requests
        self.verify = True  # the first confirm page is also read by PlaceForm: the same form

    def csrf(self) -> str:
        return self.cookies.get("csrftoken", "")

    def request(self, path: str, data: dict | None = None, timeout: float = 30) -> tuple[int, str, str]:
        """(status, body, Location) of GET path, or of a POST of `data` (urlencoded, with the CSRF
        token) when given."""
        head = f"{'GET' if data is None else 'POST'} {path} HTTP/1.1\r\n{self.fixed_headers}"
        if self.cookies:
            head += "Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()) + "\r\n"
        body = b""
        if data is not None:
            body = urlencode({**data, "csrfmiddlewaretoken": self.csrf()}, doseq=True).encode()
            head += f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
        self.requests += 1
        with socket.socket(self.family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(self.address)
            sock.sendall(head.encode("latin-1") + b"\r\n" + body)
            chunks = []
            while chunk := sock.recv(65536):  # to the end: the server closes after its response
                chunks.append(chunk)
        status, location, content = self.response(b"".join(chunks))
        return status, content.decode("utf-8", "replace"), location

    def response(self, raw: bytes) -> tuple[int, str, bytes]:
        """(status, Location, body) of a whole response; its cookies kept."""
        end = raw.find(b"\r\n\r\n")
        if end < 0:
            raise ConnectionError(f"incomplete response ({len(raw)} bytes)")
        lines = raw[:end].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        location, chunked = "", False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.lower()
            if name == "set-cookie":
                self.set_cookie(value.strip())
            elif name == "location":
                location = value.strip()
            elif name == "transfer-encoding":
                chunked = "chunked" in value.lower()
        body = raw[end + 4 :]
        return status, location, unchunk(body) if chunked else body

    def set_cookie(self, header: str) -> None:
        pair, _, attributes = header.partition(";")
        name, _, value = pair.partition("=")
        name, value = name.strip(), value.strip()
        age = MAX_AGE.search(attributes)
        if value in ("", '""') or (age and int(age.group(1)) <= 0):
            self.cookies.pop(name, None)  # deleted (Django deletes with an empty value and Max-Age=0)
        else:
            self.cookies[name] = value  # as sent, quotes and all: sent back the same

    def login(self) -> None:
        if self.email in SESSIONS:  # signed in by setup: only the CSRF cookie a login page would set
            self.request("/cart/csrf/")
            return
        self.request("/account/login/")
        for _attempt in range(60):
            status, _body, _location = self.request("/account/login/", {"username": self.email, "password": PASSWORD})
            if status != 503:  # 503: no free password-hashing slot on the host; it says to retry
                break
            time.sleep(0.2 + random.random() * 0.3)
        assert status == 302, f"login failed for {self.email}: {status}"

    def flash(self) -> list[tuple[int, str]]:
        return flash_messages(self.cookies.get("messages", ""))

    def placed_unpaid(self) -> bool:
        """The place response's message says the order is not paid (a warning or an error), or
        there is no message to tell: then the pay request decides."""
        levels = [level for level, _text in self.flash()]
        return not levels or max(levels) >= 30

    def empty_cart(self) -> None:
        for line in re.findall(r"/cart/line/(\d+)/remove/", self.request("/cart/")[1]):
            self.request(f"/cart/line/{line}/remove/", {})

    def to_confirm(self, variant: int) -> tuple[str, dict | None]:
        """Add one unit, open the one-page confirm: ("ok", its place-order form as the page
        filled it, the wallet chosen) or (failure, None)."""
        status, _b, _l = self.request("/cart/add/", {"variant": variant, "quantity": 1})
        if status != 302:
            return f"add:{status}", None
        status, body, _l = self.request("/checkout/")
        form = place_form(body) if status == 200 else None
        if self.verify and status == 200:  # the scanner read the page as HTMLParser does
            self.verify = False
            if form != PlaceForm.of(body):
                return "checkout:the form scanner read the page otherwise than HTMLParser", None
        if form is None:
            # Sent back to the cart (a line out of stock): empty it, or every later add piles onto it.
            self.empty_cart()
            return f"checkout:{status}", None
        if form.get("payment_method") != "wallet":
            return f"checkout:not wallet ({form.get('payment_method')})", None
        return "ok", form

    def buy(self, variant: int) -> tuple[str, float | None]:
        """One purchase. Returns (outcome, seconds the place-order POST took)."""
        outcome, form = self.to_confirm(variant)
        if form is None:
            return outcome, None
        started = time.perf_counter()
        status, _b, location = self.request("/checkout/place/", form)
        took = time.perf_counter() - started
        if status != 302 or "/orders/" not in location:
            # Out of stock sends the buyer back to the cart with a message; empty the cart.
            self.empty_cart()
            return "refused" if status == 302 else f"place:{status}", took
        if not self.placed_unpaid():  # placed and paid from the wallet in the one request
            return "paid", took
        why = " | ".join(text for _level, text in self.flash()) or "no message"
        number = location.rstrip("/").rsplit("/", 1)[-1]
        status, _b, _l = self.request(f"/payments/pay/{number}/", {"method": "wallet"})
        return (f"paid after pay ({why})"[:100] if status == 302 else f"pay:{status}"), took


def drive(base: str, buyers: int, seconds: float, threads: int, variants: list[int]) -> dict:
    window = {"start": 0.0, "stop": 0.0, "cpu": 0.0}

    def start_clock() -> None:  # run once, by the barrier, before any buyer goes on
        window["start"] = time.monotonic()
        window["stop"] = window["start"] + seconds
        window["cpu"] = time.process_time()  # this process, every thread, user and system

    ready = threading.Barrier(threads + 1, action=start_clock)  # every buyer logged in first
    lock = threading.Lock()
    outcomes: dict[str, int] = {}
    latencies: list[float] = []
    counts = {"requests": 0}

    def run(index: int) -> None:
        try:
            shop(index)
        except Exception as exc:  # reported in the outcomes rather than lost with the thread
            if not ready.broken and ready.n_waiting < threads:
                ready.abort()
            with lock:
                key = f"error: {exc}"[:120]
                outcomes[key] = outcomes.get(key, 0) + 1

    def shop(index: int) -> None:
        rng = random.Random(index)
        emails = [f"buyer{i}@bench.example" for i in range(index, buyers, threads)][:4]
        sessions = []
        for email in emails:
            buyer = Buyer(base, email)
            buyer.verify = not sessions  # one page a thread read by HTMLParser too: enough to prove the scanner
            buyer.login()
            sessions.append(buyer)
        ready.wait(timeout=300)
        turn = 0
        while time.monotonic() < window["stop"]:
            buyer = sessions[turn % len(sessions)]
            turn += 1
            before = buyer.requests
            outcome, took = buyer.buy(rng.choice(variants))
            with lock:
                counts["requests"] += buyer.requests - before
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                if took is not None:
                    latencies.append(took)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    try:
        ready.wait(timeout=300)
    except threading.BrokenBarrierError:
        start_clock()
    started = window["start"]
    started_at = time.time() - (time.monotonic() - started)
    for w in workers:
        w.join(timeout=seconds + 120)
    elapsed = time.monotonic() - started
    client_cpu = time.process_time() - window["cpu"]
    latencies.sort()
    paid = sum(n for k, n in outcomes.items() if k == "paid" or k.startswith("paid after pay"))
    return {
        "seconds": round(elapsed, 1),
        "threads": threads,
        "outcomes": outcomes,
        "orders_per_second": round(paid / elapsed, 1),
        # What the buyers' own client took of the cores the shop runs on, over the measured window:
        # CPU time of this process (its threads, user and system) per paid order, and in cores.
        "client_cpu_ms_per_order": round(client_cpu * 1000 / paid, 2) if paid else None,
        "client_cpu_cores": round(client_cpu / elapsed, 3) if elapsed else None,
        # add, confirm, place (and pay when placing did not): what a paid order took, failures included
        "requests": counts["requests"],
        "requests_per_order": round(counts["requests"] / paid, 2) if paid else None,
        "errors": sum(
            n
            for k, n in outcomes.items()
            if k not in ("paid", "refused", "checkout:302") and not k.startswith("paid after")
        ),
        # Refused for stock, or sent back from the confirm page to the cart: the hot variants ran
        # out and the rate from then on is not the shop's (bench/goals.py never counts it as met).
        "sold_out": bool(outcomes.get("refused") or outcomes.get("checkout:302")),
        "started_at": round(started_at, 1),
        "ended_at": round(time.time(), 1),
        "place_p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
        "place_p95_ms": p95(latencies, 1000),
        # Every place request's latency (ms): runs are pooled for one p95 (report).
        "place_ms": [round(t * 1000, 1) for t in latencies],
    }


def p95(values: list[float], scale: float = 1) -> float | None:
    """The drive's 95th percentile of sorted values (the value below which 95 % of them fall)."""
    return round(values[max(0, int(len(values) * 0.95) - 1)] * scale, 1) if values else None


# Ceilings beside one benchmark's runs further apart than this (max / min): not the machine's speed.
UNSTEADY_CEILINGS = 1.5


def combine(runs: list[dict], ceilings: list[dict | None], checks: list[dict | None]) -> dict:
    """One steady figure from several drives, every run counted (pure: tested).

    orders/s and the client's CPU an order: the median of the runs, with their range; place p50
    and p95: of every run's latencies pooled; outcomes, requests and errors: summed; sold out or
    inconsistent when any run was. runs[i] was preceded by ceilings[i] (a wrk result of the bare
    view, the machine's speed that minute) and followed by checks[i] (the consistency check).

    at_issue_speed (each run's too): the figures scaled to the issue's machine speed by the ceiling
    just before each run: orders/s the median of the runs' scaled rates; place p95 of every run's
    place requests, each scaled by its own run's ceiling, pooled. None when a run had no ceiling."""
    pooled = sorted(t for r in runs for t in r.get("place_ms", []))
    outcomes: dict[str, int] = {}
    for r in runs:
        for k, n in r["outcomes"].items():
            outcomes[k] = outcomes.get(k, 0) + n
    paid = sum(n for k, n in outcomes.items() if k == "paid" or k.startswith("paid after pay"))
    requests = sum(r.get("requests", 0) for r in runs)
    shown = []
    for r, ceiling, checked in zip(runs, ceilings, checks, strict=True):
        run = dict(r)  # place_ms too: the pooled p95 can be recomputed from checkout.json
        run["ceiling"] = ceiling and {k: ceiling.get(k) for k in ("rps", "p50_ms", "p99_ms", "seconds")}
        c = (ceiling or {}).get("rps")
        run["at_issue_speed"] = c and {
            "orders_per_second": round(scale_throughput(r["orders_per_second"], c), 1),
            "place_p95_ms": p95(sorted(r.get("place_ms", [])), c / ISSUE_CEILING_RPS),
        }
        run["consistent"] = None if checked is None else bool(checked.get("ok"))
        shown.append(run)
    rate = spread([r["orders_per_second"] for r in runs])
    scaled = None
    if runs and all(run["at_issue_speed"] for run in shown):
        scaled_rate = spread([run["at_issue_speed"]["orders_per_second"] for run in shown])
        scaled_pooled = sorted(
            scale_latency(t, run["ceiling"]["rps"]) for run in shown for t in run.get("place_ms", [])
        )
        scaled = {
            "ceiling_rps": ISSUE_CEILING_RPS,
            "orders_per_second": round(scaled_rate["median"], 1),
            "orders_per_second_spread": scaled_rate,
            "place_p95_ms": p95(scaled_pooled),
        }
    return {
        "runs_counted": len(runs),
        "seconds": round(sum(r["seconds"] for r in runs), 1),
        "threads": runs[0]["threads"] if runs else None,
        "outcomes": outcomes,
        "orders_per_second": rate and round(rate["median"], 1),
        "orders_per_second_spread": rate,
        "place_p50_ms": round(statistics.median(pooled), 1) if pooled else None,
        "place_p95_ms": p95(pooled),
        "client_cpu_ms_per_order": _median(r.get("client_cpu_ms_per_order") for r in runs),
        "client_cpu_ms_per_order_spread": spread([r.get("client_cpu_ms_per_order") for r in runs]),
        "client_cpu_cores": _median(r.get("client_cpu_cores") for r in runs),
        "ceiling_rps_spread": spread([(c or {}).get("rps") for c in ceilings]),
        "requests": requests,
        "requests_per_order": round(requests / paid, 2) if paid else None,
        "errors": sum(r.get("errors", 0) for r in runs),
        "sold_out": any(r.get("sold_out") for r in runs),
        "consistent": all(c is not None and c.get("ok") for c in checks) if checks else None,
        "started_at": min((r["started_at"] for r in runs), default=None),
        "ended_at": max((r["ended_at"] for r in runs), default=None),
        "runs": shown,
        "at_issue_speed": scaled,
    }


def _median(values) -> float | None:
    s = spread(list(values))
    return None if s is None else round(s["median"], 3)


def report(runs_dir: str, burst_file: str, out_json: str) -> int:
    """bin/bench-checkout's summary: checkout.json and the markdown on stdout (checkout.md)."""
    folder = Path(runs_dir)

    def read(name: str) -> dict | None:
        path = folder / name
        return json.loads(path.read_text()) if path.exists() and path.read_text().strip() else None

    n = 1
    runs, ceilings, checks = [], [], []
    while (folder / f"drive-{n}.json").exists():
        runs.append(read(f"drive-{n}.json"))
        ceilings.append(read(f"ceiling-{n}.json"))
        checks.append(read(f"check-{n}.json"))
        n += 1
    warmup = read("drive-0.json")
    burst = read(burst_file) if burst_file else None
    final = read("check-final.json") or (checks[-1] if checks else None)
    steady = combine(runs, ceilings, checks)
    if warmup:
        steady["warmup"] = {k: v for k, v in warmup.items() if k != "place_ms"}
    if burst:
        burst.pop("numbers", None)
        # bin/bench-checkout (make bench) times the bare view just before the burst: its speed.
        ceiling = read("ceiling-burst.json")
        if ceiling and ceiling.get("rps"):
            burst["ceiling"] = {k: ceiling.get(k) for k in ("rps", "p50_ms", "p99_ms", "seconds")}
            burst["at_issue_speed"] = {
                "ceiling_rps": ISSUE_CEILING_RPS,
                "p95_ms": round(scale_latency(burst["p95_ms"], ceiling["rps"]), 1),
            }
    consistent = bool(steady["consistent"] and final and final.get("ok"))
    Path(out_json).write_text(
        json.dumps({"steady": steady, "burst": burst or None, "consistency": final, "consistent": consistent}, indent=1)
        + "\n"
    )
    print(markdown(steady, burst, final, consistent))
    return 0 if consistent else 1


def markdown(steady: dict, burst: dict | None, check: dict | None, consistent: bool) -> str:
    rate = steady["orders_per_second_spread"]
    lines = [
        "# Checkout benchmark\n",
        f"- {steady['threads']} concurrent buyers over HTTP, gunicorn with 2 sync workers: "
        f"{steady['runs_counted']} steady run{'s' if steady['runs_counted'] != 1 else ''} of "
        f"{steady['runs'][0]['seconds'] if steady['runs'] else '?'} s"
        + (f" after a {steady['warmup']['seconds']} s warm-up (not counted)" if steady.get("warmup") else "")
        + "; **the verdict is the median run**, p50/p95 of every run's place requests pooled",
        f"- outcomes: {steady['outcomes']}"
        + ("; **the hot variants sold out: the rate is the stock's, not the shop's**" if steady["sold_out"] else ""),
        f"- **{steady['orders_per_second']} orders/s** placed and paid ("
        + (f"median of {steady['runs_counted']} runs" if steady["runs_counted"] > 1 else "one run")
        + (f", range {rate['min']}–{rate['max']}" if rate and rate["n"] > 1 else "")
        + f"); place-order p50 {steady['place_p50_ms']} ms, p95 **{steady['place_p95_ms']} ms**",
        f"- the buyers' client (one process, {steady['threads']} threads, on the same cores as the shop) took "
        f"**{steady['client_cpu_ms_per_order']} ms of CPU an order** (median of the runs: "
        f"{fmt_spread(steady['client_cpu_ms_per_order_spread'], '{:,.2f}')}), {steady['client_cpu_cores']} cores; "
        f"the bare view beside the runs (median, range): "
        f"{fmt_spread(steady['ceiling_rps_spread'], '{:,.0f}', ' req/s')}",
        "",
        "| run | orders/s | place p50 ms | place p95 ms | client CPU ms an order | ceiling req/s just before | "
        f"errors | consistent | at the issue's speed ({ISSUE_CEILING_RPS:,} req/s): orders/s, place p95 ms |",
        "|--:|--:|--:|--:|--:|--:|--:|:-:|--:|",
    ]
    for n, r in enumerate(steady["runs"], 1):
        ceiling = (r.get("ceiling") or {}).get("rps")
        scaled = r.get("at_issue_speed")
        lines.append(
            f"| {n} | {r['orders_per_second']} | {r['place_p50_ms']} | {r['place_p95_ms']} | "
            f"{r.get('client_cpu_ms_per_order')} | {'—' if ceiling is None else f'{ceiling:,.0f}'} | "
            f"{r['errors']} | {({True: 'OK', False: '**no**', None: '?'})[r['consistent']]} | "
            + ("—" if not scaled else f"{scaled['orders_per_second']}, {scaled['place_p95_ms']}")
            + " |"
        )
    if steady.get("at_issue_speed"):
        scaled = steady["at_issue_speed"]
        lines += [
            "",
            f"- at the issue's machine speed (each run scaled by the ceiling just before it to {ISSUE_CEILING_RPS:,} "
            f"req/s): **{scaled['orders_per_second']} orders/s** (median; "
            f"{fmt_spread(scaled['orders_per_second_spread'])}), place p95 **{scaled['place_p95_ms']} ms** (pooled)",
        ]
        ceilings = steady.get("ceiling_rps_spread") or {}
        if ceilings.get("min") and ceilings["max"] / ceilings["min"] > UNSTEADY_CEILINGS:
            # Alone, nothing watches other load (make bench's goals table does). Quiet runs' ceilings
            # stayed within 1.23-1.38x of each other; beside other engineers' test suites (R1) they
            # spread 266-768 and 282-980 req/s, and the runs scaled to 38-116 orders/s.
            lines.append(
                f"- **the ceilings beside the runs spread {ceilings['min']:,.0f}–{ceilings['max']:,.0f} req/s**: "
                "other load or a changing speed; the scaled figures are unreliable (make bench judges "
                "disturbed runs as such)"
            )
    lines.append("")
    if burst:
        lines.append(
            f"- burst: {burst['pressed']} of {burst['buyers']} buyers pressed place order at once: "
            f"p50 {burst['p50_ms']} ms, p95 **{burst['p95_ms']} ms**, max {burst['max_ms']} ms, "
            f"errors **{burst['errors']}**; outcomes {burst['outcomes']}; "
            f"{(check or {}).get('burst_paid')} of {(check or {}).get('burst_placed')} placed orders paid"
            + (
                f"; the ceiling just before it {burst['ceiling']['rps']:,.0f} req/s: p95 "
                f"{burst['at_issue_speed']['p95_ms']} ms at the issue's machine speed"
                if burst.get("at_issue_speed")
                else ""
            )
        )
    if check:
        lines.append(
            f"- consistency (after every run; the last): {check['orders']} orders, {check['units_ordered']} units "
            f"ordered = {check['units_reserved']} units reserved; oversold rows {check['oversold_rows']}, "
            f"negative rows {check['negative_rows']}; wallets off their ledger {check['wallets_off_ledger']}, "
            f"orders charged twice {check['orders_charged_twice']}, paid orders not holding their total "
            f"{check['paid_orders_not_holding_total']}, placed orders left unpaid {check['bench_orders_unpaid']} "
            f"-> {'OK' if consistent else 'INCONSISTENT'}"
        )
    else:
        lines.append("- consistency: not checked -> INCONSISTENT")
    return "\n".join(lines)


def restock(variants: list[int], free: int) -> None:
    """Give each hot variant `free` units available again in its first warehouse (through the
    stock service, so movements stay complete), whatever a drive before reserved."""
    django_setup()
    from fulfillment.models import Stock
    from fulfillment.services import stock_set_on_hand

    for variant in variants:
        for n, row in enumerate(Stock.objects.filter(variant_id=variant).order_by("warehouse_id")):
            on_hand = row.reserved + (free if n == 0 else 0)
            stock_set_on_hand(warehouse_id=row.warehouse_id, variant_id=variant, on_hand=on_hand)


def burst(base: str, buyers: int, variants: list[int], prepare_threads: int) -> dict:
    """N buyers, each with a cart at the confirm page, press "place order" at the same instant.
    Latency is counted from that instant (the barrier's release), not from when a thread got
    round to sending: what the buyer who clicked waits."""
    prepared: list[tuple[Buyer, dict] | None] = [None] * buyers
    failed: dict[str, int] = {}
    lock = threading.Lock()

    def prepare(index: int) -> None:
        try:
            buyer = Buyer(base, f"buyer{index}@bench.example")
            buyer.login()
            buyer.empty_cart()
            outcome, form = buyer.to_confirm(variants[index % len(variants)])
        except Exception as exc:  # counted, not lost with the thread
            outcome, form = f"error: {exc}"[:120], None
        if form is None:
            with lock:
                failed[f"prepare {outcome}"] = failed.get(f"prepare {outcome}", 0) + 1
        else:
            prepared[index] = (buyer, form)

    with ThreadPoolExecutor(prepare_threads) as pool:
        list(pool.map(prepare, range(buyers)))
    ready = [p for p in prepared if p is not None]
    clock = {"t0": 0.0, "at": 0.0}
    barrier = threading.Barrier(len(ready), action=lambda: clock.update(t0=time.perf_counter(), at=time.time()))
    results: list[tuple[str, float, str]] = []

    def press(buyer: Buyer, form: dict) -> None:
        barrier.wait()
        try:
            status, _b, location = buyer.request("/checkout/place/", form, timeout=300)
        except Exception as exc:
            status, location = f"error: {exc}"[:120], ""
        took = time.perf_counter() - clock["t0"]
        if status == 302 and "/orders/" in location:
            outcome, number = "placed", location.rstrip("/").rsplit("/", 1)[-1]
        elif status == 302:
            outcome, number = "refused", ""  # back to the cart: not enough stock, said plainly
        else:
            outcome, number = f"error {status}", ""
        with lock:
            results.append((outcome, took, number))

    threads = [threading.Thread(target=press, args=p) for p in ready]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies = sorted(took for _o, took, _n in results)
    outcomes: dict[str, int] = dict(failed)
    for outcome, _t, _n in results:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    def pct(p: float) -> float | None:
        return round(latencies[max(0, int(len(latencies) * p + 0.5) - 1)] * 1000, 1) if latencies else None

    return {
        "buyers": buyers,
        "pressed": len(ready),
        "outcomes": outcomes,
        "errors": sum(n for k, n in outcomes.items() if k not in ("placed", "refused")),
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
        "started_at": round(clock["at"], 1),
        "ended_at": round(time.time(), 1),
        "numbers": sorted(n for _o, _t, n in results if n),
    }


def check(burst_file: str = "") -> None:
    """Stock: units of orders not yet shipped are exactly what stock holds reserved, and no row
    is oversold or negative. Money: every bench wallet's balance is its ledger's sum; no order
    has two captured payments or two wallet debits; every paid order holds exactly its total;
    no order a buyer placed is left unpaid."""
    django_setup()
    from django.db.models import Count, Q, Sum

    from fulfillment.models import Stock
    from orders.models import Order, OrderLine
    from payments.models import Payment, Wallet, WalletEntry

    live = OrderLine.objects.filter(order__status__in=[Order.Status.PENDING_PAYMENT, Order.Status.PAID])
    ordered = dict(live.values_list("variant_id").annotate(n=Sum("quantity")).values_list("variant_id", "n"))
    reserved = dict(
        Stock.objects.filter(variant_id__in=ordered).values_list("variant_id").annotate(n=Sum("reserved"))
        .values_list("variant_id", "n")
    )  # fmt: skip
    oversold = Stock.objects.filter(reserved__gt=models_F("on_hand")).count()
    bench_orders = Order.objects.filter(customer__email__endswith="@bench.example")
    wallets = Wallet.objects.filter(user__email__endswith="@bench.example").annotate(ledger=Sum("entries__amount"))
    captured = Q(payments__state=Payment.State.CAPTURED, payments__purpose=Payment.Purpose.ORDER)
    paid_orders = bench_orders.filter(status=Order.Status.PAID).annotate(
        captures=Count("payments", filter=captured), held=Sum("payments__amount", filter=captured)
    )
    debits = (
        WalletEntry.objects.filter(wallet__user__email__endswith="@bench.example", reason=WalletEntry.Reason.PAYMENT)
        .values("reference")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    result = {
        "orders": Order.objects.count(),
        "paid": Order.objects.filter(status=Order.Status.PAID).count(),
        "units_ordered": sum(ordered.values()),
        "units_reserved": sum(reserved.values()),
        "mismatched_variants": sorted(v for v in ordered if ordered[v] != reserved.get(v, 0)),
        "oversold_rows": oversold,
        "negative_rows": Stock.objects.filter(reserved__lt=0).count(),
        "wallets_off_ledger": sum(1 for w in wallets if w.balance != (w.ledger or 0)),
        "orders_charged_twice": sum(1 for o in paid_orders if o.captures > 1) + debits.count(),
        "paid_orders_not_holding_total": sum(1 for o in paid_orders if o.captures != 1 or o.held != o.total),
        # Placing pays from the wallet and the pay request is made only when it did not: every
        # order the buyers placed must be paid all the same.
        "bench_orders_unpaid": bench_orders.filter(status=Order.Status.PENDING_PAYMENT).count(),
    }
    if burst_file:
        with open(burst_file) as f:
            numbers = json.load(f)["numbers"]
        result["burst_placed"] = len(numbers)
        result["burst_paid"] = Order.objects.filter(number__in=numbers, status=Order.Status.PAID).count()
    result["ok"] = (
        not result["mismatched_variants"]
        and result["oversold_rows"] == 0
        and result["negative_rows"] == 0
        and result["units_ordered"] == result["units_reserved"]
        and result["wallets_off_ledger"] == 0
        and result["orders_charged_twice"] == 0
        and result["paid_orders_not_holding_total"] == 0
        and result["bench_orders_unpaid"] == 0
        and result.get("burst_paid", 0) == result.get("burst_placed", 0)
    )
    json.dump(result, sys.stdout)


def profile(rounds: int, variants: list[int], cprofile_step: str, rows: int, sql_step: str = "") -> None:
    """Each request of a purchase (add, the confirm page, place; pay only when placing did not
    pay), in-process and single-threaded, through the full middleware stack (django.test.Client):
    wall time (min and median of `rounds`), queries and their time as the driver saw them.
    "update" is the confirm page posted back with another choice (express shipping), timed
    beside the purchase, not part of it. Buyers are logged in with force_login (login is not
    part of the purchase). Writes real orders: run it on a throwaway database."""
    django_setup()
    import cProfile
    import io
    import pstats

    from django.contrib.auth import get_user_model
    from django.contrib.messages import get_messages
    from django.db import connection
    from django.test import Client

    customers = list(get_user_model().objects.filter(email__endswith="@bench.example").order_by("pk")[:50])
    steps = ["add", "checkout", "update", "place", "pay"]
    walls: dict[str, list[float]] = {s: [] for s in steps}
    queries: dict[str, list[int]] = {s: [] for s in steps}
    sql_ms: dict[str, list[float]] = {s: [] for s in steps}
    # This process's CPU (Python, the driver): unlike wall time, hardly moved by other load.
    cpu_ms: dict[str, list[float]] = {s: [] for s in steps}
    # CPU time, not wall: on a loaded machine waiting for PostgreSQL would swamp the Python.
    profiler = cProfile.Profile(time.process_time)
    state = {"n": 0, "ms": 0.0, "step": "", "counted": False}
    statements: list[tuple[float, str]] = []

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            took = (time.perf_counter() - started) * 1000
            state["n"] += 1
            state["ms"] += took
            if state["step"] == sql_step:
                statements.append((took, sql))

    def step(name: str, path: str, data: dict | None = None):
        state["n"], state["ms"], state["step"] = 0, 0.0, name
        if name == sql_step:
            statements.clear()  # the last round's are printed
        on = name == cprofile_step and state["counted"]  # not the warm-up rounds' first imports
        with connection.execute_wrapper(timed):
            started, cpu_started = time.perf_counter(), time.process_time()
            if on:
                profiler.enable()
            # Urlencoded, as a browser's form and the HTTP driver post (the test client's default,
            # multipart, costs about 0.3 ms more to parse).
            response = (
                client.get(path)
                if data is None
                else client.post(path, urlencode(data), content_type="application/x-www-form-urlencoded")
            )
            if on:
                profiler.disable()
            walls[name].append((time.perf_counter() - started) * 1000)
            cpu_ms[name].append((time.process_time() - cpu_started) * 1000)
        queries[name].append(state["n"])
        sql_ms[name].append(state["ms"])
        return response

    client = Client()  # one handler (middleware loaded once, as in a gunicorn worker)
    for turn in range(rounds + 2):  # the first two warm up (templates, connection, imports)
        state["counted"] = turn >= 2
        client.cookies.clear()
        client.force_login(customers[turn % len(customers)])
        variant = variants[turn % len(variants)]
        r = step("add", "/cart/add/", {"variant": variant, "quantity": 1})
        assert r.status_code == 302, r.status_code
        r = step("checkout", "/checkout/")
        form = PlaceForm.of(r.content.decode())
        assert form is not None and form["payment_method"] == "wallet", form
        r = step("update", "/checkout/", {**form, "shipping_method": "express"})
        assert r.status_code == 200 and PlaceForm.of(r.content.decode()), r.status_code
        r = step("place", "/checkout/place/", form)
        assert r.status_code == 302 and "/orders/" in r["Location"], (r.status_code, r.get("Location"))
        levels = [m.level for m in get_messages(r.wsgi_request)]
        if not levels or max(levels) >= 30:  # not paid by placing: the pay request (counted when made)
            number = r["Location"].rstrip("/").rsplit("/", 1)[-1]
            r = step("pay", f"/payments/pay/{number}/", {"method": "wallet"})
            assert r.status_code == 302, r.status_code
        if turn < 2:  # warm-up rounds: not counted
            for s in steps:
                walls[s].clear(), queries[s].clear(), sql_ms[s].clear(), cpu_ms[s].clear()
    print(f"# Purchase, in-process: {rounds} rounds, single-threaded\n")
    print("| step | min ms | median ms | CPU ms (min) | CPU ms (median) | queries | SQL ms (median) |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    for s in steps:
        if not walls[s]:
            print(f"| {s} | not needed: placing paid every order | | | | | |")
            continue
        q = sorted(set(queries[s]))
        print(
            f"| {s} | {min(walls[s]):.1f} | {statistics.median(walls[s]):.1f} | "
            f"{min(cpu_ms[s]):.1f} | {statistics.median(cpu_ms[s]):.1f} | "
            f"{'–'.join(map(str, (q[0], q[-1]) if len(q) > 1 else q))} | {statistics.median(sql_ms[s]):.1f} |"
        )
    bought = [s for s in steps if s != "update" and walls[s]]
    total = sum(statistics.median(walls[s]) for s in bought)
    n_statements = sum(statistics.median(queries[s]) for s in bought)
    cpu = sum(statistics.median(cpu_ms[s]) for s in bought)
    print(f"| a purchase ({', '.join(bought)}) | | {total:.1f} | | {cpu:.1f} | {n_statements:.0f} | |")
    if sql_step:
        print(f"\n## SQL of {sql_step} (last round)\n")
        for i, (took, sql) in enumerate(statements, 1):
            print(f"{i:3} {took:6.2f} ms  {' '.join(sql.split())[:220]}")
    if cprofile_step:
        if os.environ.get("PSTATS_OUT"):  # the raw profile, for pstats' callers and callees
            profiler.dump_stats(os.environ["PSTATS_OUT"])
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(rows)
        print(f"\n## cProfile of {cprofile_step}, by cumulative time\n\n```\n{stream.getvalue()}\n```")
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(rows)
        print(f"\n## cProfile of {cprofile_step}, by own time\n\n```\n{stream.getvalue()}\n```")


def models_F(name: str):
    from django.db.models import F

    return F(name)


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--buyers", type=int, default=200)
    s.add_argument("--stock", type=int, default=300)
    s.add_argument("--hot", type=int, default=5)
    d = sub.add_parser("drive")
    d.add_argument("--base", required=True)
    d.add_argument("--buyers", type=int, default=200)
    d.add_argument("--seconds", type=float, default=20)
    d.add_argument("--threads", type=int, default=16)
    d.add_argument("--variants", required=True, help="comma-separated variant ids")
    d.add_argument("--sessions", default="", help="setup's output: buyers signed in beforehand")
    c = sub.add_parser("check")
    c.add_argument("--burst", default="", help="the burst's JSON: its orders must all be paid")
    r = sub.add_parser("restock")
    r.add_argument("--variants", required=True)
    r.add_argument("--free", type=int, required=True)
    b = sub.add_parser("burst")
    b.add_argument("--base", required=True)
    b.add_argument("--buyers", type=int, default=200)
    b.add_argument("--variants", required=True)
    b.add_argument("--prepare-threads", type=int, default=4)
    b.add_argument("--sessions", default="", help="setup's output: buyers signed in beforehand")
    p = sub.add_parser("profile")
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--variants", required=True, help="comma-separated variant ids")
    p.add_argument(
        "--cprofile", default="", help="one step to profile with cProfile: add, checkout, update, place, pay"
    )
    p.add_argument("--rows", type=int, default=40)
    p.add_argument("--sql", default="", help="one step whose statements are printed")
    o = sub.add_parser("report")
    o.add_argument("--runs", required=True, help="drive-N.json, ceiling-N.json, check-N.json (N from 1; 0: warm-up)")
    o.add_argument("--burst", default="")
    o.add_argument("--json", required=True)
    args = parser.parse_args()
    if getattr(args, "sessions", ""):
        with open(args.sessions) as f:
            SESSIONS.update(json.load(f)["sessions"])
    if args.command == "setup":
        setup(args.buyers, args.stock, args.hot)
    elif args.command == "drive":
        variants = [int(v) for v in args.variants.split(",")]
        json.dump(drive(args.base, args.buyers, args.seconds, args.threads, variants), sys.stdout)
    elif args.command == "profile":
        profile(args.rounds, [int(v) for v in args.variants.split(",")], args.cprofile, args.rows, args.sql)
    elif args.command == "restock":
        restock([int(v) for v in args.variants.split(",")], args.free)
    elif args.command == "report":
        sys.exit(report(args.runs, args.burst, args.json))
    elif args.command == "burst":
        variants = [int(v) for v in args.variants.split(",")]
        json.dump(burst(args.base, args.buyers, variants, args.prepare_threads), sys.stdout)
    else:
        check(args.burst)


if __name__ == "__main__":
    main()
