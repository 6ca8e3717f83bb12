"""Staff in the admin: find orders, read them whole, cancel with a reason."""

import pytest

from orders.models import Order, OrderEvent
from tests import factories
from tests.purchase import buyer_with_cart, place, stocked_variant

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(factories.UserFactory(email="staff@example.com", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def order():
    variant = stocked_variant(on_hand=5)
    user, address, cart = buyer_with_cart([(variant, 2)], email="li.lei@example.com")
    user.phone = "13912345678"
    user.save()
    return place(user, address, cart)


@pytest.mark.parametrize("query", ["number", "li.lei@example.com", "13912345678"])
def test_search_by_number_email_or_phone(staff_client, order, query):
    q = order.number if query == "number" else query
    response = staff_client.get("/admin/orders/order/", {"q": q})
    assert response.status_code == 200
    assert order.number in response.content.decode()


def test_filters_and_detail_page(staff_client, order):
    for params in ({"status__exact": "pending_payment"}, {"payment_method__exact": "sandbox"}):
        assert order.number in staff_client.get("/admin/orders/order/", params).content.decode()
    detail = staff_client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    assert order.lines.get().sku in detail  # lines, events and notifications inline


def test_staff_cancel_needs_a_reason_and_records_it(staff_client, order):
    url = "/admin/orders/order/"
    form = staff_client.post(url, {"action": "cancel_orders", "_selected_action": [order.pk]})
    assert form.status_code == 200 and b'name="reason"' in form.content
    refused = staff_client.post(url, {"action": "cancel_orders", "_selected_action": [order.pk], "apply": "1"})
    assert refused.status_code == 200
    assert Order.objects.get(pk=order.pk).status == "pending_payment"  # no reason, no change
    staff_client.post(
        url, {"action": "cancel_orders", "_selected_action": [order.pk], "apply": "1", "reason": "客户电话要求取消"}
    )
    order.refresh_from_db()
    assert order.status == "cancelled" and order.cancel_reason == "客户电话要求取消"
    event = OrderEvent.objects.get(order=order, to_status="cancelled")
    assert event.actor_kind == "staff" and event.actor.email == "staff@example.com"
    assert order.reservations.filter(state="released").exists()


def test_staff_cannot_cancel_a_paid_order(staff_client, order):
    from orders.services import order_mark_paid

    order_mark_paid(order_id=order.pk, amount=order.total, reference="t")
    staff_client.post(
        "/admin/orders/order/",
        {"action": "cancel_orders", "_selected_action": [order.pk], "apply": "1", "reason": "x"},
    )
    assert Order.objects.get(pk=order.pk).status == "paid"


def test_the_order_page_shows_its_payments_parcels_and_after_sales_together(staff_client, order):
    """Payments, fulfillment and after-sales each add inlines to the order admin: each builds
    on the one registered before it, so none drops another's."""
    from payments.services import wallet_pay, wallet_top_up

    wallet_top_up(user=order.customer, amount=order.total, reference="top-up")
    payment = wallet_pay(order_id=order.pk, user=order.customer)
    detail = staff_client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    assert 'id="payments-group"' in detail and payment.reference in detail  # payments' inline
    assert order.shipments.get().number in detail  # fulfillment's inline
    assert "aftersale" in detail  # after-sales' inlines (requests, refund notes, claims)
