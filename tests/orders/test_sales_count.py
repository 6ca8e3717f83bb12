"""The products' sales counts (已售) come from real sales: units of paid orders less units refunded,
plus a baseline, recomputed from the daily sales rollup by a beat task (orders.sales_count), not
in the payment's transaction; only the rows whose count changed are written."""

import importlib
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aftersales.services import requests as svc
from catalog.models import Product
from catalog.selectors import SORTS
from orders import tasks
from orders.models import DailySales, Order, SalesBaseline
from orders.sales_count import sales_baseline_set, sales_count_refresh
from orders.services import order_cancel
from tests import factories
from tests.aftersales.support import completed, line_of
from tests.fulfillment.support import paid_order, placed_order, stock, variant, warehouses

pytestmark = pytest.mark.django_db


@pytest.fixture
def stocked():
    """Makes a product with one variant, 50 in stock in Shanghai."""
    shanghai = warehouses()["sh"]

    def make(**product):
        v = variant(price="20.00", **product)
        stock(shanghai, v, 50)
        return v

    return make


def count(v) -> int:
    return Product.objects.get(pk=v.product_id).sales_count


def xmins() -> list:
    """Each product row's version: a row that was written has a new one."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, xmin::text FROM catalog_product ORDER BY id")
        return cursor.fetchall()


def facet_rows() -> list:
    with connection.cursor() as cursor:
        cursor.execute("SELECT xmin::text FROM catalog_facet_count ORDER BY 1")
        return cursor.fetchall()


def test_a_paid_order_counts_once_the_task_runs_and_unpaid_or_cancelled_orders_never_do(stocked):
    v = stocked()
    paid_order([(v, 3)])
    placed_order([(v, 2)])  # awaiting payment
    cancelled = placed_order([(v, 4)])
    order_cancel(order_id=cancelled.pk, actor_kind="customer", reason="changed mind")
    assert Order.objects.get(pk=cancelled.pk).status == Order.Status.CANCELLED
    assert count(v) == 0  # not in the payment's transaction

    assert tasks.sales_count_refresh() == {"products": Product.objects.count(), "written": 1}  # the first: all
    assert count(v) == 3
    assert tasks.sales_count_refresh() == {"products": 1, "written": 0}  # twice: nothing changes


def test_a_refund_lowers_the_count_once_and_never_below_zero(stocked):
    from aftersales.models import AfterSale

    v = stocked()
    sales_baseline_set(units={v.product_id: 7})
    order = completed([(v, 3)])
    sales_count_refresh()
    assert count(v) == 10
    request = svc.aftersale_open(
        order_id=order.pk, customer=order.customer, kind=AfterSale.Kind.REFUND, reason=AfterSale.Reason.DAMAGED,
        quantities={line_of(order).pk: 2}, description="坏了",
    )  # fmt: skip
    svc.aftersale_approve(request_id=request.pk, actor=factories.UserFactory(is_superuser=True, is_staff=True))
    assert count(v) == 10  # until the task runs
    sales_count_refresh()
    assert count(v) == 8
    svc.aftersales_enforce_deadlines()
    sales_count_refresh()
    assert count(v) == 8  # counted once

    # A rollup that says more came back than was sold (rebuilt without an order): zero, not less.
    DailySales.objects.filter(product_id=v.product_id).update(refunded_units=99)
    sales_count_refresh()
    assert count(v) == 0


def test_only_the_products_whose_sales_changed_are_read_and_only_changed_counts_written(stocked):
    sold, seeded, idle = stocked(), stocked(), stocked()
    sales_baseline_set(units={seeded.product_id: 5})
    paid_order([(sold, 2)])
    with CaptureQueriesContext(connection) as queries:
        assert sales_count_refresh(full=True, batch=2) == {"products": 3, "written": 2}
    updates = [q["sql"] for q in queries if q["sql"].lstrip().startswith("UPDATE") and "sales_count" in q["sql"]]
    assert len(updates) == 2  # one statement per batch, whatever the number of products
    assert (count(sold), count(seeded), count(idle)) == (2, 5, 0)

    products, facets = xmins(), facet_rows()
    assert facets  # the products are counted in their category's facets
    assert sales_count_refresh(full=True) == {"products": 3, "written": 0}
    assert xmins() == products  # no row rewritten

    paid_order([(sold, 1)])
    products = dict(xmins())
    with CaptureQueriesContext(connection) as queries:
        assert sales_count_refresh() == {"products": 1, "written": 1}  # since the watermark: one product
    assert len(queries) <= 7  # watermark, products, the batch (in a savepoint), the new watermark
    after = dict(xmins())
    assert count(sold) == 3 and after[sold.product_id] != products[sold.product_id]
    assert [after[p] == products[p] for p in (seeded.product_id, idle.product_id)] == [True, True]
    assert facet_rows() == facets  # a sales count is no counted facet column


def test_the_popular_sort_follows_real_sales(stocked):
    category = factories.CategoryFactory()
    first, second = stocked(category=category), stocked(category=category)
    sales_baseline_set(units={first.product_id: 4})
    sales_count_refresh()
    popular = Product.objects.filter(category=category).order_by(*SORTS["popular"])
    assert list(popular.values_list("pk", flat=True)) == [first.product_id, second.product_id]
    paid_order([(second, 5)])
    sales_count_refresh()
    assert list(popular.values_list("pk", flat=True)) == [second.product_id, first.product_id]


def test_beat_runs_it_and_operators_have_a_command(stocked):
    entry = settings.CELERY_BEAT_SCHEDULE["orders-sales-count"]
    assert entry["task"] == "orders.tasks.sales_count_refresh"
    v = stocked()
    paid_order([(v, 2)])
    out = StringIO()
    call_command("sales_count_refresh", "--all", stdout=out)
    assert out.getvalue().strip() == f"{Product.objects.count()} products read, 1 sales counts changed"
    assert count(v) == 2


def test_the_migration_keeps_every_count_as_it_was(stocked):
    """Counts seeded before the recompute existed (the demo's) become baselines: deploying it
    changes no count."""
    fill = importlib.import_module("orders.migrations.0013_sales_count").FILL_BASELINE
    v, w = stocked(), stocked()
    paid_order([(v, 3)])
    Product.objects.filter(pk=v.product_id).update(sales_count=10)  # 7 seeded, 3 sold
    Product.objects.filter(pk=w.product_id).update(sales_count=4)
    SalesBaseline.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(fill)
    assert dict(SalesBaseline.objects.values_list("product_id", "units")) == {v.product_id: 7, w.product_id: 4}
    assert sales_count_refresh(full=True)["written"] == 0
    assert (count(v), count(w)) == (10, 4)
