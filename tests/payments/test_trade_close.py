"""An unpaid order cancelled (by the customer or the payment timeout) has its open trades closed at
the gateway once the cancellation commits, by a task Celery retries while the gateway cannot be
reached; a payment that beats the close is refunded as any payment of a cancelled order is.
Alipay's alipay.trade.close is checked against its published protocol with locally made keys."""

import json
from datetime import timedelta
from urllib.parse import parse_qsl

import pytest
import time_machine
from celery.exceptions import Retry
from django.test import Client
from django.utils import timezone

from orders.models import Order
from orders.services import order_cancel, orders_cancel_expired
from payments import tasks
from payments.exceptions import PaymentError, PaymentErrorCode
from payments.models import Payment, Refund
from payments.providers import GatewayResult
from payments.providers.alipay import AlipayGateway
from payments.providers.sandbox import SandboxGateway, sandbox_trade_state
from payments.services import payment_apply, payment_start
from tests.payments.conftest import GATEWAY_URL, rsa2_sign
from tests.payments.test_wallet_alipay import request_string, rsa2_verifies
from tests.purchase import buyer_with_cart, place, stocked_variant

pytestmark = pytest.mark.django_db


def unpaid_with_trade(provider: str = "sandbox") -> tuple[Order, Payment]:
    user, address, cart = buyer_with_cart([(stocked_variant(price="88.80"), 1)])
    order = place(user, address, cart, payment_method=provider)
    payment_start(order=order, provider=provider, return_url="http://testserver/r", notify_url="http://t/n")
    return order, Payment.objects.get(order=order, provider=provider)


def test_a_cancelled_orders_trade_is_closed_at_the_gateway_after_commit_and_cannot_be_paid_there(
    django_capture_on_commit_callbacks,
):
    order, payment = unpaid_with_trade()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        order_cancel(order_id=order.pk, actor=order.customer, actor_kind="customer", reason="changed my mind")
        assert sandbox_trade_state(payment.reference) is None  # nothing is called inside the transaction
    assert len(callbacks) >= 1
    assert sandbox_trade_state(payment.reference) == "closed"
    assert Payment.objects.get(pk=payment.pk).state == Payment.State.CANCELLED

    # The gateway's page left open in another tab: paying there is refused, nothing is notified.
    browser = Client()
    browser.force_login(order.customer)
    with django_capture_on_commit_callbacks(execute=True) as queued:
        answer = browser.post(f"/payments/sandbox/{payment.reference}/", {"outcome": "pay"})
    assert answer.status_code == 302 and not queued
    assert sandbox_trade_state(payment.reference) == "closed"
    # Closing again (a retried task) changes nothing.
    assert tasks.payment_trades_close.apply(args=[order.pk]).get() == 0


def test_the_payment_timeout_closes_the_trade_and_a_payment_that_came_first_is_refunded(
    django_capture_on_commit_callbacks,
):
    order, payment = unpaid_with_trade()
    browser = Client()
    browser.force_login(order.customer)
    with django_capture_on_commit_callbacks(execute=False):  # the buyer pays; the notification is late
        browser.post(f"/payments/sandbox/{payment.reference}/", {"outcome": "pay"})
    with time_machine.travel(order.pay_by + timedelta(minutes=1)), django_capture_on_commit_callbacks(execute=True):
        assert orders_cancel_expired() == 1
    assert sandbox_trade_state(payment.reference) == "paid"  # too late to close: the money is taken
    result = GatewayResult(
        reference=payment.reference, transaction_id="SBX-late", amount=payment.amount, currency=payment.currency,
        merchant_id="", succeeded=True,
    )  # fmt: skip
    assert payment_apply(payment_id=payment.pk, result=result).state == Payment.State.TO_REFUND
    assert Refund.objects.get(payment=payment).amount == payment.amount
    assert Order.objects.get(pk=order.pk).status == Order.Status.CANCELLED


def test_a_gateway_that_cannot_be_reached_is_retried_by_celery(monkeypatch):
    order, payment = unpaid_with_trade()
    order_cancel(order_id=order.pk, actor=None, actor_kind="system", reason="payment timeout")

    def down(self, *, payment):
        raise PaymentError(PaymentErrorCode.GATEWAY_ERROR)

    monkeypatch.setattr(SandboxGateway, "close", down)
    assert tasks.payment_trades_close.apply(args=[order.pk]).get() == 1  # eager: no later to retry in
    with pytest.raises(Retry):
        tasks.payment_trades_close.run(order.pk)  # under a worker: retried with a pause
    monkeypatch.undo()
    assert tasks.payment_trades_close.run(order.pk) == 0
    assert sandbox_trade_state(payment.reference) == "closed"


def test_only_a_cancelled_orders_trades_are_closed():
    order, payment = unpaid_with_trade()
    assert tasks.payment_trades_close.run(order.pk) == 0
    assert sandbox_trade_state(payment.reference) is None


# -- Alipay ---------------------------------------------------------------------------------


def signed_close_answer(private_pem: str, answer: dict) -> str:
    text = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
    return '{"alipay_trade_close_response":' + text + ',"sign":"' + rsa2_sign(text, private_pem) + '"}'


def failure(sub_code: str) -> dict:
    return {"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": "…"}


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (
            {"code": "10000", "msg": "Success", "trade_no": "2013112111001004500000675971", "out_trade_no": "P1"},
            "closed",
        ),
        (failure("ACQ.TRADE_NOT_EXIST"), "not_created"),
        (failure("ACQ.TRADE_HAS_CLOSE"), "closed"),
        (failure("ACQ.TRADE_HAS_SUCCESS"), "paid"),
    ],
)
def test_alipays_close_answers(alipay, answer, outcome):
    assert AlipayGateway().parse_close_response(signed_close_answer(alipay["alipay_private"], answer)) == outcome


@pytest.mark.parametrize(
    ("raw_of", "code"),
    [
        (lambda k: signed_close_answer(k["alipay_private"], failure("ACQ.SYSTEM_ERROR")), "gateway_error"),
        (lambda k: signed_close_answer(k["merchant_private"], failure("ACQ.TRADE_HAS_CLOSE")), "bad_signature"),
        (lambda k: "<html>502 Bad Gateway</html>", "gateway_error"),
    ],
)
def test_an_alipay_close_answer_that_says_no_or_does_not_verify_is_retried(alipay, raw_of, code):
    with pytest.raises(PaymentError) as error:
        AlipayGateway().parse_close_response(raw_of(alipay))
    assert error.value.code == code


def test_an_alipay_trade_is_closed_with_a_signed_request_and_expires_with_the_payment_window(alipay, monkeypatch):
    sent = {}

    class Answer:
        def __init__(self, body: str):
            self.body = body.encode()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return self.body

    def fake_urlopen(request, timeout):
        sent["url"] = request.full_url
        sent["params"] = dict(parse_qsl(request.data.decode(), keep_blank_values=True))
        return Answer(signed_close_answer(alipay["alipay_private"], {"code": "10000", "msg": "Success"}))

    monkeypatch.setattr("payments.providers.alipay.urlopen", fake_urlopen)
    order, payment = unpaid_with_trade("alipay")
    order_cancel(order_id=order.pk, actor=None, actor_kind="system", reason="payment timeout")
    assert tasks.payment_trades_close.run(order.pk) == 0

    params = sent["params"]
    assert sent["url"] == GATEWAY_URL
    assert (params["method"], params["sign_type"]) == ("alipay.trade.close", "RSA2")
    assert json.loads(params["biz_content"]) == {"out_trade_no": payment.reference}
    assert rsa2_verifies(request_string(params), params["sign"], alipay["merchant_public"])
    # The page-pay trade itself expires when the order's payment window closes.
    url = AlipayGateway().start(payment=payment, subject="x", return_url="http://r", notify_url="http://n")
    biz = json.loads(dict(parse_qsl(url.split("?", 1)[1]))["biz_content"])
    assert biz["time_expire"] == timezone.localtime(order.pay_by).strftime("%Y-%m-%d %H:%M:%S")


def test_a_gateway_no_longer_configured_is_skipped_not_retried_for_ever(alipay, settings, caplog):
    """Alipay taken off the shop after a trade was opened: nothing to call, so the task ends
    (the trade expires at its time_expire; a late payment is refunded) instead of failing on
    the missing configuration at every retry."""
    order, payment = unpaid_with_trade("alipay")
    order_cancel(order_id=order.pk, actor=order.customer, actor_kind="customer", reason="changed my mind")
    settings.PAYMENT_PROVIDERS = [p for p in settings.PAYMENT_PROVIDERS if p != "alipay"]
    settings.ALIPAY = {}

    assert tasks.payment_trades_close.apply(args=[order.pk]).get() == 0
    assert payment.reference in caplog.text and "no longer configured" in caplog.text
