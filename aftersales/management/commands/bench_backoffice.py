"""Benchmark of the back office on a big shop (not a test; bin/bench-backoffice runs it on a
throwaway PostgreSQL): a year of orders with `--lines` order lines (1,000,000 by default) written
with set-based SQL (generate_series), parcels and refund notes for them, the daily sales rollup
rebuilt from them; then the admin dashboard and a month's sales report rendered through the
Django test client, `--runs` times each: the median, the slowest and the number of queries.

Reuses what it wrote before: with the lines already there (orders numbered BO…) it only times.
PostgreSQL only (gen_random_uuid, generate_series).
"""

import statistics
import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from aftersales.services.reports import daily_sales_rebuild_all
from catalog.models import ProductVariant
from fulfillment.models import Warehouse
from orders.models import DailySales, OrderLine

PREFIX = "BO"
LINES_PER_ORDER = 2.5  # 1 + id % 4 lines: 1, 2, 3, 4 in turn

ORDERS_SQL = """
INSERT INTO orders_order (
    recipient, phone, province, city, district, street, postcode, number, customer_id, cart_token,
    status, currency, subtotal, discount, shipping_fee, insurance_fee, total, shipping_method, insured,
    payment_method, coupon_code, note, placed_at, pay_by, paid_at, shipped_at, delivered_at,
    completed_at, cancelled_at, cancel_reason, hidden_by_customer)
SELECT '张三', '13800000000', '上海', '上海', '', '人民路 1 号', '', %(prefix)s || lpad(g::text, 10, '0'),
    c.ids[1 + g %% c.n], gen_random_uuid(),
    CASE WHEN g %% 50 = 0 THEN 'cancelled' WHEN g %% 50 = 1 THEN 'closed'
         WHEN placed < %(now)s - interval '15 days' THEN 'completed'
         WHEN placed < %(now)s - interval '3 days' THEN 'shipped' ELSE 'paid' END,
    'CNY', 0, 0, 10.00, 0, 10.00, 'standard', false,
    CASE WHEN g %% 10 = 0 THEN 'cod' ELSE 'sandbox' END, '', '', placed, placed + interval '30 minutes',
    CASE WHEN g %% 50 = 0 THEN NULL ELSE placed + interval '5 minutes' END,
    CASE WHEN g %% 50 > 1 AND placed < %(now)s - interval '3 days' THEN placed + interval '1 day' END,
    CASE WHEN g %% 50 > 1 AND placed < %(now)s - interval '15 days' THEN placed + interval '3 days' END,
    CASE WHEN g %% 50 > 1 AND placed < %(now)s - interval '15 days' THEN placed + interval '10 days' END,
    CASE WHEN g %% 50 = 0 THEN placed + interval '30 minutes' END, '', false
FROM (
    SELECT g, %(start)s + (%(span)s::bigint * (g - 1) / %(orders)s) * interval '1 second' AS placed
    FROM generate_series(1, %(orders)s) AS g
) AS s, (SELECT array_agg(id ORDER BY id) AS ids, count(*) AS n FROM shop_user WHERE email LIKE 'bench-%%') AS c
"""

LINES_SQL = """
WITH v AS (
    SELECT row_number() OVER (ORDER BY pv.id) - 1 AS i, pv.id, pv.product_id, p.department_id,
           left(p.name, 200) AS name, left(p.name_en, 200) AS name_en, pv.sku, pv.price
    FROM catalog_productvariant pv JOIN catalog_product p ON p.id = pv.product_id
), n AS (SELECT count(*) AS c FROM v)
INSERT INTO orders_orderline (order_id, variant_id, product_id_snapshot, department_id_snapshot, product_name,
    variant_label, product_name_en, variant_label_en, sku, unit_price, quantity, line_total, weight_grams, image)
SELECT o.id, v.id, v.product_id, v.department_id, v.name, '', v.name_en, '', v.sku, v.price, 1 + (o.id + k) %% 3,
    v.price * (1 + (o.id + k) %% 3), 0, ''
FROM orders_order o CROSS JOIN generate_series(0, 3) AS k CROSS JOIN n
JOIN v ON v.i = (o.id * 7919 + k * 104729) %% n.c
WHERE o.number LIKE %(prefix)s || '%%' AND k <= o.id %% 4
ON CONFLICT DO NOTHING
"""

TOTALS_SQL = """
UPDATE orders_order o SET subtotal = s.goods,
    discount = CASE WHEN o.id %% 8 = 0 AND s.goods >= 100 THEN 20.00 ELSE 0 END,
    coupon_code = CASE WHEN o.id %% 8 = 0 AND s.goods >= 100 THEN 'BENCH20' ELSE '' END,
    total = s.goods - CASE WHEN o.id %% 8 = 0 AND s.goods >= 100 THEN 20.00 ELSE 0 END + o.shipping_fee
FROM (SELECT order_id, sum(line_total) AS goods FROM orders_orderline GROUP BY order_id) AS s
WHERE s.order_id = o.id AND o.number LIKE %(prefix)s || '%%'
"""

# Parcels: one per paid order, from one warehouse; open ones for orders awaiting shipment.
SHIPMENTS_SQL = """
INSERT INTO fulfillment_shipment (number, order_id, warehouse_id, status, kind, carrier, tracking_number,
    cod_amount, cod_collected, signed_by, created_at, packed_at, shipped_at, delivered_at, poll_failures,
    last_poll_error)
SELECT 'BS' || o.id, o.id, %(warehouse)s,
    CASE o.status WHEN 'paid' THEN (CASE WHEN o.id %% 3 = 0 THEN 'packed' ELSE 'pending' END)
                  WHEN 'shipped' THEN 'in_transit' WHEN 'closed' THEN 'cancelled' ELSE 'delivered' END,
    'outbound', 'own_fleet', CASE WHEN o.shipped_at IS NULL THEN '' ELSE 'BT' || o.id END, 0, NULL, '', o.paid_at,
    NULL, o.shipped_at, o.delivered_at, 0, ''
FROM orders_order o WHERE o.number LIKE %(prefix)s || '%%' AND o.paid_at IS NOT NULL
"""

# Refund notes: every closed order in full, and one unit of the first line of one order in 40.
NOTES_SQL = """
INSERT INTO aftersales_refundnote (number, order_id, goods_amount, shipping_amount, insurance_amount, amount,
    destination, state, created_at, paid_at)
SELECT 'BR' || o.id, o.id, 0, 0, 0, 0, 'original', 'paid',
    CASE WHEN o.status = 'closed' THEN o.paid_at + interval '2 hours' ELSE o.paid_at + interval '12 days' END,
    NULL
FROM orders_order o
WHERE o.number LIKE %(prefix)s || '%%' AND o.paid_at IS NOT NULL AND (o.status = 'closed' OR o.id %% 40 = 3)
    AND (o.status = 'closed' OR o.paid_at + interval '12 days' < %(now)s)
"""

NOTE_LINES_SQL = """
INSERT INTO aftersales_refundnoteline (note_id, order_line_id, quantity, amount)
SELECT n.id, l.id, CASE WHEN o.status = 'closed' THEN l.quantity ELSE 1 END,
    CASE WHEN o.status = 'closed' THEN l.line_total ELSE l.unit_price END
FROM aftersales_refundnote n JOIN orders_order o ON o.id = n.order_id
JOIN (SELECT x.*, row_number() OVER (PARTITION BY x.order_id ORDER BY x.id) AS k FROM orders_orderline x) AS l
    ON l.order_id = o.id
WHERE n.number LIKE 'BR%%' AND (o.status = 'closed' OR l.k = 1)
"""

NOTE_TOTALS_SQL = """
UPDATE aftersales_refundnote n SET goods_amount = s.amount, amount = s.amount
FROM (SELECT note_id, sum(amount) AS amount FROM aftersales_refundnoteline GROUP BY note_id) AS s
WHERE s.note_id = n.id AND n.number LIKE 'BR%%'
"""


class Command(BaseCommand):
    help = "Build a year of orders (1,000,000 lines by default) and time the admin dashboard and sales report."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--lines", type=int, default=1_000_000, help="order lines to build (default 1,000,000)")
        parser.add_argument("--runs", type=int, default=15, help="timed renders of each page (default 15)")
        parser.add_argument("--customers", type=int, default=20_000)

    def handle(self, *args, lines: int, runs: int, customers: int, **options) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("The back-office benchmark runs on PostgreSQL (DATABASE_URL).")
        if not ProductVariant.objects.exists() or not Warehouse.objects.exists():
            raise CommandError("Seed a catalogue first: manage.py seed_demo --products 2000")
        have = OrderLine.objects.filter(order__number__startswith=PREFIX).count()
        if have >= lines * 0.95:
            self.stdout.write(f"Reusing {have:,} order lines already built.")
        else:
            self.build(lines=lines, customers=customers)
        self.time_pages(runs=runs)

    def step(self, label: str, sql: str, **params) -> int:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(sql, {"prefix": PREFIX, **params})
            count = cursor.rowcount
        self.stdout.write(f"  {label}: {count:,} rows in {time.perf_counter() - started:.1f} s")
        return count

    def build(self, *, lines: int, customers: int) -> None:
        now = timezone.now().replace(microsecond=0)
        start = now - timedelta(days=365)
        orders = int(lines / LINES_PER_ORDER)
        self.stdout.write(f"Building {orders:,} orders ({lines:,} lines) over the year to {now:%Y-%m-%d}:")
        began = time.perf_counter()
        User = get_user_model()
        existing = User.objects.filter(email__startswith="bench-").count()
        User.objects.bulk_create(
            [
                User(
                    email=f"bench-{n}@example.com",
                    username=f"bench-{n}",
                    password=UNUSABLE_PASSWORD_PREFIX,  # nobody logs in as them
                    date_joined=start + timedelta(seconds=int(365 * 86400 * n / customers)),
                )
                for n in range(existing, customers)
            ],
            batch_size=5000,
        )
        warehouse = Warehouse.objects.order_by("pk").values_list("pk", flat=True).first()
        with transaction.atomic():
            params = {"now": now, "start": start, "span": 365 * 86400, "orders": orders}
            self.step("orders", ORDERS_SQL, **params)
            self.step("order lines", LINES_SQL)
            self.step("order totals", TOTALS_SQL)
            self.step("statistics", "ANALYZE orders_order, orders_orderline")
            self.step("parcels", SHIPMENTS_SQL, warehouse=warehouse)
            self.step("refund notes", NOTES_SQL, now=now)
            self.step("refund lines", NOTE_LINES_SQL)
            self.step("refund totals", NOTE_TOTALS_SQL)
        started = time.perf_counter()
        rows = daily_sales_rebuild_all()
        self.stdout.write(
            f"  daily sales rollup rebuilt from the orders: {DailySales.objects.count():,} rows "
            f"({rows:,} writes) in {time.perf_counter() - started:.1f} s"
        )
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        self.stdout.write(f"Built in {time.perf_counter() - began:.0f} s.")

    def time_pages(self, *, runs: int) -> None:
        User = get_user_model()
        admin, _created = User.objects.get_or_create(
            email="bench-admin@example.com",
            defaults={"is_staff": True, "is_superuser": True, "username": "bench-admin"},
        )
        client = Client()
        client.force_login(admin)
        today = timezone.localdate()
        month = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
        report = reverse("admin:orders_dailysales_changelist")
        pages = [
            ("dashboard (admin index)", reverse("admin:index")),
            (f"sales report, {month}, per product", f"{report}?month={month}"),
            (f"sales report, {month}, per variant", f"{report}?month={month}&by=variant"),
            (f"sales report, {month}, sorted by net", f"{report}?month={month}&o=-net"),
            ("sales report, 365 days, per product", f"{report}?start={today - timedelta(days=365)}&end={today}"),
            (f"sales report CSV, {month}, per variant", f"{report}?month={month}&by=variant&export=csv"),
        ]
        lines = OrderLine.objects.count()
        rollup = DailySales.objects.count()
        self.stdout.write(f"\n{lines:,} order lines, {rollup:,} rollup rows; {runs} runs each after 2 warm-ups:\n")
        self.stdout.write("| page | median ms | slowest ms | queries | size |")
        self.stdout.write("|---|---:|---:|---:|---:|")
        for label, url in pages:
            for _warm in range(2):
                client.get(url)
            timings = []
            for _run in range(runs):
                with CaptureQueriesContext(connection) as queries:
                    started = time.perf_counter()
                    response = client.get(url)
                    body = response.content
                    timings.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise CommandError(f"{url}: {response.status_code}")
            self.stdout.write(
                f"| {label} | {statistics.median(timings):.0f} | {max(timings):.0f} | {len(queries)} | "
                f"{len(body) // 1024} KB |"
            )
