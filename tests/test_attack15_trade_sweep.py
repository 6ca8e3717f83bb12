"""Attacker's (and operator's) view of the trade-close sweeper (payments.services.payment_trades_sweep):
a gateway that times out must not make beat's minutely sweeps pile up on the workers."""

from unittest import mock

import pytest
from django.core.cache import cache

from payments import services
from payments.exceptions import PaymentError, PaymentErrorCode
from payments.providers.sandbox import SandboxGateway
from tests.payments.test_m15_trade_close_sweep import cancel_with_the_broker_down, unpaid_with_trade

pytestmark = pytest.mark.django_db


def test_a_sweep_against_a_gateway_timing_out_stops_before_the_next_one_starts(django_capture_on_commit_callbacks):
    cache.clear()
    for _ in range(3):
        order, _payment = unpaid_with_trade()
        cancel_with_the_broker_down(order, django_capture_on_commit_callbacks)
    clock = [1000.0]

    def timing_out(self, *, payment):
        clock[0] += 30  # a call that waits for its timeout
        raise PaymentError(PaymentErrorCode.GATEWAY_ERROR)

    with (
        mock.patch.object(services, "monotonic", lambda: clock[0]),
        mock.patch.object(SandboxGateway, "close", timing_out),
    ):
        swept = services.payment_trades_sweep()
    assert swept == {"orders": 2, "left": 2}  # the third waits for the next sweep
    assert clock[0] - 1000 < 2 * 60  # not minutes per sweep
    assert services.payment_trades_sweep() == {"orders": 3, "left": 0}  # the gateway back: all closed
    cache.clear()
