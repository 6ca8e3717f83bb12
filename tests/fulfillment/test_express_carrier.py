"""The express carrier's client against the sandbox of its API, over real HTTP: waybills,
tracking as the sandbox clock runs, and every way a call can fail (refused, unreachable,
malformed). No database: the client and the sandbox hold no rows."""

import json
import random
import re
import socket
import threading
import time
from datetime import datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from fulfillment import carrier_sandbox
from fulfillment.carrier_sandbox import CHINA, DELIVERED_WITHIN, Waybill, plan, start_in_thread
from fulfillment.carriers import (
    COLLECTED,
    DELIVERED,
    EXCEPTION,
    IN_TRANSIT,
    OUT_FOR_DELIVERY,
    CarrierError,
    CarrierUnavailable,
    Place,
    WaybillRequest,
    carrier,
)
from fulfillment.carriers.express import ExpressCarrier, sign

KEY = "test-key"
WAREHOUSE = Place(province="上海", city="上海", name="上海仓")
CUSTOMER = Place(province="广东省", city="广州市", address="天河区体育西路 1 号", name="张三", phone="13800138000")
SIGNERS = {"张三", "快递柜代收", "前台代收"}


@pytest.fixture
def sandbox():
    server = start_in_thread(key=KEY)
    yield server
    server.shutdown()


@pytest.fixture
def express(sandbox) -> ExpressCarrier:
    return ExpressCarrier(base_url=sandbox.base_url, key=KEY, timeout=2.0)


def waybill(reference: str = "S0001", **changes) -> WaybillRequest:
    fields = {"reference": reference, "sender": WAREHOUSE, "recipient": CUSTOMER, "weight_grams": 1200}
    return WaybillRequest(**(fields | changes))


def control(sandbox, path: str, payload: dict | None = None) -> requests.Response:
    """Call one of the sandbox's own (unsigned) control endpoints."""
    if payload is None:
        return requests.get(sandbox.base_url + path, timeout=2)
    return requests.post(sandbox.base_url + path, json=payload, timeout=2)


def set_exception(sandbox, number: str, exception: bool | None) -> requests.Response:
    return control(sandbox, f"/_sandbox/waybills/{number}/scenario", {"exception": exception})


def created_at(sandbox, number: str) -> datetime:
    [row] = [row for row in control(sandbox, "/_sandbox/state").json()["waybills"] if row["tracking_number"] == number]
    return datetime.fromisoformat(row["created_at"])


# Waybills -----------------------------------------------------------------------------------


def test_a_waybill_is_created_once_per_reference(express, sandbox):
    number = express.create_waybill(waybill("S0001"))
    assert re.fullmatch(r"SX\d{12}", number)
    # A retry (say after a timeout) gets the same waybill, not a second parcel.
    assert express.create_waybill(waybill("S0001")) == number
    other = express.create_waybill(waybill("S0002", cod_amount=Decimal("12.3")))
    assert other != number

    state = control(sandbox, "/_sandbox/state").json()
    assert sorted((row["reference"], row["tracking_number"]) for row in state["waybills"]) == [
        ("S0001", number),
        ("S0002", other),
    ]


def test_concurrent_retries_make_one_waybill(express, sandbox):
    numbers = []

    def create() -> None:
        numbers.append(express.create_waybill(waybill("S-RACE")))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(numbers) == 8 and len(set(numbers)) == 1
    assert len(sandbox.state()["waybills"]) == 1


def test_the_registry_builds_the_client_from_settings(settings, sandbox):
    settings.CARRIER_EXPRESS_URL = sandbox.base_url
    settings.CARRIER_EXPRESS_KEY = KEY
    express = carrier("express")
    assert isinstance(express, ExpressCarrier) and express.polled
    number = express.create_waybill(waybill())
    assert express.fetch_events(number) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"weight_grams": 0}, "weight_grams must be a whole number of grams from 1 to 100000"),
        ({"weight_grams": 100_001}, "weight_grams must be a whole number of grams from 1 to 100000"),
        ({"reference": ""}, "reference must be a string of 1 to 64 characters"),
        ({"recipient": Place(province="广东", city="广州", name="张三", address="x")}, "recipient.phone is required"),
        ({"sender": Place(province="上海", city="")}, "sender.city is required"),
    ],
)  # fmt: skip
def test_invalid_waybills_are_refused_with_the_apis_message(express, sandbox, changes, message):
    with pytest.raises(CarrierError) as refused:
        express.create_waybill(waybill(**changes))
    assert not isinstance(refused.value, CarrierUnavailable)  # retrying the same data cannot help
    assert str(refused.value) == f"express: {message} (HTTP 400)"
    assert sandbox.state()["waybills"] == []


def test_amounts_must_be_strings(sandbox):
    """A JSON number would have passed through a float: the API refuses it."""
    body = json.dumps(
        {
            "reference": "S1",
            "sender": {"province": "上海", "city": "上海", "name": "仓"},
            "recipient": {"province": "广东", "city": "广州", "name": "张三", "address": "x", "phone": "13800138000"},
            "weight_grams": 100,
            "cod_amount": 12.3,
        }
    )
    response = signed_request(sandbox, "POST", "/v1/waybills", body)
    assert response.status_code == 400
    assert response.json() == {"error": 'cod_amount must be a string amount with two decimals, like "12.30"'}


# Tracking -----------------------------------------------------------------------------------


def test_events_appear_in_order_as_the_clock_runs_with_stable_ids(express, sandbox):
    number = express.create_waybill(waybill())
    assert set_exception(sandbox, number, False).status_code == 200
    created = created_at(sandbox, number)
    assert express.fetch_events(number) == []

    now = sandbox.advance(hours=2)
    [collected] = express.fetch_events(number)  # collected after 0.5-1.5 h, gone on 2-5 h later
    assert collected.kind == COLLECTED
    assert collected.location == "上海市"
    assert collected.description.startswith("【上海市】快件已由【上海") and "揽收" in collected.description
    assert created + timedelta(minutes=29) < collected.occurred_at <= now

    seen = [collected]
    while seen[-1].kind != DELIVERED:
        assert now < created + timedelta(hours=61), "not delivered within 60 hours"
        now = sandbox.advance(hours=1)
        events = express.fetch_events(number)
        # What was shown is shown again unchanged, with the same ids, so the shop stores it once.
        assert events[: len(seen)] == seen
        assert all(event.occurred_at <= now for event in events)
        seen = events

    codes = [event.extra["code"] for event in seen]
    hubs = (len(codes) - 5) // 2
    assert hubs in (1, 2)  # Shanghai to Guangzhou goes through one or two hubs
    assert codes == [
        "COLLECTED",
        "DEPARTED",
        *["ARRIVED", "DEPARTED"] * hubs,
        "ARRIVED",
        "OUT_FOR_DELIVERY",
        "DELIVERED",
    ]
    assert [event.kind for event in seen] == [COLLECTED, *[IN_TRANSIT] * (2 * hubs + 2), OUT_FOR_DELIVERY, DELIVERED]
    assert [event.external_id for event in seen] == [f"{number}-{n}" for n in range(1, len(seen) + 1)]
    times = [event.occurred_at for event in seen]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert all(time.utcoffset() == timedelta(hours=8) for time in times)

    assert seen[1].description.startswith("【上海市】快件已由上海转运中心发出，下一站【")
    assert seen[-3].description == "【广州市】快件已到达【广州转运中心】"
    transit_cities = {event.location for event in seen[2:-3]}
    assert not transit_cities & {"上海市", "广州市"}  # the hubs lie in other provinces
    delivered = seen[-1]
    assert timedelta(hours=36) <= delivered.occurred_at - created <= timedelta(hours=60)
    assert 9 <= delivered.occurred_at.hour < 18
    assert delivered.signed_by in SIGNERS
    assert delivered.cod_collected is None  # nothing to collect on this one

    # Nothing more happens after the delivery.
    sandbox.advance(hours=48)
    assert express.fetch_events(number) == seen


def test_delivery_reports_who_signed_and_the_cash_collected(express, sandbox):
    number = express.create_waybill(waybill(cod_amount=Decimal("12.30")))
    sandbox.advance(hours=100)
    events = express.fetch_events(number)
    delivered = events[-1]
    assert delivered.kind == DELIVERED
    # Cash is paid to the courier in person, so never a locker or a front desk.
    assert delivered.signed_by == "张三"
    assert delivered.cod_collected == Decimal("12.30")
    assert "签收人：张三" in delivered.description
    assert "请准备代收货款12.30元" in events[-2].description
    assert all(event.cod_collected is None and event.signed_by == "" for event in events[:-1])


def test_a_failed_first_delivery_is_retried_the_next_day(express, sandbox):
    number = express.create_waybill(waybill())
    sandbox.advance(hours=20)
    before = express.fetch_events(number)
    assert before and before[-1].kind == IN_TRANSIT
    # Forcing the failure changes nothing already shown.
    assert set_exception(sandbox, number, True).json() == {"tracking_number": number, "exception": True}
    assert express.fetch_events(number) == before

    sandbox.advance(hours=100)
    events = express.fetch_events(number)
    assert events[: len(before)] == before
    assert [event.kind for event in events[-4:]] == [OUT_FOR_DELIVERY, EXCEPTION, OUT_FOR_DELIVERY, DELIVERED]
    failed, retry, delivered = events[-3:]
    assert failed.extra["code"] == "EXCEPTION"
    assert failed.description.startswith("【广州市】快件派送不成功：") and "改约明日派送" in failed.description
    assert retry.occurred_at.date() == failed.occurred_at.date() + timedelta(days=1)
    assert retry.occurred_at < delivered.occurred_at
    assert delivered.signed_by in SIGNERS
    assert len({event.external_id for event in events}) == len(events)

    # Once the failure has been shown it cannot be taken back.
    refused = set_exception(sandbox, number, False)
    assert refused.status_code == 409
    assert express.fetch_events(number) == events


def test_preventing_the_exception_and_unknown_scenarios(express, sandbox):
    number = express.create_waybill(waybill())
    assert set_exception(sandbox, number, False).status_code == 200
    sandbox.advance(hours=100)
    assert EXCEPTION not in [event.kind for event in express.fetch_events(number)]
    assert set_exception(sandbox, "SX000000000000", True).status_code == 404
    assert set_exception(sandbox, number, "yes").status_code == 400


def test_the_clock_can_be_advanced_over_http(express, sandbox):
    number = express.create_waybill(waybill())
    before = sandbox.state()["now"]
    answer = control(sandbox, "/_sandbox/advance", {"hours": 100})
    assert answer.status_code == 200
    assert datetime.fromisoformat(answer.json()["now"]) - datetime.fromisoformat(before) >= timedelta(hours=100)
    assert express.fetch_events(number)[-1].kind == DELIVERED
    assert control(sandbox, "/_sandbox/advance", {"hours": -1}).status_code == 400


# Failures -----------------------------------------------------------------------------------


def test_a_wrong_key_is_refused_not_retried(sandbox):
    impostor = ExpressCarrier(base_url=sandbox.base_url, key="wrong-key", timeout=2.0)
    with pytest.raises(CarrierError) as refused:
        impostor.create_waybill(waybill())
    assert not isinstance(refused.value, CarrierUnavailable)
    assert str(refused.value) == "express: bad signature (HTTP 401)"
    with pytest.raises(CarrierError, match="bad signature"):
        impostor.fetch_events("SX000000000000")
    assert sandbox.state()["waybills"] == []


def signed_request(sandbox, method: str, path: str, body: str = "", *, age: int = 0) -> requests.Response:
    timestamp = str(int(time.time()) - age)
    signature = sign(key=KEY, method=method, path=path, timestamp=timestamp, body=body)
    headers = {"X-Timestamp": timestamp, "X-Signature": signature, "Content-Type": "application/json"}
    return requests.request(method, sandbox.base_url + path, data=body.encode(), headers=headers, timeout=2)


def test_a_stale_timestamp_is_refused(sandbox):
    path = "/v1/waybills/SX000000000000/events"
    assert signed_request(sandbox, "GET", path, age=200).status_code == 404  # signed well: reaches the route
    stale = signed_request(sandbox, "GET", path, age=400)
    assert (stale.status_code, stale.json()) == (401, {"error": "bad signature"})
    unsigned = requests.get(sandbox.base_url + path, timeout=2)
    assert unsigned.status_code == 401


def test_an_unknown_waybill_is_refused(express):
    with pytest.raises(CarrierError) as refused:
        express.fetch_events("SX000000000000")
    assert not isinstance(refused.value, CarrierUnavailable)
    assert str(refused.value) == "express: unknown waybill (HTTP 404)"


@pytest.mark.parametrize("status", [503, 500, 429])
def test_server_errors_are_unavailable_and_pass(express, sandbox, status):
    sandbox.fail_next(2, status=status)
    for _ in range(2):
        with pytest.raises(CarrierUnavailable, match=rf"injected fault \(HTTP {status}\)"):
            express.create_waybill(waybill())
    number = express.create_waybill(waybill())  # the fault has passed
    assert express.fetch_events(number) == []


def test_faults_injected_over_http_hit_reads_too(express, sandbox):
    number = express.create_waybill(waybill())
    assert control(sandbox, "/_sandbox/faults", {"fail_next": 1, "status": 502}).status_code == 200
    with pytest.raises(CarrierUnavailable, match="HTTP 502"):
        express.fetch_events(number)
    assert express.fetch_events(number) == []
    assert control(sandbox, "/_sandbox/faults", {"fail_next": 1, "status": 200}).status_code == 400


def test_a_dead_port_is_unavailable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The port is free again: nothing listens there.
    express = ExpressCarrier(base_url=f"http://127.0.0.1:{port}", key=KEY, timeout=2.0)
    with pytest.raises(CarrierUnavailable, match="ConnectionError"):
        express.create_waybill(waybill())
    with pytest.raises(CarrierUnavailable):
        express.fetch_events("SX000000000000")


def test_a_server_that_never_answers_times_out():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)  # the kernel accepts the connection; nobody reads or answers
        express = ExpressCarrier(base_url=f"http://127.0.0.1:{silent.getsockname()[1]}", key=KEY, timeout=0.3)
        started = time.monotonic()
        with pytest.raises(CarrierUnavailable, match="Timeout"):
            express.fetch_events("SX000000000000")
        assert time.monotonic() - started < 2


@pytest.fixture
def impostor_api():
    """answer(status, body) starts a server that answers every request so; returns its URL."""
    servers = []

    def answer(status: int, body: str | dict) -> str:
        payload = (json.dumps(body) if isinstance(body, dict) else body).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_GET

            def log_message(self, *args) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield answer
    for server in servers:
        server.shutdown()
        server.server_close()


def event(**changes) -> dict:
    return {"id": "SX1-1", "time": "2025-03-01T10:00:00+08:00", "code": "COLLECTED", "description": "", **changes}


@pytest.mark.parametrize(
    "body",
    [
        "<html>gateway</html>",
        [],
        {"tracking_number": "SX1"},
        {"tracking_number": "SX2", "events": []},
        {"tracking_number": "SX1", "events": [event(code="RETURNED")]},
        {"tracking_number": "SX1", "events": [event(time="2025-03-01T10:00:00")]},
        {"tracking_number": "SX1", "events": [event(time="yesterday")]},
        {"tracking_number": "SX1", "events": [event(id=None)]},
        {"tracking_number": "SX1", "events": [event(code="DELIVERED", cod_collected=12.3)]},
        {"tracking_number": "SX1", "events": [event(code="DELIVERED", cod_collected="twelve")]},
    ],
    ids=["html", "list", "no-events", "other-waybill", "unknown-code", "naive-time", "bad-time", "no-id",
         "float-cod", "bad-cod"],
)  # fmt: skip
def test_malformed_answers_are_unavailable(impostor_api, body):
    url = impostor_api(200, json.dumps(body) if isinstance(body, list) else body)
    with pytest.raises(CarrierUnavailable, match="malformed answer"):
        ExpressCarrier(base_url=url, key=KEY, timeout=2.0).fetch_events("SX1")


def test_a_well_formed_answer_from_elsewhere_is_read(impostor_api):
    """The client reads the API, not the sandbox: out-of-order events are sorted, offsets kept."""
    later = event(
        id="SX1-2", time="2025-03-02T09:30:00+08:00", code="DELIVERED", signed_by="李四", cod_collected="5.00"
    )
    url = impostor_api(200, {"tracking_number": "SX1", "status": "DELIVERED", "events": [later, event()]})
    first, delivered = ExpressCarrier(base_url=url, key=KEY, timeout=2.0).fetch_events("SX1")
    assert first.external_id == "SX1-1" and first.kind == COLLECTED
    assert first.occurred_at == datetime(2025, 3, 1, 10, 0, tzinfo=CHINA)
    assert first.occurred_at.utcoffset() == timedelta(hours=8)
    assert (delivered.kind, delivered.signed_by, delivered.cod_collected) == (DELIVERED, "李四", Decimal("5.00"))


def test_a_proxys_error_page_is_still_sorted_by_status(impostor_api):
    with pytest.raises(CarrierError) as refused:
        ExpressCarrier(base_url=impostor_api(404, "<html>no</html>"), key=KEY).fetch_events("SX1")
    assert not isinstance(refused.value, CarrierUnavailable)
    assert str(refused.value) == "express: Not Found (HTTP 404)"
    with pytest.raises(CarrierUnavailable, match=r"Bad Gateway \(HTTP 502\)"):
        ExpressCarrier(base_url=impostor_api(502, "<html>down</html>"), key=KEY).fetch_events("SX1")
    with pytest.raises(CarrierUnavailable, match="unexpected HTTP 302"):
        ExpressCarrier(base_url=impostor_api(302, ""), key=KEY).fetch_events("SX1")


# The sandbox's story, checked on many waybills without HTTP ----------------------------------


ROUTES = [
    (("上海", "上海"), ("广东", "广州")),
    (("北京市", "北京市"), ("新疆维吾尔自治区", "乌鲁木齐市")),
    (("浙江省", "杭州市"), ("江苏省", "苏州市")),
    (("上海", "上海"), ("上海", "上海")),
    (("四川", "成都"), ("黑龙江", "哈尔滨")),
    (("四川", "成都"), ("Nowhere", "Atlantis")),
]


def sample_waybill(number: str, route, *, minute: int = 0) -> Waybill:
    (from_province, from_city), (to_province, to_city) = route
    return Waybill(
        tracking_number=number,
        reference=number,
        sender={"province": from_province, "city": from_city, "name": "仓"},
        recipient={"province": to_province, "city": to_city, "name": "王五", "address": "x", "phone": "13800138000"},
        weight_grams=500,
        cod_amount="0.00",
        insured_value="0.00",
        created_at=datetime(2025, 3, 1, 0, 0, tzinfo=CHINA) + timedelta(minutes=minute),
    )


def test_every_story_holds_together():
    rng = random.Random(20250301)  # many waybills, the same ones on every run
    for _ in range(600):
        number = f"SX{rng.randrange(10**12):012d}"
        bill = sample_waybill(number, rng.choice(ROUTES), minute=rng.randrange(24 * 60))
        events = plan(bill)
        assert plan(bill) == events  # the same waybill tells the same story
        times = [event.time for event in events]
        assert times == sorted(times) and len(set(times)) == len(times)
        codes = [event.code for event in events]
        assert codes[:2] == ["COLLECTED", "DEPARTED"] and codes[-1] == "DELIVERED"
        assert timedelta(minutes=30) <= times[0] - bill.created_at <= timedelta(minutes=90)
        assert 9 <= times[-1].hour < 18 or codes[-3] == "EXCEPTION"
        assert times[-1] - bill.created_at <= DELIVERED_WITHIN
        if "EXCEPTION" in codes:
            assert codes[-4:] == ["OUT_FOR_DELIVERY", "EXCEPTION", "OUT_FOR_DELIVERY", "DELIVERED"]
            bill.exception = False
            # Up to the first delivery attempt the story is the one it would have been anyway.
            assert plan(bill)[:-1] == events[:-3]
        else:
            assert codes[-2] == "OUT_FOR_DELIVERY"
            assert timedelta(hours=36) <= times[-1] - bill.created_at <= timedelta(hours=60)
        assert all(event.description.startswith(f"【{event.location}】") for event in events)


def test_a_failed_first_delivery_on_an_evening_waybill_is_delivered_within_the_stated_bound():
    """A waybill made in the evening can have its first attempt at 09:00, 60 h later, and its
    retry the next morning: 80 h, the bound the tracking tests once waited, was too short, so they
    failed only when run at night in China. Every such story fits DELIVERED_WITHIN, and some need
    more than 80 h."""
    rng = random.Random(20261129)
    spans = []
    for _ in range(3000):
        number = f"SX{rng.randrange(10**12):012d}"
        bill = sample_waybill(number, rng.choice(ROUTES), minute=rng.randrange(19 * 60, 24 * 60))
        bill.exception = True
        events = plan(bill)
        assert events[-1].code == "DELIVERED"
        retried = events[-1].time
        assert retried.hour < 12 or (retried.hour, retried.minute) <= (12, 30)  # the morning after
        spans.append(retried - bill.created_at)
    assert max(spans) <= DELIVERED_WITHIN
    assert max(spans) > timedelta(hours=80)


def test_about_one_waybill_in_eight_fails_its_first_delivery():
    numbers = [f"SX{n:012d}" for n in range(4000)]
    failing = sum(carrier_sandbox.has_exception(sample_waybill(number, ROUTES[0])) for number in numbers)
    assert 0.10 < failing / len(numbers) < 0.15
