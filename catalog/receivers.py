"""Signal receivers: each is one line calling a service."""

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from catalog import models, services
from shop.core.pagecache import page_cache_clear
from shop.core.tasks import enqueue

# Names and the tree that any page may show: a write misses every cached page (rare staff edits).
TAXONOMY = (models.Category, models.Brand, models.Attribute, models.AttributeValue)
# Rows of one product: a write misses what shows that product (catalog.services.product_pages_invalidate).
OF_A_PRODUCT = (models.ProductVariant, models.ProductImage)


def taxonomy_changed(sender, **kwargs) -> None:
    page_cache_clear()


def product_saving(sender, instance, raw=False, **kwargs) -> None:
    if instance.pk and not raw:
        instance._listed_before = services.product_listed_where(product_id=instance.pk)


def product_saved(sender, instance, created=False, **kwargs) -> None:
    before = getattr(instance, "_listed_before", None)
    moved = created or before != (instance.category_id, instance.is_active)
    services.product_pages_invalidate(
        product_ids=[instance.pk], membership=moved, category_ids=[instance.category_id, *(before or ())[:1]]
    )


def product_deleted(sender, instance, **kwargs) -> None:
    services.product_pages_invalidate(product_ids=[instance.pk], membership=True, category_ids=[instance.category_id])


def product_row_changed(sender, instance, **kwargs) -> None:
    services.product_pages_invalidate(product_ids=[instance.product_id])


def attributes_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    if not action.startswith("post_"):
        return
    if not reverse:  # a product's (or a variant's) values
        product_id = instance.pk if isinstance(instance, models.Product) else instance.product_id
        services.product_pages_invalidate(product_ids=[product_id])
    elif pk_set and sender is models.Product.attribute_values.through:  # a value's products
        services.product_pages_invalidate(product_ids=pk_set)
    else:  # a value's variants, or a clear() from the value's side: rare
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
    for model in TAXONOMY:
        post_save.connect(taxonomy_changed, sender=model, dispatch_uid=f"pagecache-save-{model.__name__}")
        post_delete.connect(taxonomy_changed, sender=model, dispatch_uid=f"pagecache-delete-{model.__name__}")
    for model in OF_A_PRODUCT:
        post_save.connect(product_row_changed, sender=model, dispatch_uid=f"pagecache-save-{model.__name__}")
        post_delete.connect(product_row_changed, sender=model, dispatch_uid=f"pagecache-delete-{model.__name__}")
    pre_save.connect(product_saving, sender=models.Product, dispatch_uid="pagecache-before-Product")
    post_save.connect(product_saved, sender=models.Product, dispatch_uid="pagecache-save-Product")
    post_delete.connect(product_deleted, sender=models.Product, dispatch_uid="pagecache-delete-Product")
    m2m_changed.connect(attributes_changed, sender=models.Product.attribute_values.through, dispatch_uid="pagecache-av")
    m2m_changed.connect(
        attributes_changed, sender=models.ProductVariant.options.through, dispatch_uid="pagecache-options"
    )
    post_save.connect(image_saved, sender=models.ProductImage, dispatch_uid="catalog-image-renditions")
    post_delete.connect(image_deleted, sender=models.ProductImage, dispatch_uid="catalog-image-files")


def ensure_staff_groups(sender, **kwargs) -> None:
    services.catalog_groups_ensure()
