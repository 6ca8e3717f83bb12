"""The express sandbox never reports an event later than the shop's clock: `make run` starts it
at speed 360, which used to run its clock 360 times faster than the shop's, so a parcel shipped
today showed "delivered" two days ahead. Now speed compresses each parcel's story and the clock
is the real one (moved here, for both, with time-machine)."""

import math
from datetime import datetime, timedelta

import time_machine
from django.utils import timezone

from fulfillment.carrier_sandbox import DELIVERED_WITHIN, start_in_thread
from fulfillment.carriers import DELIVERED, Place, WaybillRequest
from fulfillment.carriers.express import ExpressCarrier

KEY = "clock-test-key"
WAREHOUSE = Place(province="上海", city="上海", name="上海仓")
CUSTOMER = Place(province="广东省", city="广州市", address="天河区体育西路 1 号", name="张三", phone="13800138000")


def test_at_make_runs_speed_no_event_is_ahead_of_the_shops_clock():
    server = start_in_thread(key=KEY, speed=360)
    try:
        express = ExpressCarrier(base_url=server.base_url, key=KEY, timeout=2.0)
        shipped = timezone.now()
        number = express.create_waybill(
            WaybillRequest(reference="CLOCK1", sender=WAREHOUSE, recipient=CUSTOMER, weight_grams=500)
        )
        seen = []
        with time_machine.travel(shipped, tick=False) as traveller:
            # 36-60 story hours at 360× take 6-10 minutes; a failed first delivery up to 14.6.
            for _minute in range(math.ceil(DELIVERED_WITHIN / timedelta(hours=6))):
                traveller.shift(timedelta(minutes=1))
                events = express.fetch_events(number)
                now = timezone.now()
                assert all(event.occurred_at <= now for event in events), (now, events[-1].occurred_at)
                assert events[: len(seen)] == seen  # what was shown stays as it was
                seen = events
        assert seen and seen[-1].kind == DELIVERED
        times = [event.occurred_at for event in seen]
        assert times == sorted(times) and times[0] >= shipped.replace(microsecond=0)
        clock = datetime.fromisoformat(server.state()["now"])
        assert abs(clock - timezone.now()) < timedelta(seconds=5)  # the sandbox's clock is the shop's
    finally:
        server.shutdown()
