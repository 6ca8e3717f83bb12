"""Carriers: who takes a parcel from a warehouse to the customer.

Every carrier does two things for the shop: create a waybill (which gives the tracking number)
and report the tracking events of a waybill. `carrier(code)` returns the implementation:

- `own_fleet`: the shop's own couriers. Waybill numbers are made here; staff record events and
  the signed delivery in the admin, so there is nothing to fetch.
- `express`: an express company reached over HTTP (`express.ExpressCarrier`, configured by
  CARRIER_EXPRESS_URL / CARRIER_EXPRESS_KEY). `fulfillment.carrier_sandbox` is a faithful
  stand-in for that API which the tests, `make run` and `make stack` start. Outside DEBUG it
  has no default address: unconfigured, it is not offered and its parcels are not polled.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


class CarrierError(Exception):
    """The carrier refused a request (bad data, unknown waybill): retrying will not help."""


class CarrierUnavailable(CarrierError):
    """The carrier could not be reached or answered with a server error: try again later."""


# The event kinds the shop understands; a carrier maps its own codes onto these.
COLLECTED = "collected"
IN_TRANSIT = "in_transit"
OUT_FOR_DELIVERY = "out_for_delivery"
DELIVERED = "delivered"
EXCEPTION = "exception"
EVENT_KINDS = (COLLECTED, IN_TRANSIT, OUT_FOR_DELIVERY, DELIVERED, EXCEPTION)


@dataclass(frozen=True)
class Place:
    province: str
    city: str
    address: str = ""
    name: str = ""
    phone: str = ""


@dataclass(frozen=True)
class WaybillRequest:
    reference: str  # the shipment number, unique per parcel: a retried request gets the same waybill
    sender: Place
    recipient: Place
    weight_grams: int
    cod_amount: Decimal = Decimal("0.00")  # cash the courier collects on delivery
    insured_value: Decimal = Decimal("0.00")
    # A customer's return (reverse logistics): the courier collects from the sender (the
    # customer) and delivers to the shop's warehouse, which signs for it.
    is_return: bool = False


@dataclass(frozen=True)
class TrackingUpdate:
    """One event of a parcel as the carrier reports it. `external_id` is unique per waybill,
    so an event seen again on the next poll is recognised and stored once."""

    external_id: str
    occurred_at: datetime
    kind: str  # one of EVENT_KINDS
    description: str = ""
    location: str = ""
    signed_by: str = ""  # delivered: who signed
    cod_collected: Decimal | None = None  # delivered: cash collected by the courier
    extra: dict = field(default_factory=dict)


class Carrier:
    code = ""
    label = ""
    polled = False  # whether the shop fetches events from it

    @classmethod
    def is_configured(cls) -> bool:
        """Whether this deployment can use it (an API needs its address and key)."""
        return True

    def create_waybill(self, request: WaybillRequest) -> str:
        """Return the tracking number. Raises CarrierError / CarrierUnavailable."""
        raise NotImplementedError

    def fetch_events(self, tracking_number: str) -> list[TrackingUpdate]:
        """Every event of the waybill so far, oldest first. Raises CarrierError /
        CarrierUnavailable."""
        raise NotImplementedError


def _registry() -> dict[str, type[Carrier]]:
    from fulfillment.carriers.express import ExpressCarrier
    from fulfillment.carriers.own_fleet import OwnFleet

    return {OwnFleet.code: OwnFleet, ExpressCarrier.code: ExpressCarrier}


def carriers_available() -> list[str]:
    """The codes of the carriers this deployment is configured for."""
    return [code for code, cls in _registry().items() if cls.is_configured()]


def carrier(code: str) -> Carrier:
    """The carrier's implementation. Raises CarrierError if unknown or not configured here."""
    try:
        cls = _registry()[code]
    except KeyError:
        raise CarrierError(f"unknown carrier {code!r}") from None
    if not cls.is_configured():
        raise CarrierError(f"carrier {code!r} is not configured")
    return cls()
