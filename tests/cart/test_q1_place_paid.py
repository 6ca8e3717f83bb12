"""Placing an order the wallet pays (or with nothing to pay) inserts it paid: no UPDATE of the
order's row, its two events (placed, then paid) in one statement; and the units are reserved,
with their movements, by one statement. Same rows and values as before (docs/benchmark.md,
"Issue 12, fourth session: Q1 place step")."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from fulfillment.models import Reservation, Shipment, ShipmentLine, Stock, StockMovement
from orders.models import Notification, Order
from payments.models import Payment, WalletEntry
from payments.services import wallet_top_up
from tests import factories
from tests.purchase import buyer_with_cart, place_form, stocked_variant

pytestmark = pytest.mark.django_db


def test_the_wallet_s_order_is_inserted_paid_with_both_events_and_its_units_reserved_in_one_statement(client):
    warehouse = factories.WarehouseFactory()
    variants = []
    for on_hand in (3, 10):  # the first sells out: its product's flags refresh after commit
        product = factories.ProductFactory(price=Decimal("40.00"))
        variant = factories.VariantFactory(product=product, price=Decimal("40.00"))
        factories.StockFactory(variant=variant, product=product, warehouse=warehouse, on_hand=on_hand)
        variants.append(variant)
    user, address, cart = buyer_with_cart([(variants[0], 3), (variants[1], 2)])
    wallet_top_up(user=user, amount=Decimal("500.00"), reference="Q1")
    client.force_login(user)

    with CaptureQueriesContext(connection) as queries:
        response = client.post(reverse("cart:place"), place_form(cart, address))

    order = Order.objects.get(customer=user)
    assert response.status_code == 302 and response["Location"] == order.get_absolute_url()
    sqls = [q["sql"] for q in queries]
    assert not [s for s in sqls if s.startswith('UPDATE "orders_order"')], sqls
    assert len([s for s in sqls if "orders_orderevent" in s]) == 1, sqls
    assert len([s for s in sqls if "fulfillment_reservation" in s or "fulfillment_stockmovement" in s]) == 1, sqls

    payment = Payment.objects.get(order=order)
    assert order.status == Order.Status.PAID and order.paid_at == order.placed_at == payment.captured_at
    assert (payment.provider, payment.state, payment.amount) == ("wallet", Payment.State.CAPTURED, order.total)
    events = list(order.events.order_by("pk").values_list("from_status", "to_status", "actor_id", "note"))
    assert events == [("", "pending_payment", user.pk, ""), ("pending_payment", "paid", None, payment.reference)]
    assert WalletEntry.objects.get(wallet__user=user, amount__lt=0).amount == -order.total
    assert Notification.objects.filter(order=order).count() == 1  # one mail: placed and paid
    assert Notification.objects.get(order=order).context["placed"] is True

    reservations = list(Reservation.objects.filter(order=order).order_by("pk"))
    assert [(r.variant_id, r.quantity, r.state) for r in reservations] == [
        (variants[0].pk, 3, Reservation.State.HELD),
        (variants[1].pk, 2, Reservation.State.HELD),
    ]
    moves = list(StockMovement.objects.filter(reference=order.number).order_by("pk"))
    assert [(m.variant_id, m.reason, m.reserved_delta, m.on_hand_after, m.reserved_after) for m in moves] == [
        (variants[0].pk, StockMovement.Reason.RESERVE, 3, 3, 3),
        (variants[1].pk, StockMovement.Reason.RESERVE, 2, 10, 2),
    ]
    assert all(m.warehouse_id == warehouse.pk and m.actor_id is None for m in moves)
    assert list(
        Stock.objects.filter(warehouse=warehouse).order_by("variant_id").values_list("reserved", flat=True)
    ) == [
        3,
        2,
    ]
    # Its one parcel is made from the reservations just written.
    parcel = Shipment.objects.get(order=order)
    assert sorted(ShipmentLine.objects.filter(shipment=parcel).values_list("reservation_id", flat=True)) == [
        r.pk for r in reservations
    ]


def test_an_order_with_nothing_to_pay_is_inserted_paid_with_its_number_as_the_paid_event_s_note(client):
    variant = stocked_variant(price="50.00")
    factories.CouponFactory(code="ALL", kind="percent", value=Decimal("100"), min_spend=0, usage_limit=5)
    user, address, cart = buyer_with_cart([(variant, 3)], coupon="ALL")
    address.province = address.city = "上海"  # free shipping over the threshold there
    address.save()
    client.force_login(user)
    form = place_form(cart, address, payment_method="cod")

    response = client.post(reverse("cart:place"), form)

    order = Order.objects.get(customer=user)
    assert response.status_code == 302
    assert order.total == 0 and order.status == Order.Status.PAID and order.paid_at == order.placed_at
    assert not Payment.objects.filter(order=order).exists()
    events = list(order.events.order_by("pk").values_list("from_status", "to_status", "note"))
    assert events == [("", "pending_payment", ""), ("pending_payment", "paid", order.number)]
    assert Shipment.objects.get(order=order).cod_amount == 0
