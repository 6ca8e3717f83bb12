"""Reading fulfillment for the customer's pages."""

from django.db.models import Prefetch

from fulfillment.models import Shipment, ShipmentLine, TrackingEvent


def parcels_of(order) -> list[Shipment]:
    """The order's parcels (not the ones replaced by a re-route), each with its lines and its
    tracking events newest first: three queries whatever the number of parcels."""
    return list(
        Shipment.objects.filter(order=order)
        .exclude(status=Shipment.Status.CANCELLED)
        .select_related("warehouse")
        .prefetch_related(
            Prefetch("lines", queryset=ShipmentLine.objects.select_related("order_line")),
            Prefetch("events", queryset=TrackingEvent.objects.order_by("-occurred_at", "-pk")),
        )
        .order_by("number")
    )
