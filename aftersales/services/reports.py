"""The refund side of the daily sales rollup (orders.models.DailySales, kept by orders.sales),
and of the products' sales counts (已售, catalog.Product.sales_count, which ranks "popular").

A refund note's lines count as refunds on the day the note was written (its created_at, in
settings.TIME_ZONE), for the variant and department of the order line refunded, whatever the
note's payout state: the settlement counts the same lines. The units they give back leave the
product's sales count in the same transaction: a refund note is written once (its request's
refund step runs once, under the request's lock), so each refund lowers the count once.
"""

from collections import defaultdict
from collections.abc import Iterator

from django.db.models import F, QuerySet, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from aftersales.models import RefundNote, RefundNoteLine
from catalog.models import Product
from orders.models import DailySales, Order
from orders.sales import SalesRow, daily_sales_add, daily_sales_rebuild

_FIELDS = (
    "note__created_at",
    "order_line__variant_id",
    "order_line__product_id_snapshot",
    "order_line__department_id_snapshot",
    "quantity",
    "amount",
)


def _refund_rows(lines: QuerySet[RefundNoteLine]) -> Iterator[SalesRow]:
    for created_at, variant, product, department, quantity, amount in (
        lines.order_by().values_list(*_FIELDS).iterator(chunk_size=5000)
    ):
        yield SalesRow(
            day=timezone.localtime(created_at).date(),
            variant_id=variant,
            product_id=product,
            department_id=department,
            refunded_units=quantity,
            refunds=amount,
        )


def daily_sales_record_refund(*, note: RefundNote) -> None:
    """A refund note was just written with its lines (in this transaction): the rollup counts
    the refund, and the products' sales counts lose the units refunded."""
    rows = list(_refund_rows(RefundNoteLine.objects.filter(note=note)))
    daily_sales_add(rows)
    units: dict[int, int] = defaultdict(int)
    for row in rows:
        units[row.product_id] += row.refunded_units
    product_sales_count_lower(units=units)


def product_sales_count_lower(*, units: dict[int, int]) -> None:
    """Take units refunded ({product id: units}) off the products' sales counts, never below
    zero (a count seeded lower than what was refunded). One UPDATE per product, in id order, so
    that two refunds of the same products cannot deadlock. Precondition: in the refund's
    transaction."""
    for product_id in sorted(units):
        if units[product_id] > 0:
            Product.objects.filter(pk=product_id).update(
                sales_count=Greatest(F("sales_count") - units[product_id], Value(0))
            )


def daily_sales_rebuild_all() -> int:
    """Recompute the whole rollup from the orders and refund notes. Returns rows written."""
    return daily_sales_rebuild(refund_rows=_refund_rows(RefundNoteLine.objects.all()))


def daily_sales_fill_if_empty() -> int:
    """After migrate: a rollup that is empty while orders were paid is built (the first
    deployment of the table, or a database restored without it). Returns rows written."""
    if DailySales.objects.exists() or not Order.objects.filter(paid_at__isnull=False).exists():
        return 0
    return daily_sales_rebuild_all()
