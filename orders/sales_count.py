"""The products' sales counts (已售, catalog.Product.sales_count: the "sold" figure that ranks
"popular", the best sellers and the recommendations), recomputed from the daily sales rollup
(orders.sales) by a beat task and `manage.py sales_count_refresh`.

A count is the product's baseline (orders.models.SalesBaseline: sales from before the shop counted
its own, or the demo's) plus the units of its paid orders less the units refunded, over all time:
the pages call it 销量 / "sold", not 月销 ("sold in the last 30 days"). Never below zero (a refund
of units the baseline never had). Recomputed, not added to, so that a run twice, or two runs at
once, change nothing; and a refund lowers the count exactly once, by what it refunded.

Not on the payment path: a payment would rewrite the product's row (and every index on it) in
its transaction, and the same best seller's row would serialise its buyers. A count is late by the
task's period (SALES_COUNT_REFRESH_MINUTES) instead. A count written here changes no facet count
(catalog migration 0012's trigger compares only the counted columns).

Which products: those whose rollup rows may have changed since the last run. Payments and refunds
add to the rows of the (local) day they happen on, so those are the products with rows on the
day of the last run's start or later, less WATERMARK_MARGIN (a payment that started before the
last run and committed after it). The first run, and `sales_count_refresh --all`, read every
product; so should an operator after rebuilding the rollup from changed orders.
"""

from collections.abc import Callable
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from catalog.models import Product
from orders.models import DailySales, SalesBaseline, SalesCountWatermark

# Longer than any transaction that pays or refunds: one that began before a run and committed
# after it wrote rows dated no earlier than the run's start less this.
WATERMARK_MARGIN = timedelta(minutes=30)

_UPDATE = """
UPDATE {product} SET sales_count = c.n
  FROM (
    SELECT s.id, CASE WHEN s.n > 0 THEN s.n ELSE 0 END AS n
      FROM (
        SELECT q.id,
               COALESCE((SELECT b.units FROM {baseline} b WHERE b.product_id = q.id), 0)
               + COALESCE((SELECT SUM(d.units - d.refunded_units) FROM {rollup} d WHERE d.product_id = q.id), 0)
               AS n
          FROM {product} q WHERE q.id IN ({ids})
      ) s
  ) c
 WHERE {product}.id = c.id AND {product}.sales_count <> c.n
"""


def _recount(product_ids: list[int]) -> int:
    """One statement for a batch of products; writes only the rows whose count differs."""
    sql = _UPDATE.format(
        product=Product._meta.db_table,
        baseline=SalesBaseline._meta.db_table,
        rollup=DailySales._meta.db_table,
        ids=", ".join(["%s"] * len(product_ids)),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, product_ids)
        return cursor.rowcount


def sales_count_refresh(
    *, full: bool = False, batch: int = 1000, on_batch: Callable[[int, int], None] | None = None
) -> dict[str, int]:
    """Recompute the sales counts of the products whose rollup rows changed since the last run
    (every product when `full` or on the first run), `batch` products per statement.
    `on_batch(done, total)` is told the progress. Returns {"products": read, "written": changed}."""
    started = timezone.now()
    watermark = SalesCountWatermark.objects.order_by("pk").first()
    since = None if full or watermark is None else watermark.since
    if since is None:
        ids = list(Product.objects.order_by("pk").values_list("pk", flat=True))
    else:
        ids = list(
            DailySales.objects.filter(day__gte=since)
            .order_by("product_id")
            .values_list("product_id", flat=True)
            .distinct()
        )
    written = 0
    for start in range(0, len(ids), batch):
        # Its own transaction per batch: a product's row stays locked for one batch only.
        with transaction.atomic():
            written += _recount(ids[start : start + batch])
        if on_batch is not None:
            on_batch(min(start + batch, len(ids)), len(ids))
    # Only once every batch is written: a run that failed is read again by the next.
    next_since = timezone.localdate(started - WATERMARK_MARGIN)
    if watermark is None:
        SalesCountWatermark.objects.create(since=next_since)
    else:
        SalesCountWatermark.objects.filter(pk=watermark.pk).update(since=next_since)
    return {"products": len(ids), "written": written}


# A baseline is a figure shown to customers (已售): bounded, so that a typo cannot make a count
# that overflows its column and stops every product's recount.
SALES_BASELINE_MAX = 10_000_000


def sales_baseline_set(*, units: dict[int, int], recount: bool = False) -> None:
    """Set products' baselines ({product id: units sold before}, each bounded to 0 ..
    SALES_BASELINE_MAX; the demo's invented history, or a former shop's). With `recount` (staff's
    changes: the admin, an import), those products' sales counts are recomputed now, as the
    periodic refresh reads only the products whose sales moved; without it, a full refresh
    (`sales_count_refresh --all`, as the demo runs) brings them in."""
    SalesBaseline.objects.bulk_create(
        [
            SalesBaseline(product_id=product_id, units=min(max(n, 0), SALES_BASELINE_MAX))
            for product_id, n in units.items()
        ],
        update_conflicts=True,
        unique_fields=["product"],
        update_fields=["units"],
        batch_size=1000,
    )
    if recount:
        _recount_all(sorted(units))


def sales_baseline_clear(*, product_ids: list[int]) -> None:
    """Remove products' baselines: their counts are their own sales again, recounted now."""
    SalesBaseline.objects.filter(product_id__in=product_ids).delete()
    _recount_all(sorted(product_ids))


def _recount_all(product_ids: list[int], *, batch: int = 1000) -> None:
    for start in range(0, len(product_ids), batch):
        _recount(product_ids[start : start + batch])
