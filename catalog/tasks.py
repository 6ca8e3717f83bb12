"""Background work of the catalogue: image renditions and view-count flushing."""

from celery import shared_task

from catalog import services


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def build_image_renditions(image_id: int) -> None:
    services.image_build_renditions(image_id=image_id)  # idempotent: rebuilds the same files


@shared_task(acks_late=True)
def flush_view_counts() -> int:
    return services.product_views_flush()
