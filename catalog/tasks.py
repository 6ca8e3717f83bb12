"""Background work of the catalogue: image renditions and view-count flushing."""

from botocore.exceptions import BotoCoreError, ClientError
from celery import shared_task

from catalog import services

# Media storage failing: a full disk, or object storage (shop.core.storage) unreachable or refusing.
STORAGE_ERRORS = (OSError, BotoCoreError, ClientError)


@shared_task(acks_late=True, autoretry_for=STORAGE_ERRORS, retry_backoff=True, max_retries=5)
def build_image_renditions(image_id: int) -> None:
    services.image_build_renditions(image_id=image_id)  # idempotent: rebuilds the same files


@shared_task(acks_late=True, autoretry_for=STORAGE_ERRORS, retry_backoff=True, max_retries=5)
def delete_image_files(name: str, renditions: dict) -> None:
    services.image_files_delete(name=name, renditions=renditions)  # idempotent: deleting twice is fine


@shared_task(acks_late=True)
def flush_view_counts() -> int:
    return services.product_views_flush()
