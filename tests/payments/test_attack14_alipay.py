"""Issue 12, second session, an attacker's review of Alipay's trade expiry (fc95798): the
trade's time_expire is the order's pay-by, and Alipay reads it (and every request's
timestamp) as Beijing time, GMT+8, whatever the shop's TIME_ZONE setting. A shop run with
TIME_ZONE=UTC sent its UTC wall clock: a trade meant to stay open 30 minutes was already 7.5
hours expired when the buyer opened it (no Alipay payment possible at all), and the request's
timestamp was 8 hours off."""

import datetime as dt
import json
from decimal import Decimal
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlsplit

import pytest
import time_machine

from payments.providers.alipay import AlipayGateway

NOW = dt.datetime(2026, 11, 29, 4, 0, tzinfo=dt.UTC)  # 12:00 in Beijing


@pytest.mark.parametrize("shop_time_zone", ["Asia/Shanghai", "UTC", "America/New_York"])
def test_alipay_times_are_beijing_time_whatever_the_shops_time_zone(settings, alipay, shop_time_zone):
    settings.TIME_ZONE = shop_time_zone
    order = SimpleNamespace(pay_by=NOW + dt.timedelta(minutes=30))
    payment = SimpleNamespace(reference="P20261129000001", amount=Decimal("120.00"), order=order)

    with time_machine.travel(NOW, tick=False):
        url = AlipayGateway().start(
            payment=payment, subject="Order 1", return_url="https://shop.test/r", notify_url="https://shop.test/n"
        )

    params = dict(parse_qsl(urlsplit(url).query))
    assert json.loads(params["biz_content"])["time_expire"] == "2026-11-29 12:30:00"
    assert params["timestamp"] == "2026-11-29 12:00:00"
