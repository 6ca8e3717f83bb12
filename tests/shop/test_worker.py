"""Tasks through a real Celery worker: sent to Redis by this process, run by another one
against the same database and media, exactly as in production."""

from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile

from catalog.models import Product, ProductImage
from catalog.services import VIEW_COUNTER, product_view_record
from catalog.tasks import flush_view_counts
from shop.core.counters import counter_take
from tests.catalog.support import image_bytes

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_uploaded_image_gets_renditions_from_the_worker(celery_worker, make_product):
    product = make_product(name="后台渲染")
    image = ProductImage.objects.create(
        product=product, image=ContentFile(image_bytes("JPEG", (900, 700)), name="worker.jpg")
    )
    # on commit (autocommit here: at once) the signal receiver sent build_image_renditions

    renditions = celery_worker.wait_for(
        lambda: ProductImage.objects.values_list("renditions", flat=True).get(pk=image.pk),
        "the worker to build the renditions",
    )
    assert set(renditions) == {"thumbnail", "listing", "zoom"}
    for path in renditions.values():
        assert (Path(settings.MEDIA_ROOT) / path).is_file(), path
    # Run there, not in this process. The renditions are saved before the task ends and logs
    # "succeeded", so wait for the log line rather than reading it at once.
    assert celery_worker.wait_for(
        lambda: celery_worker.ran("catalog.tasks.build_image_renditions"), "the worker to log the task's success"
    )
    card = celery_worker.wait_for(
        lambda: Product.objects.values_list("card_image", flat=True).get(pk=product.pk), "the card image"
    )
    assert card == renditions["listing"]


def _flush_through_worker(worker) -> None:
    result = flush_view_counts.delay()
    worker.wait_for(lambda: worker.task_done(result.id), f"flush_view_counts[{result.id}] to finish")


def test_view_counts_are_flushed_by_the_worker_exactly_once(celery_worker, client, make_product):
    counted = make_product(name="浏览计数")
    other = make_product(name="少量浏览")
    counter_take(VIEW_COUNTER)  # nothing pending from the set-up

    for _ in range(7):  # the first view renders the page, the others come from the page cache
        assert client.get(counted.get_absolute_url()).status_code == 200
    for _ in range(2):
        product_view_record(product_id=other.pk)
    assert Product.objects.get(pk=counted.pk).view_count == 0  # counted in Redis, not the database

    _flush_through_worker(celery_worker)
    assert Product.objects.get(pk=counted.pk).view_count == 7
    assert Product.objects.get(pk=other.pk).view_count == 2
    assert counter_take(VIEW_COUNTER) == {}  # the worker took every pending count

    _flush_through_worker(celery_worker)  # nothing pending: nothing added twice
    assert Product.objects.get(pk=counted.pk).view_count == 7

    for _ in range(3):
        client.get(counted.get_absolute_url())
    _flush_through_worker(celery_worker)
    _flush_through_worker(celery_worker)
    assert Product.objects.get(pk=counted.pk).view_count == 10
    assert Product.objects.get(pk=other.pk).view_count == 2


def test_a_busy_product_page_queues_the_flush_itself(celery_worker, client, settings, make_product):
    """When enough products have pending views, the page view sends the flush task."""
    settings.CATALOG_VIEW_FLUSH_EVERY = 2
    first, second = make_product(), make_product()
    counter_take(VIEW_COUNTER)
    client.get(first.get_absolute_url())
    client.get(first.get_absolute_url())  # from the page cache: counted, no flush
    client.get(second.get_absolute_url())  # second product pending: this view sends the flush

    celery_worker.wait_for(
        lambda: Product.objects.filter(pk__in=[first.pk, second.pk], view_count__gt=0).count() == 2,
        "the worker to flush the views the page queued",
    )
    assert dict(Product.objects.filter(pk__in=[first.pk, second.pk]).values_list("pk", "view_count")) == {
        first.pk: 2,
        second.pk: 1,
    }
