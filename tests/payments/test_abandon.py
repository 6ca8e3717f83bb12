"""Leaving the gateway without paying, and the payments of a cancelled order.

Abandoning the sandbox gateway's page brings the customer back to the order page with a clear
message (pay again until the deadline, or cancel), never to a page waiting for a result that
will not come. When an order is cancelled, by the customer, staff or the unpaid timeout, its
payments still open at the gateway show as cancelled; a gateway reporting one of them paid
afterwards is answered "success" and the money goes back (once, however often it is told); a
late failure changes nothing."""

from datetime import timedelta
from urllib.parse import urlencode

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from orders.models import Order
from orders.services import order_cancel, orders_cancel_expired
from payments.models import GatewayNotification, Payment, Refund
from payments.sandbox_gateway import notification_for
from payments.services import payment_start, wallet_pay, wallet_top_up
from tests import factories
from tests.purchase import buyer_with_cart, english, last_message, place, stocked_variant

pytestmark = pytest.mark.django_db
NOTIFY = "/payments/notify/sandbox/"


@pytest.fixture
def customer():
    user, address, cart = buyer_with_cart([(stocked_variant(on_hand=5, price="39.00"), 1)])
    return user, place(user, address, cart, payment_method="sandbox")


def started(client: Client, order: Order) -> str:
    response = client.post(f"/payments/pay/{order.number}/", {"method": "sandbox"})
    assert response.status_code == 302
    return response["Location"]


def states(order: Order) -> list[str]:
    return list(order.payments.order_by("pk").values_list("state", flat=True))


def open_payment(order: Order) -> Payment:
    payment_start(order=order, provider="sandbox", return_url="http://t/r", notify_url="http://t/n")
    return order.payments.order_by("-pk").first()


# -- abandoning -----------------------------------------------------------------------------


def test_abandoning_returns_to_the_order_page_saying_until_when_it_can_be_paid(client, customer, settings):
    settings.SITE_URL = "http://testserver"
    user, order = customer
    english(client).force_login(user)
    page = started(client, order)

    quit_url = client.post(page, {"outcome": "abandon"})["Location"]
    response = client.get(quit_url)

    assert response.status_code == 302 and response["Location"] == order.get_absolute_url()
    deadline = timezone.localtime(order.pay_by)
    # A deadline past midnight names its day too (the next test).
    until = deadline.strftime("%H:%M" if deadline.date() == timezone.localdate() else "%Y-%m-%d %H:%M")
    assert last_message(response) == (
        f"Payment not completed: nothing was charged. You can pay again until {until}, or cancel the order."
    )
    assert not GatewayNotification.objects.exists()  # the gateway said nothing
    shown = client.get(response["Location"]).content.decode()
    assert f"You can pay again until {until}" in shown and 'id="pay-now"' in shown
    # Paying again works: a new payment, paid.
    again = started(client, order)
    assert again != page
    with_notification = client.post(
        NOTIFY, notification_for(reference=order.payments.latest("pk").reference, outcome="pay")
    )
    assert with_notification.content == b"success"
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_abandoning_an_order_that_can_no_longer_be_paid_says_so(client, customer):
    user, order = customer
    english(client).force_login(user)
    payment = open_payment(order)
    order_cancel(order_id=order.pk, actor_kind="system", reason="payment timeout")

    response = client.get("/payments/abandoned/?" + urlencode({"out_trade_no": payment.reference}))
    assert response["Location"] == order.get_absolute_url()
    assert last_message(response) == "Payment not completed. This order can no longer be paid."


def test_the_quit_address_is_the_customers_own_and_changes_nothing(client, customer):
    user, order = customer
    payment = open_payment(order)
    stranger = factories.UserFactory()
    client.force_login(stranger)
    assert client.get("/payments/abandoned/?" + urlencode({"out_trade_no": payment.reference})).status_code == 404
    client.force_login(user)
    client.get("/payments/abandoned/?" + urlencode({"out_trade_no": payment.reference}))
    assert states(order) == ["pending"]


def test_the_return_page_stops_waiting_after_a_while(client, customer):
    user, order = customer
    english(client).force_login(user)
    payment = open_payment(order)
    url = "/payments/return/?" + urlencode({"out_trade_no": payment.reference})
    first = client.get(url).content.decode()
    assert "Waiting for the payment confirmation" in first and 'http-equiv="refresh"' in first
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        later = client.get(url).content.decode()
    assert "No confirmation from the payment gateway yet" in later and 'http-equiv="refresh"' not in later
    assert "Waiting" not in later


# -- a cancelled order's payments -----------------------------------------------------------


def test_the_customer_cancelling_cancels_the_open_payments(client, customer):
    user, order = customer
    english(client).force_login(user)
    failed, pending = open_payment(order), open_payment(order)
    Payment.objects.filter(pk=failed.pk).update(state=Payment.State.FAILED)

    client.post(f"/orders/{order.number}/cancel/")

    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert states(order) == ["failed", "cancelled"]  # what failed stays failed
    page = client.get(order.get_absolute_url()).content.decode()
    assert f"{pending.reference} · ¥{pending.amount} · Cancelled" in page and "Pending" not in page


def test_staff_cancelling_cancels_the_open_payments(client, customer):
    _user, order = customer
    open_payment(order)
    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))
    form = {"action": "cancel_orders", "_selected_action": [order.pk], "apply": "1", "reason": "客户来电取消"}
    client.post("/admin/orders/order/", form)
    assert states(order) == ["cancelled"]


def test_the_unpaid_timeout_cancels_the_open_payments(customer):
    _user, order = customer
    open_payment(order)
    with time_machine.travel(order.pay_by + timedelta(seconds=1)):
        assert orders_cancel_expired() == 1
    assert states(order) == ["cancelled"]


def test_a_late_success_for_a_cancelled_payment_is_refunded_once(client, customer, django_capture_on_commit_callbacks):
    user, order = customer
    payment = open_payment(order)
    order_cancel(order_id=order.pk, actor_kind="customer", actor=user, reason="changed my mind")
    assert states(order) == ["cancelled"]
    notification = notification_for(reference=payment.reference, outcome="pay")

    for _ in range(2):  # the gateway retries until it hears "success"
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(NOTIFY, notification)
        assert (response.status_code, response.content) == (200, b"success")

    refund = Refund.objects.get()
    assert (refund.payment_id, refund.reason, refund.amount) == (
        payment.pk,
        Refund.Reason.ORDER_NOT_PAYABLE,
        payment.amount,
    )
    assert refund.state == Refund.State.SUCCEEDED and states(order) == ["refunded"]
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED and order.paid_at is None
    # The customer's return page says so (it used to thank them for a paid order).
    english(client).force_login(user)
    page = client.get("/payments/return/?" + urlencode({"out_trade_no": payment.reference})).content.decode()
    assert "This order was cancelled" in page and "refunded" in page and "Your order is paid" not in page


def test_a_late_failure_leaves_a_cancelled_payment_cancelled(client, customer):
    user, order = customer
    payment = open_payment(order)
    order_cancel(order_id=order.pk, actor_kind="customer", actor=user, reason="changed my mind")

    response = client.post(NOTIFY, notification_for(reference=payment.reference, outcome="fail"))

    assert response.content == b"success" and states(order) == ["cancelled"]
    assert not Refund.objects.exists()
    english(client).force_login(user)
    page = client.get("/payments/return/?" + urlencode({"out_trade_no": payment.reference})).content.decode()
    assert "This order was cancelled" in page and "Nothing was charged." in page


def test_the_abandoned_message_gives_the_date_when_the_deadline_is_not_today(client, customer):
    user, order = customer
    payment = open_payment(order)
    deadline = timezone.localtime(order.pay_by)
    english(client).force_login(user)
    # Late the evening before the deadline's day: the time alone would read as this evening.
    with time_machine.travel(deadline.replace(hour=0, minute=0) - timedelta(minutes=30)):
        response = client.get("/payments/abandoned/?" + urlencode({"out_trade_no": payment.reference}))
    until = deadline.strftime("%Y-%m-%d %H:%M")
    assert last_message(response) == (
        f"Payment not completed: nothing was charged. You can pay again until {until}, or cancel the order."
    )


# -- a paid order's other payments ----------------------------------------------------------


def test_paying_cancels_the_orders_other_open_payments_and_a_late_success_is_refunded_once(
    client, customer, django_capture_on_commit_callbacks
):
    user, order = customer
    abandoned, failed, paying = open_payment(order), open_payment(order), open_payment(order)
    Payment.objects.filter(pk=failed.pk).update(state=Payment.State.FAILED)

    client.post(NOTIFY, notification_for(reference=paying.reference, outcome="pay"))

    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert states(order) == ["cancelled", "failed", "captured"]  # what failed stays failed
    english(client).force_login(user)
    page = client.get(order.get_absolute_url()).content.decode()
    assert f"{abandoned.reference} · ¥{abandoned.amount} · Cancelled" in page and "Pending" not in page

    # The customer finishes the abandoned one after all: the money goes back, once.
    notification = notification_for(reference=abandoned.reference, outcome="pay")
    for _ in range(2):  # the gateway retries until it hears "success"
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(NOTIFY, notification)
        assert (response.status_code, response.content) == (200, b"success")
    refund = Refund.objects.get()
    assert (refund.payment_id, refund.reason, refund.amount) == (
        abandoned.pk,
        Refund.Reason.PAID_TWICE,
        abandoned.amount,
    )
    assert refund.state == Refund.State.SUCCEEDED
    assert states(order) == ["refunded", "failed", "captured"]
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_paying_from_the_wallet_cancels_the_open_gateway_payments(customer):
    user, order = customer
    abandoned = open_payment(order)
    wallet_top_up(user=user, amount=order.total, reference="T1")

    wallet_pay(order_id=order.pk, user=user)

    abandoned.refresh_from_db()
    assert abandoned.state == Payment.State.CANCELLED
