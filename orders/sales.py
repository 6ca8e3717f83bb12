"""The daily sales rollup (orders.models.DailySales): kept as orders are paid and refunds are
written, rebuilt from the orders themselves on demand.

Why a rollup: the sales report and the admin dashboard sum a month of a big shop (a million order
lines a year) by product, department, category and brand; each line's gross needs its share of
its order's discount, which SQL would compute with window functions over every line of the
period. A row per day, variant and department makes a month a few thousand rows whatever the
number of orders (docs/architecture.md, "Reports and dashboard").

Rows are added to, never rewritten (`INSERT … ON CONFLICT … DO UPDATE SET x = x + excluded.x`),
so that two payments on the same day and variant cannot lose each other's figures. Refund rows
come from after-sales (a higher app, aftersales.services.reports), through `daily_sales_add`.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from orders.models import DailySales, DailySalesTotal, Order, OrderLine
from shop.core.inserts import rows_along, rows_together_open

ZERO = Decimal("0.00")
PAID_STATUSES = (Order.Status.PAID, Order.Status.SHIPPED, Order.Status.COMPLETED, Order.Status.CLOSED)


@dataclass
class SalesRow:
    """One addition to a DailySales row."""

    day: object  # datetime.date
    variant_id: int
    product_id: int
    department_id: int
    units: int = 0
    orders: int = 0
    product_orders: int = 0
    gross: Decimal = ZERO
    refunded_units: int = 0
    refunds: Decimal = ZERO

    @property
    def key(self) -> tuple:
        return (self.day, self.variant_id, self.department_id)

    def merge(self, other: "SalesRow") -> None:
        self.units += other.units
        self.orders += other.orders
        self.product_orders += other.product_orders
        self.gross += other.gross
        self.refunded_units += other.refunded_units
        self.refunds += other.refunds


_COLUMNS = (
    "day", "variant_id", "product_id", "department_id", "units", "orders", "product_orders", "gross",
    "refunded_units", "refunds",
)  # fmt: skip
_ADDED = ("units", "orders", "product_orders", "gross", "refunded_units", "refunds")


def _lock_order(key: tuple) -> tuple:
    day, variant_id, department_id = key
    return (day, variant_id or 0, department_id)


def daily_sales_add(rows: Iterable[SalesRow], *, batch: int = 500) -> int:
    """Add the rows' figures to the rollup (merged by day, variant and department first).
    Returns the number of rollup rows touched."""
    merged: dict[tuple, SalesRow] = {}
    for row in rows:
        if row.key in merged:
            merged[row.key].merge(row)
        else:
            merged[row.key] = SalesRow(**{c: getattr(row, c) for c in _COLUMNS})
    if not merged:
        return 0
    table = DailySales._meta.db_table
    updates = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in _ADDED)
    row_sql = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"
    # Rows in key order, in both tables: two payments writing the same rows in opposite
    # orders (their carts' line order) would otherwise each lock one and wait for the other.
    ordered = [merged[key] for key in sorted(merged, key=_lock_order)]
    values = [tuple(getattr(row, c) for c in _COLUMNS) for row in ordered]
    statements = [
        (
            f"INSERT INTO {table} ({', '.join(_COLUMNS)}) VALUES {', '.join([row_sql] * len(chunk))} "  # noqa: S608
            f"ON CONFLICT (day, variant_id, department_id) DO UPDATE SET {updates}",
            [value for row in chunk for value in row],
        )
        # Many rows per statement: a rebuild writes hundreds of thousands of them.
        for chunk in (values[start : start + batch] for start in range(0, len(values), batch))
    ]
    # The same figures per day and department.
    totals: dict[tuple, list] = {}
    for row in ordered:
        total = totals.setdefault((row.day, row.department_id), [0, ZERO, ZERO])
        total[0] += row.units
        total[1] += row.gross
        total[2] += row.refunds
    table = DailySalesTotal._meta.db_table
    rows_sql = ", ".join(["(%s, %s, %s, %s, %s)"] * len(totals))
    total_sql = (
        f"INSERT INTO {table} (day, department_id, units, gross, refunds) VALUES {rows_sql} "  # noqa: S608
        f"ON CONFLICT (day, department_id) DO UPDATE SET units = {table}.units + excluded.units, "
        f"gross = {table}.gross + excluded.gross, refunds = {table}.refunds + excluded.refunds"
    )
    total_params = [
        value for (day, department), figures in sorted(totals.items()) for value in (day, department, *figures)
    ]
    if len(statements) == 1 and rows_together_open():
        # Placing's rollup (orders.services.order_record_paid_placed): both statements sent with
        # the order's parcels, as data-modifying CTEs of their statement (one round trip for three).
        rows_along(*statements[0])
        rows_along(total_sql, total_params)
        return len(values)
    with connection.cursor() as cursor:
        if len(statements) == 1 and connection.vendor == "postgresql":
            # A paid order's rows and totals in one round trip: the rows' INSERT as a
            # data-modifying CTE, which PostgreSQL runs to completion with the statement.
            sql, params = statements[0]
            cursor.execute(f"WITH sale_rows AS ({sql} RETURNING 1) {total_sql}", params + total_params)
        else:
            for sql, params in statements:
                cursor.execute(sql, params)
            cursor.execute(total_sql, total_params)
    return len(values)


def _order_rows(order_id, paid_at, discount, subtotal, lines) -> Iterator[SalesRow]:
    """An order's sale rows. `lines`: (pk, variant_id, product_id, department_id, quantity,
    line_total) tuples."""
    from orders.services import discount_shares  # orders.services records payments through here

    day = timezone.localtime(paid_at).date()
    shares = discount_shares(discount=discount, subtotal=subtotal, totals={line[0]: line[5] for line in lines})
    first_of_product: dict[int, int] = {}
    for pk, _variant, product, *_rest in sorted(lines):
        first_of_product.setdefault(product, pk)
    for pk, variant, product, department, quantity, total in lines:
        yield SalesRow(
            day=day,
            variant_id=variant,
            product_id=product,
            department_id=department,
            units=quantity,
            orders=1,
            product_orders=1 if first_of_product[product] == pk else 0,
            gross=total - shares[pk],
        )


_LINE_FIELDS = ("pk", "variant_id", "product_id_snapshot", "department_id_snapshot", "quantity", "line_total")


def daily_sales_record_paid(order: Order) -> None:
    """The order was just paid (in this transaction): its lines count on its payment's day."""
    # Through the relation: the caller's prefetch (the wallet's payment has the lines) saves a read.
    lines = [tuple(getattr(line, name) for name in _LINE_FIELDS) for line in order.lines.all()]
    daily_sales_add(_order_rows(order.pk, order.paid_at, order.discount, order.subtotal, lines))


def paid_order_rows(*, chunk: int = 5000) -> Iterator[SalesRow]:
    """Every paid order's sale rows, streamed from the orders and their lines (the rebuild)."""
    orders = (
        Order.objects.filter(status__in=PAID_STATUSES, paid_at__isnull=False)
        .order_by("pk")
        .values_list("pk", "paid_at", "discount", "subtotal")
    )
    last = 0
    while True:
        batch = list(orders.filter(pk__gt=last)[:chunk])
        if not batch:
            return
        last = batch[-1][0]
        lines: dict[int, list] = {}
        for row in (
            OrderLine.objects.filter(order_id__gt=batch[0][0] - 1, order_id__lte=last)
            .order_by()
            .values_list("order_id", *_LINE_FIELDS)
        ):
            lines.setdefault(row[0], []).append(row[1:])
        for order_id, paid_at, discount, subtotal in batch:
            if order_id in lines:
                yield from _order_rows(order_id, paid_at, discount, subtotal, lines[order_id])


@transaction.atomic
def daily_sales_rebuild(*, refund_rows: Iterable[SalesRow] = ()) -> int:
    """Empty the rollup and add every paid order again, then the refunds the caller gives
    (after-sales knows them). Returns the number of rows written. Locks the tables meanwhile, so
    that a payment recorded during the rebuild is not counted twice or lost."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            tables = f"{DailySales._meta.db_table}, {DailySalesTotal._meta.db_table}"
            cursor.execute(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")
    DailySales.objects.all().delete()
    DailySalesTotal.objects.all().delete()
    written = daily_sales_add(paid_order_rows())
    return written + daily_sales_add(refund_rows)
