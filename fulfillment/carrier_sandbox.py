"""A stand-in for the express company's HTTP API, for development and tests.

It plays the third party: standard library only, nothing from Django or the shop, state in
memory. fulfillment.carriers.express is the shop's client of this API.

    python -m fulfillment.carrier_sandbox --host 127.0.0.1 --port 8001 --key sandbox-key --speed 360

or, in tests, `start_in_thread(port=0, key=..., speed=...)`, which returns a SandboxServer.

The API
=======

Signing. Every /v1 request carries two headers:

    X-Timestamp: unix seconds
    X-Signature: hex HMAC-SHA256(key, f"{METHOD}\\n{path}\\n{timestamp}\\n{body}")

`path` is the request path as sent (with its query string, if any) and `body` the raw request
body as UTF-8 ("" for GET). A wrong or missing signature, or a timestamp more than 300 s from the
server's real clock, is answered 401 {"error": "bad signature"}.

Errors are JSON {"error": "..."}: 400 invalid input, 401 bad signature, 404 unknown waybill or
path, 405 wrong method, 413 body over 64 KiB, 5xx/429 only when injected (see faults below).

POST /v1/waybills

    {"reference": "S2025000123",                     1-64 characters, the shipper's parcel id
     "sender":    {"province", "city", "name", "address", "phone"},
     "recipient": {"province", "city", "name", "address", "phone"},
     "weight_grams": 1200,                           whole grams, 1 to 100000
     "cod_amount": "12.30",                          cash to collect on delivery; default "0.00"
     "insured_value": "0.00",                        default "0.00"
     "type": "standard"}                             or "return"; default "standard"

    Province, city and name are required for both places; the recipient also needs an address
    and a phone (the courier must find and call them), while the sender's are optional (the
    company collects at the account's registered pickup point). Amounts are strings with two
    decimals, never JSON numbers.

    A "return" waybill is reverse logistics: the courier collects the parcel at the sender's
    door (a customer sending goods back), so the sender needs an address and a phone, and
    delivers it to the recipient (the shipper's warehouse), whose address and phone are optional
    (the account's registered return address); nothing is collected on delivery ("cod_amount"
    must be "0.00") and the recipient itself always signs.
    → 201 {"tracking_number": "SX" + 12 digits, "reference": ...}
    The same reference again → 200 with the tracking number already given (whatever the rest
    of the body says): a retried request never makes a second waybill.

GET /v1/waybills/<tracking_number>/events

    → 200 {"tracking_number": ..., "status": latest code ("CREATED" before the first event),
           "events": [{"id": "<tracking_number>-<n>", "time": "2025-03-01T14:05:09+08:00",
                       "code": ..., "description": ..., "location": ...,
                       "signed_by": ..., "cod_collected": "12.30"}, ...]}   oldest first
    → 404 {"error": "unknown waybill"}
    Codes: COLLECTED, DEPARTED, ARRIVED, OUT_FOR_DELIVERY, DELIVERED, EXCEPTION. Only DELIVERED
    has "signed_by" (the recipient's name, 快递柜代收 or 前台代收), and "cod_collected" when the
    waybill has a cash-on-delivery amount (such parcels are always signed for by the recipient).
    An event's id and content never change once shown, so a poller can store each event once.

The progression. Times run on the sandbox clock: the real clock (time.time(), so a test that moves
the shop's clock with time-machine moves this one too) plus every `advance`. Without `advance` no
event is ever later than the shop's clock: a carrier reports what has happened, not what will.
`speed` compresses each waybill's story instead of running the clock fast (at --speed 360 the
36-60 hours below take 6-10 minutes, and every time reported has already passed); only
`advance`, a control for tests that simulate days going by, moves the sandbox's clock ahead.
From a waybill's creation time, with every choice drawn from a generator seeded by a hash of its
tracking number (the same waybill always tells the same story), at speed 1:

    COLLECTED      at the sender's city, 0.5-1.5 h after creation
    DEPARTED       the sender city's hub, 2-5 h later, naming the next stop
    ARRIVED, DEPARTED   at one or two transit hubs (real hub cities) lying between the two ends;
                   none when both ends are in one province, less than ~400 km apart, or no hub
                   lies on the way
    ARRIVED        the recipient city's hub
    OUT_FOR_DELIVERY    0.5-3 h before delivery, not before 08:00
    DELIVERED      36-60 h after creation, between 09:00 and 18:00 China time

About one waybill in eight (by the hash) fails its first delivery: OUT_FOR_DELIVERY, then
EXCEPTION 1-3 h later (e.g. 收件人电话无法接通，改约明日派送), then OUT_FOR_DELIVERY the next
morning and DELIVERED by 12:30: at most 87.5 h after creation (a first attempt at 09:00, 60 h in,
retried the next morning), so every waybill is delivered within DELIVERED_WITHIN (88 h).
Times are ISO 8601 in China time (+08:00).

Sandbox control (this sandbox only, unsigned):

    POST /_sandbox/advance {"hours": n}                       move the clock forward n >= 0 hours
    POST /_sandbox/faults {"fail_next": n, "status": 503}     the next n /v1 requests answer that
                                                              status (400-599) instead
    POST /_sandbox/waybills/<no>/scenario {"exception": true|false|null}
                                  force or prevent the failed first delivery (null: by the hash);
                                  409 if the events already shown would change
    GET  /_sandbox/state                                      clock, faults and waybills
"""

import argparse
import hashlib
import hmac
import json
import random
import re
import secrets
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from math import asin, cos, radians, sin, sqrt

CHINA = timezone(timedelta(hours=8))
# The latest any waybill is delivered, at speed 1 (see the progression above). Tests that wait
# for delivery wait this long: 80 h was too short for a failed first delivery on a waybill
# made in the evening, so those tests failed only at night.
DELIVERED_WITHIN = timedelta(hours=88)
SIGNATURE_MAX_SKEW = 300  # seconds between the request's timestamp and the real clock
MAX_BODY = 64 * 1024

# Hubs: city → (province, latitude, longitude). The provincial capitals, the municipalities and
# Xuzhou; the first hub listed for a province is its own. The company keeps its own map: a third
# party shares no code with the shop.
HUBS = {
    "北京": ("北京", 39.90, 116.41), "天津": ("天津", 39.13, 117.20), "石家庄": ("河北", 38.04, 114.51),
    "太原": ("山西", 37.87, 112.55), "呼和浩特": ("内蒙古", 40.84, 111.75), "沈阳": ("辽宁", 41.80, 123.43),
    "长春": ("吉林", 43.82, 125.32), "哈尔滨": ("黑龙江", 45.80, 126.53), "上海": ("上海", 31.23, 121.47),
    "南京": ("江苏", 32.06, 118.80), "徐州": ("江苏", 34.21, 117.28), "杭州": ("浙江", 30.27, 120.16),
    "合肥": ("安徽", 31.82, 117.23), "福州": ("福建", 26.07, 119.30), "南昌": ("江西", 28.68, 115.86),
    "济南": ("山东", 36.65, 117.12), "郑州": ("河南", 34.75, 113.63), "武汉": ("湖北", 30.59, 114.31),
    "长沙": ("湖南", 28.23, 112.94), "广州": ("广东", 23.13, 113.26), "南宁": ("广西", 22.82, 108.37),
    "海口": ("海南", 20.04, 110.20), "重庆": ("重庆", 29.56, 106.55), "成都": ("四川", 30.57, 104.07),
    "贵阳": ("贵州", 26.65, 106.63), "昆明": ("云南", 25.04, 102.71), "拉萨": ("西藏", 29.65, 91.17),
    "西安": ("陕西", 34.34, 108.94), "兰州": ("甘肃", 36.06, 103.83), "西宁": ("青海", 36.62, 101.78),
    "银川": ("宁夏", 38.49, 106.23), "乌鲁木齐": ("新疆", 43.83, 87.62),
}  # fmt: skip
PROVINCE_HUBS: dict[str, str] = {}
for _city, (_province, _lat, _lon) in HUBS.items():
    PROVINCE_HUBS.setdefault(_province, _city)

# Larger cities that are not hubs, so that their parcels leave from the right place.
CITIES = {
    "深圳": (22.54, 114.06), "东莞": (23.02, 113.75), "佛山": (23.02, 113.12), "苏州": (31.30, 120.58),
    "无锡": (31.49, 120.31), "宁波": (29.87, 121.54), "温州": (28.00, 120.70), "义乌": (29.31, 120.08),
    "青岛": (36.07, 120.38), "厦门": (24.48, 118.09), "泉州": (24.87, 118.68), "大连": (38.91, 121.61),
}  # fmt: skip

# Used when an address names a place the map does not know.
CENTRAL_HUBS = ("武汉", "郑州", "长沙", "南京", "西安")

SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "特别行政区", "省", "市")
BRANCHES = ("城东", "城西", "城南", "城北", "高新", "经开")
SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴")
EXCEPTION_REASONS = (
    "收件人电话无法接通，改约明日派送",
    "收件人要求改约明日派送",
    "收件地址无人，已电联收件人，改约明日派送",
)
LOCKER, FRONT_DESK = "快递柜代收", "前台代收"

EVENTS_PATH = re.compile(r"/v1/waybills/(?P<number>[^/?]+)/events")
SCENARIO_PATH = re.compile(r"/_sandbox/waybills/(?P<number>[^/?]+)/scenario")
AMOUNT = re.compile(r"\d{1,10}\.\d{2}")
PHONE = re.compile(r"[0-9+\- ]{5,20}")


@dataclass
class Waybill:
    tracking_number: str
    reference: str
    sender: dict
    recipient: dict
    weight_grams: int
    cod_amount: str
    insured_value: str
    created_at: datetime
    exception: bool | None = None  # forced by the scenario endpoint; None: decided by the hash
    type: str = "standard"  # or "return": collected at the sender's door, signed by the recipient
    speed: float = 1.0  # the sandbox's speed when it was made: its story runs this much faster


@dataclass(frozen=True)
class Event:
    time: datetime
    code: str
    description: str
    location: str
    signed_by: str | None = None
    cod_collected: str | None = None


class ScenarioTooLate(Exception):
    """The events already shown would change: an event, once shown, is never taken back."""


# The story of a parcel --------------------------------------------------------------------


def short_name(name: str) -> str:
    """上海市 → 上海, 广东省 → 广东, 新疆维吾尔自治区 → 新疆."""
    name = name.strip()
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def city_label(city: str) -> str:
    """The bracketed place in a description, as carriers write it: 【杭州市】."""
    city = city.strip()
    if city.endswith(("自治州", "地区", "盟")):
        return city
    return short_name(city) + "市"


def digest(tracking_number: str) -> bytes:
    return hashlib.sha256(tracking_number.encode()).digest()


def has_exception(waybill: Waybill) -> bool:
    if waybill.exception is not None:
        return waybill.exception
    return digest(waybill.tracking_number)[8] % 8 == 0  # one in eight


def locate(place: dict) -> tuple[float, float] | None:
    city, province = short_name(place["city"]), short_name(place["province"])
    if city in HUBS:
        return HUBS[city][1:]
    if city in CITIES:
        return CITIES[city]
    if province in PROVINCE_HUBS:
        return HUBS[PROVINCE_HUBS[province]][1:]
    return None


def km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine)."""
    lat1, lon1, lat2, lon2 = map(radians, (*a, *b))
    h = sin((lat2 - lat1) / 2) ** 2 + cos(lat1) * cos(lat2) * sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371 * asin(sqrt(h))


def transit_hubs(sender: dict, recipient: dict, rng: random.Random) -> list[str]:
    """One or two hubs in other provinces that lie on the way, in the order the parcel meets them."""
    provinces = {short_name(sender["province"]), short_name(recipient["province"])}
    if len(provinces) == 1:
        return []
    start, end = locate(sender), locate(recipient)
    if start is None or end is None:
        pool = [hub for hub in CENTRAL_HUBS if HUBS[hub][0] not in provinces]
        return rng.sample(pool, rng.choice((1, 2)))
    distance = km(start, end)
    if distance < 400:
        return []  # a direct trunk line
    # A hub is on the way when going through it adds at most a quarter to the distance.
    detours = sorted(
        ((km(start, hub[1:]) + km(hub[1:], end)) / distance, city)
        for city, hub in HUBS.items()
        if hub[0] not in provinces
    )
    candidates = [city for detour, city in detours[:3] if detour <= 1.25]
    if not candidates:
        return []
    count = min(len(candidates), rng.choice((1, 2)) if distance >= 800 else 1)
    return sorted(rng.sample(candidates, count), key=lambda city: km(start, HUBS[city][1:]))


def daytime_slots(start: datetime, end: datetime) -> list[datetime]:
    """Every ten minutes between start and end that falls between 09:00 and 18:00 China time."""
    slots = []
    slot = start.astimezone(CHINA).replace(second=0, microsecond=0)
    while slot <= end:
        if 9 <= slot.hour < 18:
            slots.append(slot)
        slot += timedelta(minutes=10)
    return slots


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def plan(waybill: Waybill) -> list[Event]:
    """Every event the waybill will ever have, oldest first; the clock decides how many are shown.

    The same waybill always gets the same plan: every choice comes from a generator seeded by its
    tracking number, and the choices of the failed delivery are drawn last, so that forcing or
    preventing it changes nothing before it."""
    rng = random.Random(int.from_bytes(digest(waybill.tracking_number)[:8], "big"))
    sender, recipient = waybill.sender, waybill.recipient
    origin, destination = short_name(sender["city"]), short_name(recipient["city"])
    at_origin, at_destination = city_label(sender["city"]), city_label(recipient["city"])
    hubs = transit_hubs(sender, recipient, rng)

    created = waybill.created_at.astimezone(CHINA)
    collected = created + hours(rng.uniform(0.5, 1.5))
    departed = collected + hours(rng.uniform(2, 5))
    delivered = rng.choice(daytime_slots(created + hours(36), created + hours(60)))
    morning = delivered.replace(hour=8, minute=0)
    out = max(delivered - hours(rng.uniform(0.5, 3)), morning)
    arrived = out - hours(rng.uniform(3, 8))
    stops = [rng.uniform(1, 3) for _hub in hubs]
    legs = [rng.uniform(1, 2) for _leg in range(len(hubs) + 1)]
    driving = (arrived - departed) / timedelta(hours=1) - sum(stops)

    pickup_branch, delivery_branch = rng.choice(BRANCHES), rng.choice(BRANCHES)
    collector = rng.choice(SURNAMES) + "师傅"
    courier = rng.choice(SURNAMES) + "师傅"
    # Masked like the privacy numbers carriers show, so that no real phone is ever printed.
    courier_phone = f"1{rng.choice('3589')}{rng.randint(0, 9)}****{rng.randint(0, 9999):04d}"
    signer = rng.choices(("recipient", LOCKER, FRONT_DESK), weights=(60, 25, 15))[0]

    # A cross-city parcel ends at the destination city's hub; a same-city one goes straight
    # from the hub to the delivering branch.
    last_stop = f"{destination}转运中心" if hubs or destination != origin else f"{destination}{delivery_branch}营业部"
    collected_text = f"【{at_origin}】快件已由【{origin}{pickup_branch}营业部】揽收，揽收员：{collector}"
    if waybill.type == "return":
        collected_text = f"【{at_origin}】退货件已由{origin}{pickup_branch}营业部上门揽收，揽收员：{collector}"
    events = [Event(collected, "COLLECTED", collected_text, at_origin)]
    next_stops = [f"{hub}转运中心" for hub in hubs] + [last_stop]
    events.append(
        Event(
            departed, "DEPARTED", f"【{at_origin}】快件已由{origin}转运中心发出，下一站【{next_stops[0]}】", at_origin
        )
    )
    clock = departed
    for n, hub in enumerate(hubs):
        at_hub = city_label(hub)
        clock += hours(driving * legs[n] / sum(legs))
        events.append(Event(clock, "ARRIVED", f"【{at_hub}】快件已到达【{hub}转运中心】", at_hub))
        clock += hours(stops[n])
        events.append(
            Event(clock, "DEPARTED", f"【{at_hub}】快件已由{hub}转运中心发出，下一站【{next_stops[n + 1]}】", at_hub)
        )
    events.append(Event(arrived, "ARRIVED", f"【{at_destination}】快件已到达【{last_stop}】", at_destination))

    cod = waybill.cod_amount if waybill.cod_amount != "0.00" else None
    cash_note = f"，请准备代收货款{cod}元" if cod else ""
    out_text = (
        f"【{at_destination}】快件已交给派件员{courier}（电话：{courier_phone}），正在派送途中，"
        f"请保持电话畅通{cash_note}"
    )
    # Cash on delivery is paid to the courier in person: a locker or a front desk cannot pay it.
    # A return goes to the shipper's warehouse, which signs for its parcels itself.
    if signer == "recipient" or cod or waybill.type == "return":
        signed_by = recipient["name"]
        signed_text = f"快件已签收，签收人：{signed_by}，感谢使用，期待再次为您服务"
    elif signer == LOCKER:
        signed_by = LOCKER
        signed_text = f"快件已投递至{destination}{delivery_branch}快递柜，签收人：{LOCKER}，请凭取件码及时取件"
    else:
        signed_by = FRONT_DESK
        signed_text = f"快件已由前台代收，签收人：{FRONT_DESK}，如有疑问请联系派件员{courier}"

    # The failed first delivery, drawn last (see the docstring).
    failed = out + hours(rng.uniform(1, 3))
    reason = rng.choice(EXCEPTION_REASONS)
    next_morning = (failed + timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
    retry_out = next_morning + timedelta(minutes=rng.randint(0, 90))
    retry_delivered = retry_out + hours(rng.uniform(0.5, 3))

    events.append(Event(out, "OUT_FOR_DELIVERY", out_text, at_destination))
    if has_exception(waybill):
        events.append(Event(failed, "EXCEPTION", f"【{at_destination}】快件派送不成功：{reason}", at_destination))
        events.append(Event(retry_out, "OUT_FOR_DELIVERY", out_text, at_destination))
        delivered = retry_delivered
    events.append(
        Event(
            delivered,
            "DELIVERED",
            f"【{at_destination}】{signed_text}",
            at_destination,
            signed_by=signed_by,
            cod_collected=cod,
        )
    )
    if waybill.speed != 1:
        # The story told faster, from the same start: every event still after the one before.
        events = [replace(e, time=created + (e.time - created) / waybill.speed) for e in events]
    return events


def event_json(tracking_number: str, n: int, event: Event) -> dict:
    answer = {
        "id": f"{tracking_number}-{n}",
        "time": event.time.astimezone(CHINA).isoformat(timespec="seconds"),
        "code": event.code,
        "description": event.description,
        "location": event.location,
    }
    if event.signed_by is not None:
        answer["signed_by"] = event.signed_by
    if event.cod_collected is not None:
        answer["cod_collected"] = event.cod_collected
    return answer


def waybill_problem(data: object) -> str | None:
    """What is wrong with a waybill request, or None."""
    if not isinstance(data, dict):
        return "body must be a JSON object"
    reference = data.get("reference")
    if not isinstance(reference, str) or not 1 <= len(reference.strip()) <= 64:
        return "reference must be a string of 1 to 64 characters"
    kind = data.get("type", "standard")
    if kind not in ("standard", "return"):
        return 'type must be "standard" or "return"'
    # Whoever the courier must find and call needs an address and a phone: the recipient of a
    # parcel, the sender of a return (collected at their door).
    required = {"sender": ("province", "city", "name"), "recipient": ("province", "city", "name", "address", "phone")}
    if kind == "return":
        required = {"sender": required["recipient"], "recipient": required["sender"]}
    for role in ("sender", "recipient"):
        place = data.get(role)
        if not isinstance(place, dict):
            return f"{role} must be an object"
        for key in ("province", "city", "name", "address", "phone"):
            value = place.get(key, "")
            if not isinstance(value, str) or len(value) > 200:
                return f"{role}.{key} must be a string of at most 200 characters"
            if key in required[role] and not value.strip():
                return f"{role}.{key} is required"
        if place.get("phone") and not PHONE.fullmatch(place["phone"]):
            return f"{role}.phone is not a phone number"
    weight = data.get("weight_grams")
    if not isinstance(weight, int) or isinstance(weight, bool) or not 0 < weight <= 100_000:
        return "weight_grams must be a whole number of grams from 1 to 100000"
    for key in ("cod_amount", "insured_value"):
        amount = data.get(key, "0.00")
        if not isinstance(amount, str) or not AMOUNT.fullmatch(amount):
            return f'{key} must be a string amount with two decimals, like "12.30"'
    if kind == "return" and data.get("cod_amount", "0.00") != "0.00":
        return 'a return collects no cash: cod_amount must be "0.00"'
    return None


# The company's system ----------------------------------------------------------------------


class Sandbox:
    """The express company's state and rules, without HTTP. Every method takes the lock: the
    server answers each request in its own thread."""

    def __init__(self, *, key: str, speed: float = 1.0) -> None:
        self.key = key
        self.speed = speed
        self._lock = threading.Lock()
        self._advanced = 0.0  # seconds added by advance()
        self._fail_next = 0
        self._fail_status = 503
        self._waybills: dict[str, Waybill] = {}
        self._by_reference: dict[str, str] = {}

    def _now(self) -> datetime:
        # The real clock, never run fast: see the module's docstring (speed compresses stories).
        return datetime.fromtimestamp(time.time() + self._advanced, CHINA)

    def now(self) -> datetime:
        with self._lock:
            return self._now()

    def advance(self, hours: float) -> datetime:
        """Move the clock forward. Raises ValueError for a negative amount: clocks do not go back."""
        if hours < 0:
            raise ValueError("hours must be >= 0")
        with self._lock:
            self._advanced += hours * 3600
            return self._now()

    def set_faults(self, count: int, status: int = 503) -> None:
        if count < 0 or not 400 <= status <= 599:
            raise ValueError("fail_next must be >= 0 and status from 400 to 599")
        with self._lock:
            self._fail_next, self._fail_status = count, status

    def set_scenario(self, tracking_number: str, exception: bool | None) -> None:
        """Force (True) or prevent (False) the failed first delivery, or leave it to the hash (None).

        Raises KeyError for an unknown waybill, ScenarioTooLate when shown events would change."""
        with self._lock:
            waybill = self._waybills[tracking_number]
            now = self._now()
            before = [event for event in plan(waybill) if event.time <= now]
            previous, waybill.exception = waybill.exception, exception
            if [event for event in plan(waybill) if event.time <= now] != before:
                waybill.exception = previous
                raise ScenarioTooLate(tracking_number)

    def create_waybill(self, data: object) -> tuple[int, dict]:
        problem = waybill_problem(data)
        if problem:
            return 400, {"error": problem}
        assert isinstance(data, dict)  # checked by waybill_problem; tells the type checker
        with self._lock:
            number = self._by_reference.get(data["reference"])
            if number:
                return 200, {"tracking_number": number, "reference": data["reference"]}
            number = "SX" + f"{secrets.randbelow(10**12):012d}"
            while number in self._waybills:
                number = "SX" + f"{secrets.randbelow(10**12):012d}"
            self._waybills[number] = Waybill(
                tracking_number=number,
                reference=data["reference"],
                sender=dict(data["sender"]),
                recipient=dict(data["recipient"]),
                weight_grams=data["weight_grams"],
                cod_amount=data.get("cod_amount", "0.00"),
                insured_value=data.get("insured_value", "0.00"),
                created_at=self._now(),
                type=data.get("type", "standard"),
                speed=self.speed,
            )
            self._by_reference[data["reference"]] = number
        return 201, {"tracking_number": number, "reference": data["reference"]}

    def events(self, tracking_number: str) -> tuple[int, dict]:
        with self._lock:
            waybill = self._waybills.get(tracking_number)
            if waybill is None:
                return 404, {"error": "unknown waybill"}
            now = self._now()
            shown = [event for event in plan(waybill) if event.time <= now]
        return 200, {
            "tracking_number": tracking_number,
            "status": shown[-1].code if shown else "CREATED",
            "events": [event_json(tracking_number, n, event) for n, event in enumerate(shown, start=1)],
        }

    def state(self) -> dict:
        with self._lock:
            now = self._now()
            waybills = []
            for waybill in self._waybills.values():
                events = plan(waybill)
                shown = [event for event in events if event.time <= now]
                waybills.append(
                    {
                        "tracking_number": waybill.tracking_number,
                        "reference": waybill.reference,
                        "type": waybill.type,
                        "created_at": waybill.created_at.isoformat(timespec="seconds"),
                        "exception": has_exception(waybill),
                        "exception_forced": waybill.exception,
                        "status": shown[-1].code if shown else "CREATED",
                        "events_shown": len(shown),
                        "events_planned": len(events),
                        "delivered_at": events[-1].time.isoformat(timespec="seconds"),
                    }
                )
            return {
                "now": now.isoformat(timespec="seconds"),
                "speed": self.speed,
                "advanced_hours": self._advanced / 3600,
                "faults": {"fail_next": self._fail_next, "status": self._fail_status},
                "waybills": waybills,
            }

    def _take_fault(self) -> int | None:
        with self._lock:
            if self._fail_next <= 0:
                return None
            self._fail_next -= 1
            return self._fail_status

    def signed(self, method: str, path: str, body: bytes, timestamp: str | None, signature: str | None) -> bool:
        if not timestamp or not signature or not timestamp.isdigit():
            return False
        if abs(int(timestamp) - time.time()) > SIGNATURE_MAX_SKEW:
            return False
        message = f"{method}\n{path}\n{timestamp}\n".encode() + body
        expected = hmac.new(self.key.encode(), message, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature)

    def handle_api(self, method: str, path: str, body: bytes, headers) -> tuple[int, dict]:
        """A /v1 request: injected fault, then signature, then the route."""
        fault = self._take_fault()
        if fault:
            return fault, {"error": "injected fault"}
        if not self.signed(method, path, body, headers.get("X-Timestamp"), headers.get("X-Signature")):
            return 401, {"error": "bad signature"}
        if path == "/v1/waybills":
            if method != "POST":
                return 405, {"error": "method not allowed"}
            try:
                data = json.loads(body)
            except ValueError:
                return 400, {"error": "body is not JSON"}
            return self.create_waybill(data)
        match = EVENTS_PATH.fullmatch(path)
        if match:
            if method != "GET":
                return 405, {"error": "method not allowed"}
            return self.events(match["number"])
        return 404, {"error": "not found"}

    def handle_control(self, method: str, path: str, body: bytes) -> tuple[int, dict]:
        """A /_sandbox request."""
        if path == "/_sandbox/state":
            return (200, self.state()) if method == "GET" else (405, {"error": "method not allowed"})
        if method != "POST":
            return 405, {"error": "method not allowed"}
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return 400, {"error": "body is not JSON"}
        if not isinstance(data, dict):
            return 400, {"error": "body must be a JSON object"}
        if path == "/_sandbox/advance":
            amount = data.get("hours")
            if not isinstance(amount, int | float) or isinstance(amount, bool) or amount < 0:
                return 400, {"error": "hours must be a number >= 0"}
            return 200, {"now": self.advance(amount).isoformat(timespec="seconds")}
        if path == "/_sandbox/faults":
            count, status = data.get("fail_next"), data.get("status", 503)
            if not isinstance(count, int) or not isinstance(status, int) or count < 0 or not 400 <= status <= 599:
                return 400, {"error": "fail_next must be an integer >= 0 and status from 400 to 599"}
            self.set_faults(count, status)
            return 200, {"fail_next": count, "status": status}
        match = SCENARIO_PATH.fullmatch(path)
        if match:
            exception = data.get("exception")
            if exception is not None and not isinstance(exception, bool):
                return 400, {"error": "exception must be true, false or null"}
            try:
                self.set_scenario(match["number"], exception)
            except KeyError:
                return 404, {"error": "unknown waybill"}
            except ScenarioTooLate:
                return 409, {"error": "too late: the events already shown would change"}
            return 200, {"tracking_number": match["number"], "exception": exception}
        return 404, {"error": "not found"}


# HTTP ---------------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    server: "HTTPServer"
    server_version = "ExpressSandbox/1.0"

    def do_GET(self) -> None:
        self.dispatch("GET")

    def do_POST(self) -> None:
        self.dispatch("POST")

    def do_PUT(self) -> None:
        self.dispatch("PUT")

    def do_PATCH(self) -> None:
        self.dispatch("PATCH")

    def do_DELETE(self) -> None:
        self.dispatch("DELETE")

    def dispatch(self, method: str) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.answer(400, {"error": "bad Content-Length"})
            return
        if length > MAX_BODY:
            self.answer(413, {"error": "body too large"})
            return
        body = self.rfile.read(length) if length > 0 else b""
        sandbox = self.server.sandbox
        if self.path.startswith("/v1/"):
            status, answer = sandbox.handle_api(method, self.path, body, self.headers)
        elif self.path.startswith("/_sandbox/"):
            status, answer = sandbox.handle_control(method, self.path, body)
        else:
            status, answer = 404, {"error": "not found"}
        self.answer(status, answer)

    def answer(self, status: int, payload: dict) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if status in (429, 503):
            self.send_header("Retry-After", "1")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], sandbox: Sandbox, *, quiet: bool) -> None:
        self.sandbox = sandbox
        self.quiet = quiet
        super().__init__(address, Handler)


class SandboxServer:
    """A sandbox listening in a background thread, with the control endpoints as methods."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        key: str = "sandbox-key",
        speed: float = 1.0,
        quiet: bool = True,
    ) -> None:
        self.sandbox = Sandbox(key=key, speed=speed)
        self.httpd = HTTPServer((host, port), self.sandbox, quiet=quiet)
        # A short poll interval so that shutdown() (once per test) returns at once.
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "SandboxServer":
        self.thread.start()
        return self

    def advance(self, *, hours: float) -> datetime:
        return self.sandbox.advance(hours)

    def fail_next(self, n: int, status: int = 503) -> None:
        self.sandbox.set_faults(n, status)

    def scenario(self, tracking_number: str, *, exception: bool | None) -> None:
        self.sandbox.set_scenario(tracking_number, exception)

    def state(self) -> dict:
        return self.sandbox.state()

    def shutdown(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def start_in_thread(*, port: int = 0, key: str = "sandbox-key", speed: float = 1.0) -> SandboxServer:
    """Start a sandbox on 127.0.0.1 (port 0: any free port; see .base_url). Call .shutdown()."""
    return SandboxServer(port=port, key=key, speed=speed).start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A stand-in for the express carrier's HTTP API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--key", default="sandbox-key")
    parser.add_argument("--speed", type=float, default=1.0, help="how many times faster each waybill's story runs")
    args = parser.parse_args(argv)
    server = SandboxServer(host=args.host, port=args.port, key=args.key, speed=args.speed, quiet=False)
    print(f"express carrier sandbox on {server.base_url} (stories ×{args.speed:g})", flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()


if __name__ == "__main__":
    main()
