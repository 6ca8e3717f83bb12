"""Checkout benchmark: many buyers placing and paying orders over HTTP, then a consistency check.

    python bench/checkout.py setup  --buyers N --stock S        (inside the Django project)
    python bench/checkout.py drive  --base URL --buyers N --seconds T --threads C
    python bench/checkout.py check                              (inside the Django project)

`setup` creates N customers (password "bench-pass-1234"), each with an address and a wallet,
and a few "hot" variants with S units in stock, fewer than the buyers want in total, so the run
also proves that nobody oversells. `drive` runs C threads; each logs a customer in, adds a hot
variant to the cart, reviews and places the order, and pays it from the wallet, until T seconds
pass. `check` compares orders with reserved stock.
"""

import argparse
import json
import os
import random
import re
import statistics
import sys
import threading
import time
from http.cookiejar import CookieJar
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, HTTPRedirectHandler, Request, build_opener

PASSWORD = "bench-pass-1234"  # noqa: S105 - throwaway benchmark accounts


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
    json.dump({"variants": [v.pk for v in variants]}, sys.stdout)


class Buyer:
    def __init__(self, base: str, email: str) -> None:
        self.base = base
        self.email = email
        self.jar = CookieJar()

        class NoRedirect(HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        self.http = build_opener(HTTPCookieProcessor(self.jar), NoRedirect)

    def csrf(self) -> str:
        return next((c.value for c in self.jar if c.name == "csrftoken"), "")

    def request(self, path: str, data: dict | None = None) -> tuple[int, str, str]:
        body = None
        headers = {"Referer": self.base + "/"}
        if data is not None:
            body = urlencode({**data, "csrfmiddlewaretoken": self.csrf()}, doseq=True).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            with self.http.open(Request(self.base + path, data=body, headers=headers), timeout=30) as response:  # noqa: S310 - loopback http only
                return response.status, response.read().decode(), response.headers.get("Location", "")
        except HTTPError as error:
            return error.code, error.read().decode(errors="replace"), error.headers.get("Location", "")

    def login(self) -> None:
        self.request("/account/login/")
        status, _body, _location = self.request("/account/login/", {"username": self.email, "password": PASSWORD})
        assert status == 302, f"login failed for {self.email}: {status}"

    def buy(self, variant: int) -> tuple[str, float | None]:
        """One purchase. Returns (outcome, seconds the place-order POST took)."""
        status, _b, _l = self.request("/cart/add/", {"variant": variant, "quantity": 1})
        if status != 302:
            return f"add:{status}", None
        status, body, _l = self.request("/checkout/")
        match = re.search(r'name="address" value="(\d+)"', body)
        if status != 200 or not match:
            return f"checkout:{status}", None
        choice = {"address": match.group(1), "shipping_method": "standard", "payment_method": "wallet"}
        status, body, _l = self.request("/checkout/", choice)
        token = re.search(r'name="cart" value="([^"]+)"', body)
        if status != 200 or not token:
            return "review", None
        started = time.perf_counter()
        status, _b, location = self.request("/checkout/place/", {**choice, "cart": token.group(1), "insured": "0"})
        took = time.perf_counter() - started
        if status != 302 or "/orders/" not in location:
            # Out of stock sends the buyer back to the cart with a message; empty the cart.
            for line in re.findall(r"/cart/line/(\d+)/remove/", self.request("/cart/")[1]):
                self.request(f"/cart/line/{line}/remove/", {})
            return "refused", took
        number = location.rstrip("/").rsplit("/", 1)[-1]
        status, _b, _l = self.request(f"/payments/pay/{number}/", {"method": "wallet"})
        return ("paid" if status == 302 else f"pay:{status}"), took


def drive(base: str, buyers: int, seconds: float, threads: int, variants: list[int]) -> dict:
    window = {"start": 0.0, "stop": 0.0}

    def start_clock() -> None:  # run once, by the barrier, before any buyer goes on
        window["start"] = time.monotonic()
        window["stop"] = window["start"] + seconds

    ready = threading.Barrier(threads + 1, action=start_clock)  # every buyer logged in first
    lock = threading.Lock()
    outcomes: dict[str, int] = {}
    latencies: list[float] = []

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
            buyer.login()
            sessions.append(buyer)
        ready.wait(timeout=300)
        turn = 0
        while time.monotonic() < window["stop"]:
            buyer = sessions[turn % len(sessions)]
            turn += 1
            outcome, took = buyer.buy(rng.choice(variants))
            with lock:
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
    for w in workers:
        w.join(timeout=seconds + 120)
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "seconds": round(elapsed, 1),
        "threads": threads,
        "outcomes": outcomes,
        "orders_per_second": round(outcomes.get("paid", 0) / elapsed, 1),
        "place_p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
        "place_p95_ms": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 1) if latencies else None,
    }


def check() -> None:
    django_setup()
    from django.db.models import Sum

    from fulfillment.models import Stock
    from orders.models import Order, OrderLine

    # Units of orders not yet shipped are exactly what stock holds reserved.
    live = OrderLine.objects.filter(order__status__in=[Order.Status.PENDING_PAYMENT, Order.Status.PAID])
    ordered = dict(live.values_list("variant_id").annotate(n=Sum("quantity")).values_list("variant_id", "n"))
    reserved = dict(
        Stock.objects.filter(variant_id__in=ordered).values_list("variant_id").annotate(n=Sum("reserved"))
        .values_list("variant_id", "n")
    )  # fmt: skip
    oversold = Stock.objects.filter(reserved__gt=models_F("on_hand")).count()
    result = {
        "orders": Order.objects.count(),
        "paid": Order.objects.filter(status=Order.Status.PAID).count(),
        "units_ordered": sum(ordered.values()),
        "units_reserved": sum(reserved.values()),
        "mismatched_variants": sorted(v for v in ordered if ordered[v] != reserved.get(v, 0)),
        "oversold_rows": oversold,
        "negative_rows": Stock.objects.filter(reserved__lt=0).count(),
    }
    json.dump(result, sys.stdout)


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
    sub.add_parser("check")
    args = parser.parse_args()
    if args.command == "setup":
        setup(args.buyers, args.stock, args.hot)
    elif args.command == "drive":
        variants = [int(v) for v in args.variants.split(",")]
        json.dump(drive(args.base, args.buyers, args.seconds, args.threads, variants), sys.stdout)
    else:
        check()


if __name__ == "__main__":
    main()
