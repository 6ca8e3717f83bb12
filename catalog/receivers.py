"""Signal receivers: each is one line calling a service."""

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from catalog import models, services
from shop.core.pagecache import page_cache_clear
from shop.core.tasks import enqueue

WATCHED = (
    models.Product,
    models.ProductVariant,
    models.ProductImage,
    models.Category,
    models.Brand,
    models.Attribute,
    models.AttributeValue,
)


def catalogue_changed(sender, **kwargs) -> None:
    page_cache_clear()


def image_saved(sender, instance, created, **kwargs) -> None:
    if not kwargs.get("raw") and not instance.renditions:
        # Through enqueue: a broker outage must not fail the admin's save after it committed.
        transaction.on_commit(lambda: enqueue("catalog.tasks.build_image_renditions", instance.pk))


def image_deleted(sender, instance, **kwargs) -> None:
    # Nobody else removes files from object storage; in a task, so that the admin's delete never
    # waits for it nor fails after its commit.
    name, renditions = instance.image.name, dict(instance.renditions or {})
    transaction.on_commit(lambda: enqueue("catalog.tasks.delete_image_files", name, renditions))


def connect() -> None:
    for model in WATCHED:
        post_save.connect(catalogue_changed, sender=model, dispatch_uid=f"pagecache-save-{model.__name__}")
        post_delete.connect(catalogue_changed, sender=model, dispatch_uid=f"pagecache-delete-{model.__name__}")
    m2m_changed.connect(catalogue_changed, sender=models.Product.attribute_values.through, dispatch_uid="pagecache-av")
    post_save.connect(image_saved, sender=models.ProductImage, dispatch_uid="catalog-image-renditions")
    post_delete.connect(image_deleted, sender=models.ProductImage, dispatch_uid="catalog-image-files")


def ensure_staff_groups(sender, **kwargs) -> None:
    services.catalog_groups_ensure()
