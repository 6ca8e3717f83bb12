"""Money the gateway took that the order did not need goes back, and nothing answers a 500.

A second successful payment for an order (two tabs, wallet then gateway, cash on delivery then
two gateway payments) or a payment for an order cancelled meanwhile is recorded "captured, to
refund" and refunded to where it came from, idempotently, with the gateway answered "success";
a refund that keeps failing stays in front of finance. A gateway trade number we already hold
for another payment is a clean refusal.
"""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from orders.models import Notification, Order, OrderEvent
from payments.exceptions import PaymentError, PaymentErrorCode
from payments.models import GatewayNotification, Payment, Refund, Wallet, WalletEntry
from payments.providers import sandbox
from payments.providers.sandbox import SandboxGateway
from payments.sandbox_gateway import notification_for
from payments.services import (
    REFUND_MAX_ATTEMPTS,
    cod_accept,
    payment_refund,
    payment_start,
    refund_send,
    refunds_sweep,
    wallet_pay,
    wallet_top_up,
)
from tests import factories
from tests.purchase import buyer_with_cart, place, stocked_variant

NOTIFY = "/payments/notify/sandbox/"
D = Decimal


def order_with_tabs(tabs: int = 2, *, price: str = "58.00", **place_kwargs) -> tuple[Order, list[Payment]]:
    """An unpaid order and `tabs` sandbox payments started for it (one per browser tab)."""
    user, address, cart = buyer_with_cart([(stocked_variant(on_hand=5, price=price), 1)])
    order = place(user, address, cart, **place_kwargs)
    for _ in range(tabs):
        payment_start(order=order, provider="sandbox", return_url="http://t/r", notify_url="http://t/n")
    return order, list(order.payments.order_by("pk"))


def signed(data: dict) -> dict:
    data = {k: v for k, v in data.items() if k != "sign"}
    data["sign"] = sandbox.sign(data)
    return data


def pay(client, payment: Payment, **changes) -> object:
    data = notification_for(reference=payment.reference, outcome="pay")
    return client.post(NOTIFY, signed({**data, **changes}) if changes else data)


def states(order: Order) -> list[tuple[str, str]]:
    return list(order.payments.order_by("pk").values_list("provider", "state"))


def paid_once(order: Order) -> bool:
    order.refresh_from_db()
    return (
        order.status == Order.Status.PAID
        and OrderEvent.objects.filter(order=order, to_status="paid").count() == 1
        and Notification.objects.filter(order=order, kind="order_paid").count() == 1
    )


# -- paid twice -------------------------------------------------------------------------------


def test_two_tabs_both_paid_the_second_goes_back_and_the_gateway_hears_success(
    client, db, django_capture_on_commit_callbacks
):
    order, (first, second) = order_with_tabs(2)
    with django_capture_on_commit_callbacks(execute=True):
        assert pay(client, first).content == b"success"
        response = pay(client, second)

    assert (response.status_code, response.content) == (200, b"success")
    assert states(order) == [("sandbox", "captured"), ("sandbox", "refunded")]
    assert paid_once(order)
    refund = Refund.objects.get()
    second.refresh_from_db()
    assert (refund.payment, refund.amount, refund.reason, refund.state) == (
        second,
        order.total,
        "paid_twice",
        "succeeded",
    )
    assert refund.request_no == f"{second.reference}R01"
    assert refund.gateway_reference == f"sandbox-refund-{refund.request_no}"
    assert refund.completed_at is not None and refund.attempts == 1
    assert second.transaction_id == f"SBX{second.pk:010d}" and second.captured_at is not None
    record = GatewayNotification.objects.order_by("pk").last()
    assert record.accepted and record.outcome == f"{second.reference}: to_refund"

    # The gateway retries the same notification: nothing more happens.
    with django_capture_on_commit_callbacks(execute=True):
        assert pay(client, second).content == b"success"
        assert pay(client, first).content == b"success"
    assert Refund.objects.count() == 1
    assert states(order) == [("sandbox", "captured"), ("sandbox", "refunded")]
    assert paid_once(order)


def test_wallet_then_gateway_the_gateway_payment_goes_back(client, db, django_capture_on_commit_callbacks):
    order, (online,) = order_with_tabs(1)
    wallet_top_up(user=order.customer, amount=D("100.00"), reference="T1")
    wallet_pay(order_id=order.pk, user=order.customer)

    with django_capture_on_commit_callbacks(execute=True):
        response = pay(client, online)

    assert (response.status_code, response.content) == (200, b"success")
    assert states(order) == [("sandbox", "refunded"), ("wallet", "captured")]
    assert paid_once(order)
    assert Wallet.objects.get(user=order.customer).balance == D("100.00") - order.total  # the wallet keeps paying
    assert Refund.objects.get().payment == online


def test_cash_on_delivery_then_two_gateway_payments(client, db, django_capture_on_commit_callbacks):
    """The first online payment withdraws cash on delivery (the courier must not collect); the
    second one finds the order paid online and goes back. Cash on delivery stays withdrawn."""
    order, (first, second) = order_with_tabs(2)
    cod_accept(order_id=order.pk, user=order.customer)

    with django_capture_on_commit_callbacks(execute=True):
        pay(client, first)
        assert pay(client, second).content == b"success"

    assert states(order) == [("sandbox", "captured"), ("sandbox", "refunded"), ("cod", "withdrawn")]
    order.refresh_from_db()
    assert order.payment_method == "sandbox" and order.status == "paid"
    assert Refund.objects.get().payment == second


def test_cash_collected_then_a_late_gateway_success_goes_back(client, db, django_capture_on_commit_callbacks):
    from payments.services import cod_collect

    order, (online,) = order_with_tabs(1)
    cod_accept(order_id=order.pk, user=order.customer)
    cod_collect(order_id=order.pk, amount=order.total, reference="courier-1")

    with django_capture_on_commit_callbacks(execute=True):
        assert pay(client, online).content == b"success"

    assert states(order) == [("sandbox", "refunded"), ("cod", "captured")]


def test_a_payment_after_the_order_was_cancelled_goes_back(client, db, django_capture_on_commit_callbacks):
    from orders.services import order_cancel

    order, (payment,) = order_with_tabs(1)
    order_cancel(order_id=order.pk, actor_kind="system", reason="timeout")

    with django_capture_on_commit_callbacks(execute=True):
        response = pay(client, payment)

    assert (response.status_code, response.content) == (200, b"success")
    assert states(order) == [("sandbox", "refunded")]
    assert Refund.objects.get().reason == "not_payable"
    order.refresh_from_db()
    assert order.status == "cancelled"


def test_a_failed_refund_stays_to_refund_and_finance_sees_it(
    client, db, monkeypatch, django_capture_on_commit_callbacks
):
    calls = []

    def refuse(self, *, payment, amount, request_no):
        calls.append(request_no)
        raise PaymentError(PaymentErrorCode.GATEWAY_ERROR)

    monkeypatch.setattr(SandboxGateway, "refund", refuse)
    order, (first, second) = order_with_tabs(2)
    with django_capture_on_commit_callbacks(execute=True):
        pay(client, first)
        assert pay(client, second).content == b"success"  # the gateway still hears success

    refund = Refund.objects.get()
    assert (refund.state, refund.attempts) == ("pending", 1)
    assert refund.last_error.startswith("gateway_error")
    assert states(order) == [("sandbox", "captured"), ("sandbox", "to_refund")]

    for _ in range(REFUND_MAX_ATTEMPTS - 1):
        refund_send(refund_id=refund.pk)
    refund.refresh_from_db()
    assert (refund.state, refund.attempts) == ("failed", REFUND_MAX_ATTEMPTS)
    assert set(calls) == {refund.request_no}  # every attempt is the same refund at the gateway

    admin = Client()
    admin.force_login(factories.UserFactory(is_staff=True, is_superuser=True))
    to_refund = admin.get("/admin/payments/payment/", {"to_refund": "yes"})
    assert second.reference in to_refund.content.decode() and first.reference not in to_refund.content.decode()
    failed = admin.get("/admin/payments/payment/", {"to_refund": "failed"})
    assert second.reference in failed.content.decode() and first.reference not in failed.content.decode()
    assert refund.request_no in admin.get("/admin/payments/refund/", {"state": "failed"}).content.decode()
    page = admin.get(f"/admin/payments/refund/{refund.pk}/change/").content.decode()
    assert refund.request_no in page and 'name="amount"' not in page  # read only

    # Finance sends it again once the gateway is back: the same request number, paid once.
    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            "/admin/payments/refund/", {"action": "retry", "_selected_action": [refund.pk]}, follow=True
        )
    assert response.status_code == 200
    refund.refresh_from_db()
    assert (refund.state, refund.gateway_reference) == ("succeeded", f"sandbox-refund-{refund.request_no}")
    assert states(order) == [("sandbox", "captured"), ("sandbox", "refunded")]
    again = admin.post("/admin/payments/refund/", {"action": "retry", "_selected_action": [refund.pk]}, follow=True)
    assert "Only a failed refund can be sent again." in again.content.decode() or "失败" in again.content.decode()


def test_a_refund_lost_with_the_broker_is_sent_by_the_sweeper(client, db):
    _order, (first, second) = order_with_tabs(2)
    pay(client, first)
    pay(client, second)  # on-commit work not run: as if the broker had been down
    refund = Refund.objects.get()
    assert (refund.state, refund.attempts) == ("pending", 0)

    assert refunds_sweep() == 0  # too fresh: its own task may still be on the way
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        assert refunds_sweep() == 1
    refund.refresh_from_db()
    assert refund.state == "succeeded"
    assert refunds_sweep() == 0


def test_a_gateway_trade_number_we_hold_for_another_payment_is_refused_cleanly(client, db):
    _order, (paid,) = order_with_tabs(1)
    other, (payment,) = order_with_tabs(1)
    pay(client, paid)
    paid.refresh_from_db()

    response = pay(client, payment, trade_no=paid.transaction_id)

    assert (response.status_code, response.content) == (400, b"fail")
    payment.refresh_from_db()
    assert (payment.state, payment.transaction_id) == ("pending", None)
    other.refresh_from_db()
    assert other.status == "pending_payment"
    assert GatewayNotification.objects.order_by("pk").last().outcome == "rejected: transaction_reused"


# -- refunds to the original method (after-sales will call payment_refund) -----------------------


def test_a_wallet_payment_is_refunded_by_a_ledger_credit(db):
    order, _ = order_with_tabs(0)
    wallet_top_up(user=order.customer, amount=D("100.00"), reference="T1")
    payment = wallet_pay(order_id=order.pk, user=order.customer)
    rest_amount = order.total - D("20.00")

    part = payment_refund(payment_id=payment.pk, amount=D("20.00"), reason=Refund.Reason.CUSTOMER, note="one line")
    with pytest.raises(PaymentError) as error:
        payment_refund(payment_id=payment.pk, amount=rest_amount + D("0.01"), reason=Refund.Reason.CUSTOMER)
    assert error.value.code == PaymentErrorCode.REFUND_TOO_LARGE
    payment.refresh_from_db()
    assert (part.state, payment.state) == ("succeeded", "captured")
    rest = payment_refund(payment_id=payment.pk, amount=rest_amount, reason=Refund.Reason.CUSTOMER)

    payment.refresh_from_db()
    assert (rest.request_no, rest.state, payment.state) == (f"{payment.reference}R02", "succeeded", "refunded")
    entries = WalletEntry.objects.filter(reason=WalletEntry.Reason.REFUND).order_by("pk")
    assert list(entries.values_list("amount", "reference")) == [
        (D("20.00"), part.request_no),
        (rest_amount, rest.request_no),
    ]
    assert Wallet.objects.get(user=order.customer).balance == D("100.00")


def test_cash_on_delivery_and_uncaptured_payments_are_not_refunded_to_their_method(db):
    order, (pending,) = order_with_tabs(1)
    cod = cod_accept(order_id=order.pk, user=order.customer)
    for payment in (pending, cod):
        with pytest.raises(PaymentError) as error:
            payment_refund(payment_id=payment.pk, amount=D("1.00"), reason=Refund.Reason.CUSTOMER)
        assert error.value.code == PaymentErrorCode.NOT_REFUNDABLE
    assert not Refund.objects.exists()


# -- concurrency (real threads, PostgreSQL) -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_payments_of_one_order_notified_at_once_one_capture_one_refund(monkeypatch):
    order, payments = order_with_tabs(2)
    notifications = [notification_for(reference=p.reference, outcome="pay") for p in payments] * 3
    refunded_in_transaction = []
    original = SandboxGateway.refund

    def refund(self, **kwargs):
        refunded_in_transaction.append(connection.in_atomic_block)
        return original(self, **kwargs)

    monkeypatch.setattr(SandboxGateway, "refund", refund)
    barrier = threading.Barrier(len(notifications))
    answers = []

    def post(data):
        try:
            barrier.wait(timeout=30)
            answers.append(Client().post(NOTIFY, data).content)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post, args=(data,)) for data in notifications]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert answers == [b"success"] * len(notifications)
    assert sorted(s for _p, s in states(order)) == ["captured", "refunded"]
    refund = Refund.objects.get()
    assert refund.state == "succeeded" and refund.payment.state == "refunded"
    assert refunded_in_transaction == [False]  # the gateway was called once, with no transaction open
    assert paid_once(order)
