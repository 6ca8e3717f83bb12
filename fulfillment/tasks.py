from celery import shared_task

from fulfillment import services


@shared_task(acks_late=True)
def refresh_stock_flags() -> int:
    """Safety net: recompute every product's in-stock flag (cheap; runs every few minutes)."""
    return services.product_stock_flags_refresh()
