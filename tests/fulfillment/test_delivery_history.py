"""Tracking as the customer and staff read it: the carrier by its real name, a delivered parcel
as a 已签收 / "Delivered" entry in the order's history (order page and admin), and the exact
date on which receipt is, or was, confirmed automatically."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import translation

from fulfillment import services
from fulfillment.admin import carrier_choices
from fulfillment.models import Shipment
from orders.models import Order, OrderEvent
from orders.services import orders_auto_confirm
from tests.fulfillment.support import paid_order, stock, variant, warehouses

pytestmark = pytest.mark.django_db

DELIVERED_AT = datetime(2026, 11, 20, 7, 30, tzinfo=UTC)  # 15:30 in Shanghai


@translation.override("en")
def test_the_express_carrier_is_named_as_customers_know_it(settings):
    assert Shipment(carrier="express").get_carrier_display() == "SF Express"
    settings.CARRIER_EXPRESS_URL, settings.CARRIER_EXPRESS_KEY = "http://127.0.0.1:9", "k" * 20
    assert ("express", "SF Express") in carrier_choices()


@pytest.fixture
def delivered_order():
    """An order shipped with the own fleet, its parcel delivered (recorded by staff) at DELIVERED_AT."""
    places = warehouses()
    v = variant()
    stock(places["sh"], v, 5)
    order = paid_order([(v, 1)])
    parcel = order.shipments.get()
    with time_machine.travel(DELIVERED_AT - timedelta(days=1), tick=False):
        services.shipment_ship(shipment_id=parcel.pk, carrier="own_fleet")
    with time_machine.travel(DELIVERED_AT + timedelta(minutes=5), tick=False):
        services.shipment_record_event(
            shipment_id=parcel.pk, kind="delivered", signed_by="王五", occurred_at=DELIVERED_AT
        )
    order.refresh_from_db()
    return order


def _customer(order) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(order.customer)
    return client


def test_a_delivered_parcel_is_an_entry_in_the_orders_history(delivered_order, admin_client):
    order, parcel = delivered_order, delivered_order.shipments.get()
    assert order.status == Order.Status.SHIPPED  # the status stays: the customer confirms receipt
    event = order.events.get(to_status=OrderEvent.DELIVERED)
    assert event.created_at == DELIVERED_AT and event.note == parcel.number
    assert (event.from_status, event.actor_kind) == (Order.Status.SHIPPED, "carrier")
    with translation.override("en"):
        assert event.to_label == "Delivered"
    with translation.override("zh-hans"):
        assert event.to_label == "已签收"

    page = _customer(order).get(order.get_absolute_url()).content.decode()
    timeline = page.split('class="timeline"')[1].split("</ol>")[0]
    assert "Delivered" in timeline and parcel.number in timeline
    assert "2026-11-20 15:30:00" in timeline  # when it was delivered, in the shop's time

    admin_page = admin_client.get(f"/admin/orders/order/{order.pk}/change/", HTTP_ACCEPT_LANGUAGE="en")
    assert admin_page.status_code == 200 and "Delivered" in admin_page.content.decode()


def test_the_order_page_says_on_which_date_receipt_is_confirmed_automatically(delivered_order, settings):
    settings.ORDER_AUTO_CONFIRM_DAYS_AFTER_DELIVERY = 7
    with time_machine.travel(DELIVERED_AT + timedelta(days=1), tick=False):
        page = _customer(delivered_order).get(delivered_order.get_absolute_url()).content.decode()
    assert "Delivered on 2026-11-20" in page
    assert "confirmed automatically on 2026-11-27" in page  # delivered + 7 days


def test_a_shipped_order_without_a_delivery_gives_the_date_after_shipping(settings):
    settings.ORDER_AUTO_CONFIRM_DAYS_AFTER_SHIPPING = 15
    places = warehouses()
    v = variant()
    stock(places["sh"], v, 5)
    order = paid_order([(v, 1)])
    with time_machine.travel(DELIVERED_AT, tick=False):
        services.shipment_ship(shipment_id=order.shipments.get().pk, carrier="own_fleet")
        page = _customer(order).get(order.get_absolute_url()).content.decode()
    assert "confirmed automatically on 2026-12-05" in page  # shipped 2026-11-20 + 15 days


def test_an_order_confirmed_by_the_shop_says_when(delivered_order, settings):
    settings.ORDER_AUTO_CONFIRM_DAYS_AFTER_DELIVERY = 7
    confirmed_at = DELIVERED_AT + timedelta(days=7, hours=17)  # 2026-11-28 00:30 in Shanghai
    with time_machine.travel(confirmed_at, tick=False):
        assert orders_auto_confirm() == 1
    delivered_order.refresh_from_db()
    assert delivered_order.status == Order.Status.COMPLETED
    page = _customer(delivered_order).get(delivered_order.get_absolute_url()).content.decode()
    assert "Receipt confirmed automatically on 2026-11-28." in page  # local date, not UTC's 11-27


def test_a_customers_own_confirmation_is_not_called_automatic(delivered_order):
    from orders.services import order_confirm_receipt

    order_confirm_receipt(order_id=delivered_order.pk, customer=delivered_order.customer)
    page = _customer(delivered_order).get(delivered_order.get_absolute_url()).content.decode()
    assert "confirmed automatically" not in page
