"""Server time of every admin page we wrote, on the data at hand (bin/admin-timings runs it on the
`make run` demo data; the figures are in docs/admin-timings.md). Not a test.

Each of our apps' admins (catalog, orders, payments, fulfillment, aftersales, shop): its change
list and the change page of its first object; then the pages of our own (dashboard, sales
report, settlement, statement lines, pick list, packing slip, delivery note, wallet
adjustment …). Each page is rendered through the Django test client as a superuser, `--runs`
times after a warm-up: the median and slowest server time, the queries and the size, and the
largest <select> on the page (a drop-down of hundreds of options is what made the product page
slow). Pages over `--budget` ms are flagged.
"""

import logging
import re
import statistics
import time

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

OUR_APPS = ("catalog", "orders", "payments", "fulfillment", "aftersales", "shop", "cart")
SELECT = re.compile(r"<select\b.*?</select>", re.S)


def largest_select(html: str) -> int:
    """Options in the biggest drop-down of the page."""
    return max((block.count("<option") for block in SELECT.findall(html)), default=0)


def _first_pk(model):
    return model._default_manager.order_by("pk").values_list("pk", flat=True).first()


def pages() -> list[tuple[str, str]]:
    """(label, url) of every admin page we wrote that has something to show."""
    found = [("dashboard (admin index)", reverse("admin:index"))]
    for model in sorted(admin.site._registry, key=lambda model: model._meta.label):
        meta = model._meta
        if meta.app_label not in OUR_APPS:
            continue
        info = (meta.app_label, meta.model_name)
        found.append((f"{meta.label} list", reverse("admin:{}_{}_changelist".format(*info))))
        pk = _first_pk(model)
        if pk is not None:
            found.append((f"{meta.label} change", reverse("admin:{}_{}_change".format(*info), args=[pk])))
    found += _custom_pages()
    return found


def _custom_pages() -> list[tuple[str, str]]:
    from aftersales.models import Statement
    from fulfillment.models import Shipment, Warehouse
    from payments.models import Wallet

    today = timezone.localdate()
    month = today.strftime("%Y-%m")
    extra = [
        (f"sales report {month}", reverse("admin:orders_dailysales_changelist") + f"?month={month}"),
        (
            f"sales report {month} per variant",
            reverse("admin:orders_dailysales_changelist") + f"?month={month}&by=variant",
        ),
        ("settlement run", reverse("admin:aftersales_statement_run")),
    ]
    statement = _first_pk(Statement)
    if statement:
        extra.append(("statement lines", reverse("admin:aftersales_statement_lines", args=[statement])))
    warehouse = Warehouse.objects.filter(shipments__status=Shipment.Status.PENDING).order_by("pk").first()
    if warehouse:
        url = reverse("admin:fulfillment_shipment_pick_list") + f"?warehouse={warehouse.pk}"
        extra += [("pick list", url), ("pick list PDF", url + "&format=pdf")]
    parcel = Shipment.objects.exclude(kind=Shipment.Kind.RETURN).order_by("pk").values_list("pk", flat=True).first()
    if parcel:
        for name in ("packing_slip", "delivery_note"):
            url = reverse(f"admin:fulfillment_shipment_{name}", args=[parcel])
            label = name.replace("_", " ")
            extra += [(label, url), (f"{label} PDF", url + "?format=pdf")]
    wallet = _first_pk(Wallet)
    if wallet:
        extra.append(("wallet adjustment", reverse("admin:payments_wallet_adjust", args=[wallet])))
    return extra


class Command(BaseCommand):
    help = "Render every admin page we wrote and print its server time (median of --runs), queries and size."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--runs", type=int, default=5, help="timed renders of each page (default 5)")
        parser.add_argument("--budget", type=int, default=300, help="milliseconds a page may take (default 300)")
        parser.add_argument("--only", default="", help="only pages whose label contains this")

    def handle(self, *args, runs: int, budget: int, only: str, **options) -> None:
        User = get_user_model()
        user = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
        if user is None:
            user = User.objects.create_superuser(email="timings-admin@example.com", password=None)
        client = Client()
        client.force_login(user)
        # A page that refuses (403 by design, say the sales report's change page) is listed with
        # its status, not with a traceback.
        logging.getLogger("django.request").setLevel(logging.CRITICAL)
        try:
            listed = pages()
        except NoReverseMatch as missing:  # a page renamed: say which
            self.stderr.write(f"cannot name a page: {missing}")
            raise SystemExit(1) from missing
        over = 0
        self.stdout.write(f"{runs} runs each after a warm-up; budget {budget} ms\n")
        # Wall time includes waiting for the CPU on a busy machine; Python's CPU time (the
        # Django process only: not PostgreSQL's) does not, and tells a slow page from a busy box.
        self.stdout.write("| page | median ms | slowest ms | Python CPU ms | queries | size | largest select |")
        self.stdout.write("|---|---:|---:|---:|---:|---:|---:|")
        for label, url in listed:
            if only and only not in label:
                continue
            client.get(url)  # warm-up: templates, translations, caches
            timings, cpu, status, body, queries = [], [], 0, b"", 0
            for _run in range(runs):
                with CaptureQueriesContext(connection) as captured:
                    started, started_cpu = time.perf_counter(), time.process_time()
                    response = client.get(url)
                    body = response.content
                    timings.append((time.perf_counter() - started) * 1000)
                    cpu.append((time.process_time() - started_cpu) * 1000)
                status, queries = response.status_code, len(captured)
            median = statistics.median(timings)
            flag = " **over**" if median > budget else ""
            over += bool(flag)
            text = body.decode("utf-8", "replace") if response.get("Content-Type", "").startswith("text/") else ""
            shown = label if status == 200 else f"{label} (HTTP {status})"
            self.stdout.write(
                f"| {shown} | {median:.0f}{flag} | {max(timings):.0f} | {statistics.median(cpu):.0f} | {queries} | "
                f"{len(body) / 1024:.0f} KB | "
                f"{largest_select(text)} |"
            )
        self.stdout.write(f"\n{over} page(s) over {budget} ms.")
