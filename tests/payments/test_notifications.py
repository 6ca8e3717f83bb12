"""Gateway notifications: verified, idempotent, safe out of order; the return page never pays."""

import threading
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connections

from orders.models import Notification, Order, OrderEvent
from payments.models import GatewayNotification, Payment
from payments.providers import sandbox
from payments.sandbox_gateway import notification_for
from payments.services import payment_start
from tests.purchase import buyer_with_cart, place, stocked_variant

NOTIFY = "/payments/notify/sandbox/"


@pytest.fixture
def pending_payment(db):
    variant = stocked_variant(on_hand=5, price="58.00")
    user, address, cart = buyer_with_cart([(variant, 1)])
    order = place(user, address, cart)
    payment_start(order=order, provider="sandbox", return_url="http://testserver/r", notify_url="http://testserver/n")
    return Payment.objects.get(order=order)


def resign(data: dict, secret: str | None = None) -> dict:
    data = {k: v for k, v in data.items() if k != "sign"}
    data["sign"] = sandbox.sign(data, secret)
    return data


def state(payment: Payment) -> tuple:
    payment.refresh_from_db()
    order = payment.order
    order.refresh_from_db()
    return (
        payment.state,
        order.status,
        OrderEvent.objects.filter(order=order).count(),
        Notification.objects.filter(order=order, kind="order_paid").count(),
    )


def test_valid_notification_is_accepted(client, pending_payment, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(NOTIFY, notification_for(reference=pending_payment.reference, outcome="pay"))
    assert response.status_code == 200 and response.content == b"success"
    assert state(pending_payment) == ("captured", "paid", 2, 1)
    assert any("Payment received" in m.subject or "付款" in m.subject or "已收到" in m.subject for m in mail.outbox)
    assert GatewayNotification.objects.get().accepted


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda d: {**d, "total_amount": "0.01"}, id="tampered-amount"),
        pytest.param(lambda d: {**d, "trade_status": "TRADE_SUCCESS", "out_trade_no": "P0"}, id="tampered-reference"),
        pytest.param(lambda d: resign(d, secret="not-the-shared-secret"), id="wrong-key"),
        pytest.param(lambda d: {k: v for k, v in d.items() if k != "sign"}, id="missing-signature"),
        pytest.param(lambda d: {**d, "sign": ""}, id="empty-signature"),
        pytest.param(lambda d: resign({**d, "app_id": "another-merchant"}), id="wrong-merchant"),
        pytest.param(lambda d: resign({**d, "out_trade_no": "P20260101DEADBEEF0000"}), id="unknown-order"),
        pytest.param(
            lambda d: resign({**d, "total_amount": str(Decimal(d["total_amount"]) - Decimal("0.01"))}),
            id="amount-0.01",
        ),
        pytest.param(lambda d: resign({**d, "currency": "USD"}), id="wrong-currency"),
        pytest.param(lambda d: resign({**d, "total_amount": "abc"}), id="malformed-amount"),
    ],
)
def test_bad_notifications_are_rejected_and_change_nothing(client, pending_payment, tamper):
    before = state(pending_payment)
    response = client.post(NOTIFY, tamper(notification_for(reference=pending_payment.reference, outcome="pay")))
    assert response.status_code == 400
    assert state(pending_payment) == before == ("pending", "pending_payment", 1, 0)
    assert not GatewayNotification.objects.get().accepted


def test_same_notification_ten_times_in_a_row(client, pending_payment, django_capture_on_commit_callbacks):
    data = notification_for(reference=pending_payment.reference, outcome="pay")
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(10):
            assert client.post(NOTIFY, data).content == b"success"
    assert state(pending_payment) == ("captured", "paid", 2, 1)
    # One "paid" mail (the "placed" one was owed before this test captured on-commit work).
    assert len([m for m in mail.outbox if pending_payment.order.number in m.subject]) == 1


def test_late_failure_never_undoes_paid(client, pending_payment):
    client.post(NOTIFY, notification_for(reference=pending_payment.reference, outcome="pay"))
    response = client.post(NOTIFY, notification_for(reference=pending_payment.reference, outcome="fail"))
    assert response.status_code == 200
    assert state(pending_payment)[:2] == ("captured", "paid")


def test_failure_then_success_pays(client, pending_payment):
    client.post(NOTIFY, notification_for(reference=pending_payment.reference, outcome="fail"))
    assert state(pending_payment)[:2] == ("failed", "pending_payment")
    client.post(NOTIFY, notification_for(reference=pending_payment.reference, outcome="pay"))
    assert state(pending_payment)[:2] == ("captured", "paid")


def test_a_payment_for_a_cancelled_order_goes_back(client, pending_payment, django_capture_on_commit_callbacks):
    """The gateway took the money after the order was cancelled: answered "success" (so it stops
    retrying) and refunded, never marking the order paid (tests/payments/test_payment_safety.py)."""
    from orders.services import order_cancel

    order_cancel(order_id=pending_payment.order_id, actor_kind="system", reason="timeout")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(NOTIFY, notification_for(reference=pending_payment.reference, outcome="pay"))
    assert response.status_code == 200
    assert state(pending_payment)[:2] == ("refunded", "cancelled")


def test_return_page_never_marks_paid(client, pending_payment):
    client.force_login(pending_payment.order.customer)
    query = {"out_trade_no": pending_payment.reference, "trade_status": "TRADE_SUCCESS"}
    response = client.get("/payments/return/", query)
    assert response.status_code == 200
    assert state(pending_payment)[:2] == ("pending", "pending_payment")
    assert b'http-equiv="refresh"' in response.content


def test_another_customer_cannot_see_my_return_page(client, pending_payment):
    from tests import factories

    client.force_login(factories.UserFactory())
    assert client.get("/payments/return/", {"out_trade_no": pending_payment.reference}).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_same_notification_ten_at_once():
    from django.test import Client

    variant = stocked_variant(on_hand=5, price="58.00")
    user, address, cart = buyer_with_cart([(variant, 1)])
    order = place(user, address, cart)
    payment_start(order=order, provider="sandbox", return_url="http://t/r", notify_url="http://t/n")
    payment = Payment.objects.get(order=order)
    data = notification_for(reference=payment.reference, outcome="pay")
    barrier = threading.Barrier(10)
    answers = []

    def post():
        try:
            barrier.wait(timeout=30)
            answers.append(Client().post(NOTIFY, data).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert answers == [200] * 10
    assert Payment.objects.filter(order=order, state="captured").count() == 1
    assert OrderEvent.objects.filter(order=order, to_status="paid").count() == 1
    assert Notification.objects.filter(order=order, kind="order_paid").count() == 1
    assert Order.objects.get(pk=order.pk).status == "paid"
