"""The express company, reached over its HTTP API (documented in fulfillment.carrier_sandbox,
the stand-in that development and the tests run against).

Every request is signed with the shared key. What goes wrong is sorted for the caller:
CarrierUnavailable when trying again later may help (no connection, timeout, HTTP 5xx or 429,
an answer we cannot read), CarrierError when it will not (HTTP 4xx: bad data, bad signature,
unknown waybill), with the API's own error message.
"""

import hashlib
import hmac
import json
import time
from datetime import datetime
from decimal import InvalidOperation
from urllib.parse import quote, urlsplit

import requests
from django.conf import settings

from fulfillment.carriers import (
    COLLECTED,
    DELIVERED,
    EXCEPTION,
    IN_TRANSIT,
    OUT_FOR_DELIVERY,
    Carrier,
    CarrierError,
    CarrierUnavailable,
    Place,
    TrackingUpdate,
    WaybillRequest,
)
from shop.core.money import money

# The API's event codes → the shop's kinds. The code itself is kept in TrackingUpdate.extra.
KINDS = {
    "COLLECTED": COLLECTED,
    "DEPARTED": IN_TRANSIT,
    "ARRIVED": IN_TRANSIT,
    "OUT_FOR_DELIVERY": OUT_FOR_DELIVERY,
    "DELIVERED": DELIVERED,
    "EXCEPTION": EXCEPTION,
}


def sign(*, key: str, method: str, path: str, timestamp: str, body: str) -> str:
    """The X-Signature of a request: hex HMAC-SHA256 of method, path, timestamp and body."""
    message = f"{method}\n{path}\n{timestamp}\n{body}"
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def place_json(place: Place) -> dict[str, str]:
    return {
        "province": place.province,
        "city": place.city,
        "address": place.address,
        "name": place.name,
        "phone": place.phone,
    }


class Malformed(Exception):
    """An answer that does not follow the API; turned into CarrierUnavailable by the caller."""


def update_from(event: object) -> TrackingUpdate:
    """One event of the API as a TrackingUpdate. Raises Malformed."""
    if not isinstance(event, dict):
        raise Malformed("an event is not an object")
    event_id, code, when = event.get("id"), event.get("code"), event.get("time")
    if not isinstance(event_id, str) or not event_id:
        raise Malformed("an event has no id")
    # An unknown code is refused rather than guessed: calling a return "in transit" could undo a
    # delivery. The poller backs off and the failure shows until this mapping learns the code.
    if code not in KINDS:
        raise Malformed(f"unknown event code {code!r}")
    try:
        occurred_at = datetime.fromisoformat(when) if isinstance(when, str) else None
    except ValueError:
        occurred_at = None
    if occurred_at is None or occurred_at.tzinfo is None:
        raise Malformed(f"event {event_id} has a bad time {when!r}: ISO 8601 with an offset expected")
    texts = {}
    for key in ("description", "location", "signed_by"):
        value = event.get(key) or ""
        if not isinstance(value, str):
            raise Malformed(f"event {event_id} has a bad {key}")
        texts[key] = value
    cod = event.get("cod_collected")
    if cod is not None:
        # Amounts are strings: a JSON number would already have been rounded through a float.
        if not isinstance(cod, str):
            raise Malformed(f"event {event_id} has a bad cod_collected {cod!r}")
        try:
            cod = money(cod)
        except InvalidOperation:
            raise Malformed(f"event {event_id} has a bad cod_collected {cod!r}") from None
        if not cod.is_finite() or cod < 0:
            raise Malformed(f"event {event_id} has a bad cod_collected {cod!r}")
    return TrackingUpdate(
        external_id=event_id,
        occurred_at=occurred_at,
        kind=KINDS[code],
        description=texts["description"],
        location=texts["location"],
        signed_by=texts["signed_by"],
        cod_collected=cod,
        extra={"code": code},
    )


class ExpressCarrier(Carrier):
    code = "express"
    label = "Express"
    polled = True

    @classmethod
    def is_configured(cls) -> bool:
        return bool(settings.CARRIER_EXPRESS_URL and settings.CARRIER_EXPRESS_KEY)

    def __init__(self, base_url: str | None = None, key: str | None = None, timeout: float | None = None) -> None:
        self.base_url = (base_url or settings.CARRIER_EXPRESS_URL).rstrip("/")
        self.key = key if key is not None else settings.CARRIER_EXPRESS_KEY
        self.timeout = timeout if timeout is not None else settings.CARRIER_EXPRESS_TIMEOUT

    def create_waybill(self, request: WaybillRequest) -> str:
        """Return the tracking number. The API keys waybills by reference, so a retry after a
        timeout gets the waybill the first attempt made, never a second one."""
        payload = {
            "reference": request.reference,
            "sender": place_json(request.sender),
            "recipient": place_json(request.recipient),
            "weight_grams": request.weight_grams,
            "cod_amount": str(money(request.cod_amount)),
            "insured_value": str(money(request.insured_value)),
        }
        if request.is_return:
            payload["type"] = "return"  # left out otherwise: "standard" is the API's default
        answer = self._call("POST", "/v1/waybills", payload)
        number = answer.get("tracking_number")
        if not isinstance(number, str) or not number:
            raise CarrierUnavailable("express: malformed answer: no tracking number")
        if answer.get("reference") != request.reference:
            # Storing this number would attach someone else's parcel to our shipment.
            raise CarrierUnavailable(f"express: answer is for reference {answer.get('reference')!r}")
        return number

    def fetch_events(self, tracking_number: str) -> list[TrackingUpdate]:
        answer = self._call("GET", f"/v1/waybills/{quote(tracking_number, safe='')}/events")
        events = answer.get("events")
        try:
            if answer.get("tracking_number") != tracking_number or not isinstance(events, list):
                raise Malformed("not the events of this waybill")
            updates = [update_from(event) for event in events]
        except Malformed as exc:
            raise CarrierUnavailable(f"express: malformed answer: {exc}") from exc
        return sorted(updates, key=lambda update: update.occurred_at)  # stable: ties keep the API's order

    def _call(self, method: str, path: str, payload: dict | None = None) -> dict:
        """Send one signed request; return the JSON object answered. Raises CarrierError /
        CarrierUnavailable as the module docstring sorts them."""
        url = self.base_url + path
        body = "" if payload is None else json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        timestamp = str(int(time.time()))
        headers = {
            "Accept": "application/json",
            "X-Timestamp": timestamp,
            # The path as the server sees it, which includes any prefix in the configured URL.
            "X-Signature": sign(key=self.key, method=method, path=urlsplit(url).path, timestamp=timestamp, body=body),
        }
        if payload is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        try:
            response = requests.request(
                method,
                url,
                data=body.encode() if payload is not None else None,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,  # a redirected POST would lose its body and signature
            )
        except requests.RequestException as exc:
            raise CarrierUnavailable(f"express: {type(exc).__name__}: {exc}") from exc

        status = response.status_code
        if status == 429 or status >= 500:
            raise CarrierUnavailable(f"express: {self._error(response)} (HTTP {status})")
        if 400 <= status < 500:
            raise CarrierError(f"express: {self._error(response)} (HTTP {status})")
        if not 200 <= status < 300:
            raise CarrierUnavailable(f"express: unexpected HTTP {status}")
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise CarrierUnavailable(f"express: malformed answer: not a JSON object (HTTP {status})")
        return answer

    @staticmethod
    def _error(response: requests.Response) -> str:
        """The API's error message, or what there is of one when a proxy answered instead."""
        try:
            error = response.json().get("error")
        except (ValueError, AttributeError):
            error = None
        if isinstance(error, str) and error:
            return error
        return response.reason or "error"
