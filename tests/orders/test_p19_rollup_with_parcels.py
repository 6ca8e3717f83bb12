"""The place step's sales rollup sent with the parcels (P19): an order placed and paid in one step
writes its rollup rows (per day and variant, per day and department) in the statement that
inserts its parcel and the parcel's lines (shop.core.inserts.rows_along inside rows_together),
one round trip where there were two. The same rollup as the orders give (daily_sales_rebuild),
added to by a second order of the same day and variant; an order paid later writes it on its own
as before; nothing is sent when the block fails."""

from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from fulfillment.models import Shipment, ShipmentLine
from orders.models import DailySales, DailySalesTotal, Order
from orders.sales import daily_sales_rebuild
from orders.services import order_mark_paid
from payments.services import wallet_top_up
from shop.core.inserts import rows_along, rows_together, rows_together_open
from tests.orders.test_checkout_queries import variants
from tests.purchase import buyer_with_cart, place

pytestmark = pytest.mark.django_db


def _rollup() -> tuple[list, list]:
    rows = DailySales.objects.order_by("day", "variant_id", "department_id").values_list(
        "day", "variant_id", "product_id", "department_id", "units", "orders", "product_orders", "gross",
        "refunded_units", "refunds",
    )  # fmt: skip
    totals = DailySalesTotal.objects.order_by("day", "department_id").values_list(
        "day", "department_id", "units", "gross", "refunds"
    )
    return list(rows), list(totals)


def _buyer(items):
    user, address, cart = buyer_with_cart(items)
    wallet_top_up(user=user, amount=Decimal("1000.00"), reference=f"top-up-p19-{user.pk}")
    return user, address, cart


def test_the_rollup_is_sent_with_the_parcels_and_equals_the_rebuilt_one():
    made = variants(3)
    user, address, cart = _buyer([(v, 1) for v in made])
    place(user, address, cart, payment_method="wallet")  # warms the statements up (built once)

    user, address, cart = _buyer([(made[0], 2), (made[1], 1)])  # the same day and variants: added to
    with CaptureQueriesContext(connection) as queries:
        order = place(user, address, cart, payment_method="wallet")

    sqls = [q["sql"] for q in queries]
    (parcels,) = [s for s in sqls if 'INSERT INTO "fulfillment_shipment"' in s]
    assert [s for s in sqls if "INSERT INTO orders_dailysales " in s] == [parcels]
    assert [s for s in sqls if "INSERT INTO orders_dailysalestotal " in s] == [parcels]
    assert 'INSERT INTO "fulfillment_shipmentline"' in parcels
    assert not rows_together_open()

    order = Order.objects.get(pk=order.pk)
    assert order.status == Order.Status.PAID
    (parcel,) = Shipment.objects.filter(order=order)
    assert parcel.number == f"{order.number}-1" and parcel.cod_amount == 0
    assert sorted(ShipmentLine.objects.filter(shipment=parcel).values_list("order_line__variant_id", "quantity")) == [
        (made[0].pk, 2),
        (made[1].pk, 1),
    ]
    written = _rollup()
    by_variant = {row[1]: row for row in written[0]}
    assert (by_variant[made[0].pk][4], by_variant[made[0].pk][5]) == (3, 2)  # units, orders: both orders
    assert (by_variant[made[2].pk][4], by_variant[made[2].pk][5]) == (1, 1)
    daily_sales_rebuild()  # from the orders themselves
    assert _rollup() == written


def test_an_order_paid_later_writes_its_rollup_on_its_own():
    user, address, cart = buyer_with_cart([(v, 1) for v in variants(2)])
    order = place(user, address, cart, payment_method="sandbox")  # awaiting payment

    with CaptureQueriesContext(connection) as queries:
        order_mark_paid(order_id=order.pk, amount=order.total, reference="p19-later")

    sqls = [q["sql"] for q in queries]
    (rollup,) = [s for s in sqls if "INSERT INTO orders_dailysales " in s]
    assert "fulfillment_shipment" not in rollup
    assert Shipment.objects.filter(order=order).count() == 1
    written = _rollup()
    assert sum(row[4] for row in written[0]) == 2
    daily_sales_rebuild()
    assert _rollup() == written


def test_rows_along_runs_at_once_outside_a_block_and_sends_nothing_when_the_block_fails():
    table = DailySalesTotal._meta.db_table
    sql = f"INSERT INTO {table} (day, department_id, units, gross, refunds) VALUES (%s, %s, %s, %s, %s)"  # noqa: S608
    department = variants(1)[0].product.department_id
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        rows_along(sql, ["2026-01-01", department, 1, Decimal("1.00"), Decimal("0.00")])
        assert len(queries) == 1
    assert DailySalesTotal.objects.filter(day="2026-01-01").count() == 1

    with CaptureQueriesContext(connection) as queries, pytest.raises(RuntimeError), rows_together():
        rows_along(sql, ["2026-01-02", department, 1, Decimal("1.00"), Decimal("0.00")])
        raise RuntimeError("a failure inside the block")
    assert len(queries) == 0 and not DailySalesTotal.objects.filter(day="2026-01-02").exists()
    assert not rows_together_open()

    with CaptureQueriesContext(connection) as queries, rows_together():  # alone in its block: itself
        rows_along(sql, ["2026-01-03", department, 2, Decimal("2.00"), Decimal("0.00")])
        assert len(queries) == 0
    assert len(queries) == 1 and DailySalesTotal.objects.get(day="2026-01-03").units == 2
