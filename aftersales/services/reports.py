"""The refund side of the daily sales rollup (orders.models.DailySales, kept by orders.sales).

A refund note's lines count as refunds on the day the note was written (its created_at, in
settings.TIME_ZONE), for the variant and department of the order line refunded, whatever the
note's payout state: the settlement counts the same lines. The products' sales counts (已售) lose
the units refunded at the next recompute from the rollup (orders.sales_count), not here: a refund
note is written once (its request's refund step runs once, under the request's lock), so its
units are in the rollup once.
"""

from collections.abc import Iterator

from django.db.models import QuerySet
from django.utils import timezone

from aftersales.models import RefundNote, RefundNoteLine
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
    """A refund note was just written with its lines (in this transaction)."""
    daily_sales_add(_refund_rows(RefundNoteLine.objects.filter(note=note)))


def daily_sales_rebuild_all() -> int:
    """Recompute the whole rollup from the orders and refund notes. Returns rows written."""
    return daily_sales_rebuild(refund_rows=_refund_rows(RefundNoteLine.objects.all()))


def daily_sales_fill_if_empty() -> int:
    """After migrate: a rollup that is empty while orders were paid is built (the first
    deployment of the table, or a database restored without it). Returns rows written."""
    if DailySales.objects.exists() or not Order.objects.filter(paid_at__isnull=False).exists():
        return 0
    return daily_sales_rebuild_all()
