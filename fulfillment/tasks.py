"""Background work of fulfillment: following parcels, the low-stock digest, stock flags."""

from celery import shared_task
from django.conf import settings

from fulfillment import services
from fulfillment.carriers import CarrierUnavailable


@shared_task(acks_late=True)
def refresh_stock_flags() -> int:
    """Safety net: recompute every product's in-stock flag (cheap; runs every few minutes)."""
    return services.product_stock_flags_refresh()


@shared_task(acks_late=True)
def poll_shipments() -> int:
    """Periodic: queue a tracking poll for every parcel whose next look is due."""
    ids = services.shipments_due_for_poll()
    for shipment_id in ids:
        track_shipment.delay(shipment_id)
    return len(ids)


@shared_task(
    acks_late=True,
    autoretry_for=(CarrierUnavailable,),
    # The first retry within a tenth of the poll interval (30 s at the default 300 s), then
    # doubling: a worker told to poll every few seconds (the tests' worker) retries as quickly.
    retry_backoff=max(1, settings.CARRIER_POLL_SECONDS // 10),
    retry_backoff_max=1800,
    max_retries=5,
)
def track_shipment(shipment_id: int) -> int:
    return services.shipment_poll(shipment_id=shipment_id)


@shared_task(acks_late=True)
def low_stock_digest() -> int:
    return services.low_stock_digest_queue()


@shared_task(acks_late=True)
def stock_alerts_notify(variant_id: int) -> int:
    """Mail the customers waiting for a variant that is back (idempotent: safe to retry)."""
    return services.stock_alerts_notify(variant_id=variant_id)


@shared_task(acks_late=True)
def stock_alerts_sweep() -> int:
    """Periodic safety net: open alerts of variants that can be bought again."""
    return services.stock_alerts_sweep()
