"""The trade close queued when an unpaid order is cancelled is lost if the broker is down at that
moment (enqueue logs and goes on): beat's sweeper closes the trades of cancelled orders still
inside their payment window, once each, a bounded batch at a time (issue 12, part M)."""

from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.conf import settings
from django.core.cache import cache

from orders.services import order_cancel
from payments import tasks
from payments.models import Payment
from payments.providers.sandbox import SandboxGateway, sandbox_trade_state
from payments.services import payment_start, payment_trades_sweep
from tests.purchase import buyer_with_cart, place, stocked_variant

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clean_cache():
    cache.clear()
    yield
    cache.clear()


def unpaid_with_trade():
    user, address, cart = buyer_with_cart([(stocked_variant(price="88.80"), 1)])
    order = place(user, address, cart, payment_method="sandbox")
    payment_start(order=order, provider="sandbox", return_url="http://testserver/r", notify_url="http://t/n")
    return order, Payment.objects.get(order=order, provider="sandbox")


def cancel_with_the_broker_down(order, django_capture_on_commit_callbacks):
    """The cancellation commits; queuing its close fails as with Redis down (the task never runs)."""
    down = mock.patch("celery.app.task.Task.apply_async", side_effect=ConnectionError("broker down"))
    with down, django_capture_on_commit_callbacks(execute=True):
        order_cancel(order_id=order.pk, actor=order.customer, actor_kind="customer", reason="changed my mind")


def test_a_close_lost_to_the_broker_is_made_by_the_sweeper_once(django_capture_on_commit_callbacks):
    order, payment = unpaid_with_trade()
    cancel_with_the_broker_down(order, django_capture_on_commit_callbacks)
    assert Payment.objects.get(pk=payment.pk).state == Payment.State.CANCELLED
    assert sandbox_trade_state(payment.reference) is None  # still payable at the gateway

    assert tasks.payment_trades_sweep.apply().get() == {"orders": 1, "left": 0}
    assert sandbox_trade_state(payment.reference) == "closed"
    with mock.patch.object(SandboxGateway, "close") as close:
        assert payment_trades_sweep() == {"orders": 0, "left": 0}  # known closed: not called again
    assert not close.called


def test_a_close_made_by_its_task_is_not_made_again_and_a_gateway_down_is_tried_at_the_next_sweep(
    django_capture_on_commit_callbacks,
):
    closed, _payment = unpaid_with_trade()
    with django_capture_on_commit_callbacks(execute=True):  # the broker up: the task closes it
        order_cancel(order_id=closed.pk, actor=closed.customer, actor_kind="customer", reason="x")
    order, payment = unpaid_with_trade()
    cancel_with_the_broker_down(order, django_capture_on_commit_callbacks)

    from payments.exceptions import PaymentError, PaymentErrorCode

    with mock.patch.object(SandboxGateway, "close", side_effect=PaymentError(PaymentErrorCode.GATEWAY_ERROR)):
        assert payment_trades_sweep() == {"orders": 1, "left": 1}  # only the lost one was tried
    assert payment_trades_sweep() == {"orders": 1, "left": 0}
    assert sandbox_trade_state(payment.reference) == "closed"


def test_the_sweep_is_bounded_by_the_window_and_the_batch(django_capture_on_commit_callbacks):
    orders = [unpaid_with_trade()[0] for _ in range(3)]
    for order in orders:
        cancel_with_the_broker_down(order, django_capture_on_commit_callbacks)
    assert payment_trades_sweep(limit=2)["orders"] == 2
    assert payment_trades_sweep(limit=2)["orders"] == 1
    cache.clear()  # the marks lost (a cache flushed): closed again, which changes nothing

    # Past the payment window the trades have expired at the gateway: nothing is read or called.
    later = orders[-1].pay_by + timedelta(seconds=1)
    with time_machine.travel(later), mock.patch.object(SandboxGateway, "close") as close:
        assert payment_trades_sweep() == {"orders": 0, "left": 0}
    assert not close.called


def test_beat_runs_the_sweep_every_minute():
    entry = next(
        e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "payments.tasks.payment_trades_sweep"
    )
    assert entry["schedule"] == timedelta(minutes=1)
