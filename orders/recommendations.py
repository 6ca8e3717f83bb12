"""Recommendations (根据用户的兴趣或购买历史推送相关商品), computed by a periodic task, never on a
page's request: pages only read the lists stored in catalog.BoughtTogether and
catalog.Recommendation (catalog.selectors).

It lives in orders because it reads paid orders and writes catalogue tables: orders sits above
catalog in the layers, so catalog can store and show the lists without ever importing orders.

Both computations are SQL aggregations run by the database (INSERT ... SELECT), never Python
loops over orders: memory here stays flat whatever the number of orders, and "for you" works
through the customers in batches of id ranges, one short transaction each, so a page never
reads a customer's list half written. Rankings break ties by product id: a second run over the
same data writes the same lists.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from catalog.models import BoughtTogether, Product, ProductView, Recommendation
from catalog.services import product_views_persist
from orders.models import Order, OrderLine

# How many products each list keeps: the product page, cart and home show at most this many.
LIST_SIZE = 8
# A customer's strongest interests only (categories, and brands, each), and the best sellers of
# each: enough to fill a list after what they bought is taken out, and a bounded amount of work
# per customer (at most 2 * TOP_INTERESTS * PER_INTEREST + PER_INTEREST candidates).
TOP_INTERESTS = 3
PER_INTEREST = 2 * LIST_SIZE
# A purchase says more about a customer's interests than a look.
VIEW_WEIGHT, PURCHASE_WEIGHT = 1, 3
CUSTOMER_BATCH = 1000

# Orders whose goods the customer paid for and kept: co-purchases and interests.
BOUGHT = (Order.Status.PAID, Order.Status.SHIPPED, Order.Status.COMPLETED)


def _tables() -> dict[str, str]:
    return {
        "order": Order._meta.db_table,
        "line": OrderLine._meta.db_table,
        "product": Product._meta.db_table,
        "view": ProductView._meta.db_table,
        "together": BoughtTogether._meta.db_table,
        "recommendation": Recommendation._meta.db_table,
    }


def _placeholders(values) -> str:
    return ", ".join(["%s"] * len(values))


# Pairs of different products in the same paid order of the window, counted once per order;
# each product keeps its LIST_SIZE partners met in the most orders (then the best sellers).
# A line whose every unit was refunded was not bought together with anything (KEPT_LINE: the
# refunded units per line, from the source aftersales registers; a closed order is out by status).
BOUGHT_TOGETHER_SQL = """
{refunded}
INSERT INTO {together} (product_id, other_id, orders, position)
SELECT product_id, other_id, orders, position FROM (
    SELECT pair.product_id, pair.other_id, pair.orders,
           ROW_NUMBER() OVER (
               PARTITION BY pair.product_id ORDER BY pair.orders DESC, other.sales_count DESC, other.id DESC
           ) AS position
    FROM (
        SELECT a.product_id_snapshot AS product_id, b.product_id_snapshot AS other_id,
               COUNT(DISTINCT o.id) AS orders
        FROM {order} o
        JOIN {line} a ON a.order_id = o.id
        JOIN {line} b ON b.order_id = o.id AND b.product_id_snapshot <> a.product_id_snapshot
        WHERE o.paid_at >= %s AND o.status IN ({statuses}) {kept_a} {kept_b}
        GROUP BY a.product_id_snapshot, b.product_id_snapshot
    ) pair
    JOIN {product} product ON product.id = pair.product_id
    JOIN {product} other ON other.id = pair.other_id AND other.is_active = %s
) ranked
WHERE position <= %s
"""
KEPT_LINE = (
    "AND NOT EXISTS (SELECT 1 FROM refunded r WHERE r.order_line_id = {alias}.id AND r.units >= {alias}.quantity)"
)

# Refunds are recorded above orders (aftersales' refund notes): aftersales registers, in its
# ready(), a function of `since` giving a queryset of rows (order_line_id, units) refunded since
# then, as it registers mail attachments with orders' outbox. None: nothing is taken out.
_refunded_units_source: Callable[[datetime], QuerySet] | None = None


def recommendations_refunded_units_register(source: Callable[[datetime], QuerySet]) -> None:
    global _refunded_units_source  # one registration, at start-up
    _refunded_units_source = source


@transaction.atomic
def bought_together_refresh(*, window_days: int | None = None) -> int:
    """Rewrite every product's "bought together" list from the paid orders of the last
    `window_days` (RECOMMENDATIONS_WINDOW_DAYS), leaving out lines refunded in full. One
    transaction: pages read the old lists until it commits. Returns the rows written."""
    days = settings.RECOMMENDATIONS_WINDOW_DAYS if window_days is None else window_days
    since = timezone.now() - timedelta(days=days)
    BoughtTogether.objects.all().delete()
    refunded, refunded_params, kept_a, kept_b = "", [], "", ""
    if _refunded_units_source is not None:
        # A refund comes after its payment, so one of an order paid in the window is since `since`.
        refunded_sql, refunded_params = _refunded_units_source(since).query.sql_with_params()
        refunded = f"WITH refunded (order_line_id, units) AS ({refunded_sql})"
        kept_a, kept_b = KEPT_LINE.format(alias="a"), KEPT_LINE.format(alias="b")
    sql = BOUGHT_TOGETHER_SQL.format(
        **_tables(), statuses=_placeholders(BOUGHT), refunded=refunded, kept_a=kept_a, kept_b=kept_b
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*refunded_params, since, *BOUGHT, True, LIST_SIZE])
        return cursor.rowcount


# For the customers with ids in [lo, hi]: categories and brands weighted by what they viewed
# (their recently viewed list) and bought, the TOP_INTERESTS of each kept; each kept category's
# and brand's best sellers score its weight; the shop's best sellers pad the list with score 0;
# what they ever paid for is left out. A line refunded in full is no interest (KEPT_LINE): the
# customer sent it back. The PER_INTEREST best sellers of a category or brand come from one
# window over the products of the kept ones only.
FOR_YOU_SQL = """
WITH {refunded}
interest AS (
    SELECT v.customer_id, p.category_id, p.brand_id, %s AS weight
    FROM {view} v JOIN {product} p ON p.id = v.product_id
    WHERE v.customer_id BETWEEN %s AND %s
    UNION ALL
    SELECT o.customer_id, p.category_id, p.brand_id, %s AS weight
    FROM {order} o JOIN {line} l ON l.order_id = o.id JOIN {product} p ON p.id = l.product_id_snapshot
    WHERE o.customer_id BETWEEN %s AND %s AND o.status IN ({statuses}) {kept_l}
),
bought AS (
    SELECT DISTINCT o.customer_id, l.product_id_snapshot AS product_id
    FROM {order} o JOIN {line} l ON l.order_id = o.id
    WHERE o.customer_id BETWEEN %s AND %s AND o.paid_at IS NOT NULL
),
customers AS (SELECT DISTINCT customer_id FROM interest),
categories AS (
    SELECT customer_id, category_id, weight FROM (
        SELECT customer_id, category_id, SUM(weight) AS weight,
               ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY SUM(weight) DESC, category_id) AS n
        FROM interest GROUP BY customer_id, category_id
    ) ranked WHERE n <= %s
),
brands AS (
    SELECT customer_id, brand_id, weight FROM (
        SELECT customer_id, brand_id, SUM(weight) AS weight,
               ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY SUM(weight) DESC, brand_id) AS n
        FROM interest GROUP BY customer_id, brand_id
    ) ranked WHERE n <= %s
),
category_best AS (
    SELECT id, category_id FROM (
        SELECT id, category_id, ROW_NUMBER() OVER (PARTITION BY category_id ORDER BY sales_count DESC, id DESC) AS n
        FROM {product} WHERE is_active = %s AND category_id IN (SELECT category_id FROM categories)
    ) ranked WHERE n <= %s
),
brand_best AS (
    SELECT id, brand_id FROM (
        SELECT id, brand_id, ROW_NUMBER() OVER (PARTITION BY brand_id ORDER BY sales_count DESC, id DESC) AS n
        FROM {product} WHERE is_active = %s AND brand_id IN (SELECT brand_id FROM brands)
    ) ranked WHERE n <= %s
),
shop_best AS (SELECT id FROM {product} WHERE is_active = %s ORDER BY sales_count DESC, id DESC LIMIT %s),
candidates AS (
    SELECT c.customer_id, b.id AS product_id, c.weight
    FROM categories c JOIN category_best b ON b.category_id = c.category_id
    UNION ALL
    SELECT c.customer_id, b.id, c.weight FROM brands c JOIN brand_best b ON b.brand_id = c.brand_id
    UNION ALL
    SELECT c.customer_id, b.id, 0 FROM customers c CROSS JOIN shop_best b
),
scored AS (SELECT customer_id, product_id, SUM(weight) AS score FROM candidates GROUP BY customer_id, product_id),
ranked AS (
    SELECT s.customer_id, s.product_id,
           ROW_NUMBER() OVER (
               PARTITION BY s.customer_id ORDER BY s.score DESC, p.sales_count DESC, p.id DESC
           ) AS position
    FROM scored s JOIN {product} p ON p.id = s.product_id
    WHERE NOT EXISTS (SELECT 1 FROM bought b WHERE b.customer_id = s.customer_id AND b.product_id = s.product_id)
)
INSERT INTO {recommendation} (customer_id, product_id, position)
SELECT customer_id, product_id, position FROM ranked WHERE position <= %s
"""


# Before any refund note: "since ever" for the refunded units' source.
EVER = datetime(2000, 1, 1, tzinfo=UTC)


def _customers_after(after: int, *, limit: int) -> list[int]:
    """The next `limit` ids above `after` of customers with a history (views or paid orders)."""
    # No ORDER BY inside the union's parts (orders have a default ordering; SQLite refuses it).
    viewed = ProductView.objects.filter(customer_id__gt=after).order_by().values_list("customer_id")
    buyers = Order.objects.filter(customer_id__gt=after, paid_at__isnull=False).order_by().values_list("customer_id")
    return [row[0] for row in viewed.union(buyers).order_by("customer_id")[:limit]]


def for_you_refresh(*, batch: int = CUSTOMER_BATCH) -> int:
    """Rewrite every customer's "for you" list, `batch` customers with a history per
    transaction. Customers without history get no list (pages show best sellers). Returns the
    customers with a history."""
    refunded, refunded_params, kept_l = "", [], ""
    if _refunded_units_source is not None:
        # Interests have no window: every refund note counts. The batch's lines only are probed.
        refunded_sql, refunded_params = _refunded_units_source(EVER).query.sql_with_params()
        refunded, kept_l = f"refunded (order_line_id, units) AS ({refunded_sql}),", KEPT_LINE.format(alias="l")
    sql = FOR_YOU_SQL.format(**_tables(), statuses=_placeholders(BOUGHT), refunded=refunded, kept_l=kept_l)
    lo, done = 0, 0
    while customers := _customers_after(lo - 1, limit=batch):
        hi = customers[-1]
        params = [*refunded_params, VIEW_WEIGHT, lo, hi, PURCHASE_WEIGHT, lo, hi, *BOUGHT, lo, hi]
        params += [TOP_INTERESTS, TOP_INTERESTS]
        params += [True, PER_INTEREST, True, PER_INTEREST, True, PER_INTEREST, LIST_SIZE]
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # Room to sort a batch's candidates in memory; this transaction only.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL work_mem = '64MB'")
            Recommendation.objects.filter(customer_id__gte=lo, customer_id__lte=hi).delete()
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
        done += len(customers)
        lo = hi + 1
    Recommendation.objects.filter(customer_id__gte=lo).delete()  # histories gone since
    return done


def recommendations_refresh() -> dict[str, int]:
    """The periodic job: copy the recently viewed lists that changed into the database, then
    rewrite "bought together" and "for you". Idempotent."""
    return {
        "viewers": product_views_persist(),
        "pairs": bought_together_refresh(),
        "customers": for_you_refresh(),
    }
