"""What one request costs in CPU: the web process's Python and the database's, single-threaded.

    bench/costs.py measure --mode uncached|off|warm --urls urls.json --out costs-MODE.json
    bench/costs.py report costs-*.json --md var/bench/costs.md --json var/bench/costs.json

Run by bin/bench with BENCH_COSTS=1, against the seeded database (DATABASE_URL) and Redis
(CACHE_URL), in-process through the full WSGI handler and middleware as gunicorn runs it. Per
request, the minimum over --rounds of the mean of --repeat requests (other load only adds time):

- python ms: CPU time of this process (time.process_time) per request: what a web core spends;
- sql ms: wall time of the queries as the driver saw them (round trips included), and their count;
- pg ms: CPU time of the PostgreSQL server (every process of the cluster, from /proc) per
  request: what a database core spends (its clock ticks are 10 ms: hence many requests per round);
- wall ms.

Cases: the catalogue pages of bench/pick_urls.py and the ceiling in the given mode (uncached:
page and facet caches off; off: page cache off, the rest cached; warm: whole pages from the page
cache); with --mode off also a purchase (add to cart, the one-page confirm, place and pay from the
wallet, the order page: four requests as a customer's browser makes them), a login (the POST,
with the configured password hasher) and the Celery task that sends an order mail from the outbox
(orders.services.notification_deliver, with an in-memory mail backend).

`report` turns these into requests per second per web core, per database core and per worker
process, for docs/scaling.md.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(os.environ.get("BENCH_SRC") or Path(__file__).resolve().parent.parent)


def setup(mode: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    os.environ["PAGE_CACHE_ENABLED"] = "1" if mode == "warm" else "0"
    if mode == "uncached":
        os.environ["PAGE_CACHE_URL"] = "dummycache://"
    os.environ["EMAIL_URL"] = "memorymail://"  # the mail task's sends stay in memory
    os.environ.setdefault("BENCH_VIEWS_ENABLED", "1")
    import django

    django.setup()


class PgCpu:
    """CPU seconds used by the PostgreSQL cluster of DATABASE_URL: its postmaster's tree,
    including children that exited (the postmaster's cutime), read as root from /proc."""

    def __init__(self) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        try:
            import psutil

            self.postmaster = psutil.Process(backend).parent()
            self.postmaster.cpu_times()
        except Exception:  # not on this machine or not readable: pg ms stays unknown
            self.postmaster = None

    def seconds(self) -> float | None:
        if self.postmaster is None:
            return None
        import psutil

        total = 0.0
        t = self.postmaster.cpu_times()
        total += t.user + t.system + t.children_user + t.children_system
        for child in self.postmaster.children():
            try:
                c = child.cpu_times()
                total += c.user + c.system
            except psutil.Error:
                continue
        return total


class Meter:
    def __init__(self) -> None:
        from django.db import connection

        self.connection = connection
        self.pg = PgCpu()
        self.sql_seconds = 0.0
        self.queries = 0

    def _wrapper(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.sql_seconds += time.perf_counter() - started
            self.queries += 1

    def measure(self, fn, *, repeat: int, rounds: int, per: int = 1) -> dict:
        """fn() `repeat` times per round; per: requests one call of fn makes."""
        fn()
        fn()  # warm: templates, jieba, connections, caches
        best = None
        for _ in range(rounds):
            self.sql_seconds, self.queries = 0.0, 0
            pg0 = self.pg.seconds()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            with self.connection.execute_wrapper(self._wrapper):
                for _ in range(repeat):
                    fn()
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            pg1 = self.pg.seconds()
            n = repeat * per
            row = {
                "wall_ms": wall / n * 1000,
                "python_ms": cpu / n * 1000,
                "sql_ms": self.sql_seconds / n * 1000,
                "queries": self.queries / n,
                "pg_ms": None if pg0 is None or pg1 is None else (pg1 - pg0) / n * 1000,
            }
            if best is None:
                best = row
            else:  # min of each: other load only ever adds
                best = {
                    k: (v if best[k] is None else min(best[k], v)) if v is not None else best[k] for k, v in row.items()
                }
        return {k: None if v is None else round(v, 2) for k, v in best.items()} | {"requests": per}


def wsgi_get(handler, factory, path: str) -> int:
    environ = factory.get(path, HTTP_HOST="127.0.0.1").environ
    status = []
    b"".join(handler(environ, lambda s, h, *_: status.append(s)))
    code = int(status[0].split()[0])
    if code != 200:
        raise RuntimeError(f"{path}: HTTP {code}")
    return code


def purchase_case():
    """A customer with a wallet, a variant with plenty of stock; one purchase per call."""
    import re
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.test import Client

    from catalog.models import ProductVariant
    from fulfillment.models import Stock
    from fulfillment.services import stock_set_on_hand
    from payments.models import Wallet, WalletEntry
    from shop.models import Address

    User = get_user_model()
    user = User.objects.create_user(username="costs@bench.example", email="costs@bench.example", password="x" * 12)
    Address.objects.create(
        user=user, recipient="买家", phone="13800138000", province="上海市", city="上海市", district="黄浦区",
        province_code="310000", city_code="310100", district_code="310101", street="测试路1号", is_default=True,
    )  # fmt: skip
    wallet, _created = Wallet.objects.get_or_create(user=user)  # a new customer may get one at once
    wallet.balance = Decimal("10000000.00")
    wallet.save(update_fields=["balance"])
    WalletEntry.objects.create(wallet=wallet, amount=wallet.balance, balance_after=wallet.balance, reason="top_up")
    variants = list(
        ProductVariant.objects.filter(is_active=True, product__is_active=True)
        .exclude(stocks__reserved__gt=0)
        .order_by("pk")[:5]
    )
    for variant in variants:
        row = Stock.objects.filter(variant=variant).order_by("warehouse_id").first()
        stock_set_on_hand(warehouse_id=row.warehouse_id, variant_id=variant.pk, on_hand=100000)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    turn = [0]

    def buy() -> None:
        variant = variants[turn[0] % len(variants)]
        turn[0] += 1
        r = client.post("/cart/add/", {"variant": variant.pk, "quantity": 1})
        assert r.status_code == 302, r.status_code
        r = client.get("/checkout/")  # the one-page confirm: choices made, totals shown, the cart token
        page = r.content.decode()
        address = re.search(r'name="address" value="(\d+)" checked', page).group(1)
        choice = {"address": address, "shipping_method": "standard", "payment_method": "wallet"}
        token = re.search(r'name="cart" value="([^"]+)"', page).group(1)
        total = re.search(r'name="total" value="([^"]+)"', page).group(1)  # placed only at the total shown
        r = client.post("/checkout/place/", {**choice, "cart": token, "insured": "0", "total": total})
        assert r.status_code == 302 and "/orders/" in r["Location"], (r.status_code, r.get("Location"))
        r = client.get(r["Location"])
        assert r.status_code == 200, r.status_code

    return buy


def login_case():
    from django.contrib.auth import get_user_model
    from django.test import Client

    User = get_user_model()
    password = "costs-login-1234"  # noqa: S105 - throwaway account
    User.objects.create_user(username="login@bench.example", email="login@bench.example", password=password)
    client = Client(HTTP_HOST="127.0.0.1")

    def login() -> None:
        client.cookies.clear()
        r = client.post("/account/login/", {"username": "login@bench.example", "password": password})
        assert r.status_code == 302, r.status_code

    return login


def mail_case():
    """Pending order mails copied from an order's own, each sent by the task's service."""
    from django.core import mail

    from orders.models import Notification
    from orders.services import notification_deliver

    # An order mail of the purchases above (measured first).
    template = Notification.objects.filter(order__isnull=False).order_by("-pk").first()
    if template is None:
        raise RuntimeError("no order mail to copy: the purchase case must run first")
    made = [0]

    def send() -> None:
        made[0] += 1
        n = Notification.objects.create(
            kind=template.kind,
            key=f"costs:{time.time_ns()}:{made[0]}",
            order=template.order,
            user=template.user,
            to="costs@bench.example",
            language=template.language,
            context=template.context,
        )
        assert notification_deliver(notification_id=n.pk)
        mail.outbox.clear()

    return send


def measure(args: argparse.Namespace) -> None:
    setup(args.mode)
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import RequestFactory

    handler, factory = WSGIHandler(), RequestFactory()
    meter = Meter()
    picked = json.loads(Path(args.urls).read_text())
    pages = [{"name": "ceiling", "path": "/bench/ceiling/?kb=40"}, *picked["urls"]]
    rows = []
    for page in pages:
        row = {"mode": args.mode, "case": page["name"], "path": page["path"]}
        try:
            row.update(
                meter.measure(
                    lambda p=page["path"]: wsgi_get(handler, factory, p), repeat=args.repeat, rounds=args.rounds
                )
            )
        except Exception as exc:
            row["error"] = repr(exc)[:200]
        print(json.dumps(row, ensure_ascii=False), file=sys.stderr, flush=True)
        rows.append(row)
    if args.mode == "off":
        for name, make, per, repeat in (
            ("purchase (5 requests)", purchase_case, 5, max(3, args.repeat // 4)),
            ("login", login_case, 1, max(3, args.repeat // 2)),
            ("order mail task", mail_case, 1, args.repeat),
        ):
            row = {"mode": args.mode, "case": name, "path": ""}
            try:
                row.update(meter.measure(make(), repeat=repeat, rounds=args.rounds, per=per))
            except Exception as exc:
                row["error"] = repr(exc)[:200]
            print(json.dumps(row, ensure_ascii=False), file=sys.stderr, flush=True)
            rows.append(row)
    Path(args.out).write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n")


def _fmt(ms: float | None) -> str:
    return "—" if ms is None else f"{ms:.1f}"


def _rate(ms: float | None) -> str:
    return "—" if not ms else f"{1000 / ms:,.0f}"


def report(args: argparse.Namespace) -> None:
    rows = [r for path in args.files if Path(path).exists() for r in json.loads(Path(path).read_text())]
    lines = [
        "| mode | case | wall ms | Python CPU ms | SQL ms (queries) | PostgreSQL CPU ms | per web core /s "
        "| per DB core /s |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['mode']} | {r['case']} | failed: {r['error']} | | | | | |")
            continue
        per = r.get("requests", 1)
        # Per request for pages; per purchase (5 requests) for the purchase: per core rates in the unit of the row.
        py, pg = r["python_ms"] * per, (r["pg_ms"] or 0) * per
        lines.append(
            f"| {r['mode']} | {r['case']} | {r['wall_ms']:.1f} | {r['python_ms']:.1f} | {r['sql_ms']:.1f} "
            f"({r['queries']:.1f}) | {_fmt(r['pg_ms'])} | {_rate(py)} | {_rate(pg)} |"
        )
    text = "\n".join(lines)
    print(text)
    if args.md:
        Path(args.md).write_text(text + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--mode", choices=["uncached", "off", "warm"], required=True)
    m.add_argument("--urls", required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--rounds", type=int, default=5)
    m.add_argument("--repeat", type=int, default=20)
    r = sub.add_parser("report")
    r.add_argument("files", nargs="+")
    r.add_argument("--md")
    r.add_argument("--json")
    args = parser.parse_args()
    measure(args) if args.command == "measure" else report(args)


if __name__ == "__main__":
    main()
