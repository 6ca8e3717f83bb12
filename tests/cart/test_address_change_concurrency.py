"""Changing the delivery address while staff pack the parcel, or twice at once: real threads on
PostgreSQL. Both workflows lock the order row first, so exactly one of them wins, nothing
deadlocks, and the order's money and stock stay consistent."""

import os
from decimal import Decimal

import pytest

from cart import services
from cart.exceptions import CartError, CartErrorCode
from fulfillment.exceptions import FulfillmentError
from fulfillment.models import Shipment, Stock
from fulfillment.services import shipment_pack
from orders.models import Order
from payments.models import Wallet
from payments.services import wallet_top_up
from tests.cart.test_address_change import address, assert_money_adds_up, order_from
from tests.fulfillment.support import stock, variant, warehouses
from tests.orders.test_concurrency import assert_stock_invariants, run_at_once

RUNS = int(os.environ.get("CONCURRENCY_RUNS", "10"))
pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tea():
    places = warehouses()
    v = variant(price="50.00", weight=500)
    stock(places["sh"], v, 10)
    stock(places["bj"], v, 10)
    return v


@pytest.mark.parametrize("run", range(RUNS))
def test_packing_and_changing_the_address_at_once_one_wins(tea, run):
    order = order_from(tea, "shanghai")
    [parcel] = Shipment.objects.filter(order=order)
    beijing = address(order.customer, "beijing")

    results = run_at_once(
        [
            lambda: services.order_change_address(order_id=order.pk, customer=order.customer, address_id=beijing.pk),
            lambda: shipment_pack(shipment_id=parcel.pk),
        ]
    )

    change, packed = results
    order.refresh_from_db()
    if isinstance(change, services.AddressChange):  # the change went first: the old parcel is gone
        assert isinstance(packed, FulfillmentError)
        assert order.province == "北京"
        [live] = Shipment.objects.filter(order=order).exclude(status=Shipment.Status.CANCELLED)
        assert (live.warehouse.code, live.status) == ("bj", Shipment.Status.PENDING)
    else:  # packing went first: the address stays
        assert isinstance(change, CartError) and change.code == CartErrorCode.ALREADY_PACKED, change
        assert isinstance(packed, Shipment)
        assert order.province == "上海"
        assert Shipment.objects.get(pk=parcel.pk).status == Shipment.Status.PACKED
    assert sum(Stock.objects.filter(variant=tea).values_list("reserved", flat=True)) == 1
    assert_stock_invariants()
    assert_money_adds_up(order)


@pytest.mark.parametrize("run", range(RUNS))
def test_two_changes_at_once_charge_the_wallet_once(tea, run):
    order = order_from(tea, "shanghai")
    wallet_top_up(user=order.customer, amount=Decimal("10.00"), reference="top-up")
    remote = address(order.customer, "xinjiang")

    results = run_at_once(
        [
            lambda: services.order_change_address(order_id=order.pk, customer=order.customer, address_id=remote.pk)
            for _ in range(2)
        ]
    )

    done = [r for r in results if isinstance(r, services.AddressChange)]
    refused = [r for r in results if isinstance(r, CartError)]
    assert len(done) == 1 and len(refused) == 1, results
    assert refused[0].code == CartErrorCode.SAME_ADDRESS
    order.refresh_from_db()
    assert (order.shipping_fee, order.total) == (Decimal("18.00"), Decimal("68.00"))
    assert Wallet.objects.get(user=order.customer).balance == Decimal("0.00")
    assert order.status == Order.Status.PAID
    assert_money_adds_up(order)
    assert_stock_invariants()
