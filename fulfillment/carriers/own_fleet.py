"""The shop's own couriers: waybill numbers are made here; staff record the events."""

import secrets

from django.utils import timezone

from fulfillment.carriers import Carrier, TrackingUpdate, WaybillRequest


class OwnFleet(Carrier):
    code = "own_fleet"
    label = "Own fleet"
    polled = False

    def create_waybill(self, request: WaybillRequest) -> str:
        # Date + random digits, like the express numbers; the shipment's unique constraint on
        # (carrier, tracking number) catches the rare clash.
        return "OF" + timezone.localdate().strftime("%y%m%d") + f"{secrets.randbelow(10**8):08d}"

    def fetch_events(self, tracking_number: str) -> list[TrackingUpdate]:
        return []  # staff record own-fleet events in the admin
