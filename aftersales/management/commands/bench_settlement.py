"""Benchmark of the monthly settlement (not a test; bin/bench-settlement runs it on a throwaway
PostgreSQL): a month of completed orders with `--lines` order lines (200,000 by default), each
paid at the gateway, one order in forty partly refunded, written with set-based SQL; then
`settle_month` for that month, timed, with the process's peak memory (ru_maxrss) before and
after. Run it for two sizes in two processes to see memory stay flat as the month grows.

The month is chosen from the size (`--month`, default 2025-01 + one month per size step), so
several sizes share one database without settling each other's lines. PostgreSQL only.
"""

import resource
import time
from datetime import date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.utils import timezone

from aftersales.management.commands.bench_backoffice import LINES_SQL  # the same lines, other orders
from aftersales.models import Statement, StatementLine
from aftersales.services import settlement
from catalog.models import CommissionRate, Department

LINES_PER_ORDER = 2.5  # 1 + id % 4 lines

ORDERS_SQL = """
INSERT INTO orders_order (
    recipient, phone, province, city, district, street, postcode, number, customer_id, cart_token,
    status, currency, subtotal, discount, shipping_fee, insurance_fee, total, shipping_method, insured,
    payment_method, coupon_code, note, placed_at, pay_by, paid_at, shipped_at, delivered_at,
    completed_at, cancelled_at, cancel_reason, hidden_by_customer)
SELECT '李四', '13900000000', '北京', '北京', '', '长安街 1 号', '', %(prefix)s || lpad(g::text, 9, '0'),
    c.ids[1 + g %% c.n], gen_random_uuid(), 'completed', 'CNY', 0, 0, 8.00, 0, 8.00, 'standard', false,
    'sandbox', '', '', completed - interval '4 days', completed - interval '4 days' + interval '30 minutes',
    completed - interval '4 days' + interval '5 minutes', completed - interval '3 days',
    completed - interval '1 day', completed, NULL, '', false
FROM (
    SELECT g, %(start)s + (%(span)s::bigint * (g - 1) / %(orders)s) * interval '1 second' AS completed
    FROM generate_series(1, %(orders)s) AS g
) AS s, (SELECT array_agg(id ORDER BY id) AS ids, count(*) AS n FROM shop_user WHERE email LIKE 'bench-%%') AS c
"""


# One order in eight has a 20.00 coupon (shared over its lines by the settlement).
TOTALS_SQL = """
UPDATE orders_order o SET subtotal = s.goods,
    discount = CASE WHEN o.id %% 8 = 0 AND s.goods >= 100 THEN 20.00 ELSE 0 END,
    total = s.goods - CASE WHEN o.id %% 8 = 0 AND s.goods >= 100 THEN 20.00 ELSE 0 END + o.shipping_fee
FROM (SELECT order_id, sum(line_total) AS goods FROM orders_orderline GROUP BY order_id) AS s
WHERE s.order_id = o.id AND o.number LIKE %(prefix)s || '%%'
"""

NOTES_SQL = """
INSERT INTO aftersales_refundnote (number, order_id, goods_amount, shipping_amount, insurance_amount, amount,
    destination, state, created_at, paid_at)
SELECT 'R' || o.number, o.id, 0, 0, 0, 0, 'original', 'paid', o.completed_at - interval '2 days',
    o.completed_at - interval '2 days'
FROM orders_order o WHERE o.number LIKE %(prefix)s || '%%' AND o.id %% 40 = 3
"""

NOTE_LINES_SQL = """
INSERT INTO aftersales_refundnoteline (note_id, order_line_id, quantity, amount)
SELECT n.id, l.id, 1, l.unit_price
FROM aftersales_refundnote n JOIN orders_order o ON o.id = n.order_id
JOIN LATERAL (SELECT x.* FROM orders_orderline x WHERE x.order_id = o.id ORDER BY x.id LIMIT 1) AS l ON true
WHERE n.number LIKE 'R' || %(prefix)s || '%%'
"""

NOTE_TOTALS_SQL = """
UPDATE aftersales_refundnote n SET goods_amount = s.amount, amount = s.amount
FROM (SELECT note_id, sum(amount) AS amount FROM aftersales_refundnoteline GROUP BY note_id) AS s
WHERE s.note_id = n.id AND n.number LIKE 'R' || %(prefix)s || '%%'
"""

# The gateway captured each order's total; what the refund notes gave back went back through it.
PAYMENTS_SQL = """
INSERT INTO payments_payment (order_id, purpose, provider, reference, transaction_id, amount, currency, state,
    refunded, created_at, captured_at)
SELECT o.id, 'order', 'sandbox', 'P' || o.number, 'T' || o.number, o.total, 'CNY', 'captured',
    coalesce((SELECT sum(n.amount) FROM aftersales_refundnote n WHERE n.order_id = o.id), 0), o.paid_at, o.paid_at
FROM orders_order o WHERE o.number LIKE %(prefix)s || '%%'
"""


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


class Command(BaseCommand):
    help = "Build a month of completed orders (200,000 lines by default) and time settle_month on it."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--lines", type=int, default=200_000)
        parser.add_argument("--month", default="", help="YYYY-MM (default: from the size)")
        parser.add_argument("--customers", type=int, default=5_000)
        parser.add_argument(
            "--runs", type=int, default=2, help="runs of the month (the first settles, the next rewrite)"
        )

    def handle(self, *args, lines: int, month: str, customers: int, runs: int, **options) -> None:
        month_start = settlement.month_parse(month) if month else date(2025, 1 + min(lines // 100_000, 11), 1)
        prefix = f"BX{month_start:%y%m}"
        have = connection.cursor()
        have.execute("SELECT count(*) FROM orders_orderline l JOIN orders_order o ON o.id = l.order_id "
                     "WHERE o.number LIKE %s", [prefix + "%"])  # fmt: skip
        built = have.fetchone()[0]
        if built < lines * 0.95:
            self.build(prefix=prefix, month=month_start, lines=lines, customers=customers)
        else:
            self.stdout.write(f"Reusing {built:,} order lines of {month_start:%Y-%m}.")
        for department in Department.objects.all():
            CommissionRate.objects.get_or_create(
                department=department, valid_from=date(2024, 1, 1), defaults={"rate": "0.0600"}
            )
        before = peak_mb()
        self.stdout.write(f"\nsettle_month {month_start:%Y-%m}: peak memory before the run {before:.0f} MB")
        self.stdout.write("| run | lines | seconds | peak MB (process) | payable |")
        self.stdout.write("|---|---:|---:|---:|---:|")
        for run in range(1, runs + 1):
            started = time.perf_counter()
            outcome = settlement.settle_month(month=month_start)
            seconds = time.perf_counter() - started
            self.stdout.write(
                f"| {run} | {outcome.sale_lines + outcome.clawback_lines:,} | {seconds:.1f} | {peak_mb():.0f} | "
                f"{outcome.totals.payable:,} |"
            )
        if not runs:
            return
        statements = Statement.objects.filter(month=month_start)
        self.stdout.write(
            f"\n{statements.count()} statements, {StatementLine.objects.filter(statement__in=statements).count():,}"
            f" lines; the reconciliation:\n{outcome.report}"
        )

    def step(self, label: str, sql: str, **params) -> None:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            count = cursor.rowcount
        self.stdout.write(f"  {label}: {count:,} rows in {time.perf_counter() - started:.1f} s")

    def build(self, *, prefix: str, month: date, lines: int, customers: int) -> None:
        orders = int(lines / LINES_PER_ORDER)
        # Completed from 7 days before the month to 8 days before its end: all due within it.
        start = timezone.make_aware(datetime.combine(month, datetime.min.time())) - timedelta(days=7)
        span = 27 * 86400
        self.stdout.write(f"Building {orders:,} completed orders ({lines:,} lines) due in {month:%Y-%m}:")
        User = get_user_model()
        existing = User.objects.filter(email__startswith="bench-").count()
        User.objects.bulk_create(
            [
                User(email=f"bench-{n}@example.com", username=f"bench-{n}", password=UNUSABLE_PASSWORD_PREFIX)
                for n in range(existing, customers)
            ],
            batch_size=5000,
        )
        with transaction.atomic():
            self.step("orders", ORDERS_SQL, prefix=prefix, start=start, span=span, orders=orders)
            self.step("order lines", LINES_SQL, prefix=prefix)
            self.step("order totals", TOTALS_SQL, prefix=prefix)
            self.step("refund notes", NOTES_SQL, prefix=prefix)
            self.step("refund lines", NOTE_LINES_SQL, prefix=prefix)
            self.step("refund totals", NOTE_TOTALS_SQL, prefix=prefix)
            self.step("payments", PAYMENTS_SQL, prefix=prefix)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
