"""Writes to the catalogue: keep the denormalised product columns and the search index right."""

from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.db.models import Case, F, IntegerField, OuterRef, Subquery, Value, When
from django.db.models.functions import Coalesce
from easy_thumbnails.files import get_thumbnailer

from catalog.models import Favourite, Product, ProductImage, ProductVariant, ProductView
from catalog.search import search_document
from catalog.selectors import DEPARTMENT_STAFF_GROUP, RECENTLY_VIEWED, RECENTLY_VIEWED_SIZE, recently_viewed_merge
from shop.core.admin_roles import group_ensure
from shop.core.counters import counter_incr, counter_take
from shop.core.pagecache import page_cache_clear
from shop.core.recent import recent_push, recent_take_changed

VIEW_COUNTER = "product_views"
RENDITIONS = ("thumbnail", "listing", "zoom")


def product_refresh_prices(*, product_ids: Iterable[int]) -> None:
    """Set each product's "from" price and compare-at price from its cheapest active variant
    (one UPDATE for all of them)."""
    cheapest = ProductVariant.objects.filter(product_id=OuterRef("pk"), is_active=True).order_by("price", "pk")
    Product.objects.filter(pk__in=list(product_ids)).update(
        price=Coalesce(Subquery(cheapest.values("price")[:1]), Value(Decimal("0"))),
        compare_at_price=Subquery(cheapest.values("compare_at_price")[:1]),
    )
    page_cache_clear()


def product_reindex(*, product_ids: Iterable[int]) -> None:
    """Rebuild the search vector of these products (segmented Chinese, simple config)."""
    search_index(products=Product.objects.filter(pk__in=list(product_ids)).select_related("brand", "category"))


def search_index(*, products: Iterable[Product]) -> None:
    """Write the search vectors of loaded products (with brand and category) in one batch."""
    if connection.vendor != "postgresql":
        return  # the embedded SQLite default searches names with LIKE instead
    rows = [(search_document(product), product.pk) for product in products]
    with connection.cursor() as cursor:
        cursor.executemany("UPDATE catalog_product SET search_vector = to_tsvector('simple', %s) WHERE id = %s", rows)


def product_after_save(*, product_id: int) -> None:
    """Everything derived from a product after staff changed it: prices, index, page cache."""
    product_refresh_prices(product_ids=[product_id])
    product_reindex(product_ids=[product_id])
    product_refresh_card_image(product_id=product_id)


def product_refresh_card_image(*, product_id: int) -> None:
    first = (
        ProductImage.objects.filter(product_id=product_id)
        .order_by("position", "pk")
        .values_list("renditions", flat=True)
        .first()
    )
    Product.objects.filter(pk=product_id).update(card_image=(first or {}).get("listing", ""))
    page_cache_clear()


def image_build_renditions(*, image_id: int) -> ProductImage | None:
    """Build thumbnail, listing and zoom renditions of an uploaded image (idempotent)."""
    image = ProductImage.objects.filter(pk=image_id).first()
    if image is None or not image.image:
        return None
    aliases = settings.THUMBNAIL_ALIASES["catalog.ProductImage.image"]
    thumbnailer = get_thumbnailer(image.image)
    renditions = {name: thumbnailer.get_thumbnail(aliases[name]).name for name in RENDITIONS}
    ProductImage.objects.filter(pk=image_id).update(renditions=renditions)
    product_refresh_card_image(product_id=image.product_id)
    image.renditions = renditions
    return image


def image_files_delete(*, name: str, renditions: dict) -> None:
    """Remove a deleted image's file and its renditions from media storage (on object storage
    nobody else ever will), with easy-thumbnails' records of them. Files still used by another
    image row (the demo's photos are shared) stay. Call after the row's deletion committed."""
    from django.core.files.storage import default_storage
    from easy_thumbnails.models import Source

    if not name or ProductImage.objects.filter(image=name).exists():
        return
    for stored in (name, *renditions.values()):
        if stored:
            default_storage.delete(stored)
    Source.objects.filter(name=name).delete()  # and its Thumbnail rows


def product_view_record(*, product_id: int) -> bool:
    """Count one view in the cache, never in the database. True when a flush is due."""
    return counter_incr(VIEW_COUNTER, product_id) >= settings.CATALOG_VIEW_FLUSH_EVERY


@transaction.atomic
def product_views_flush() -> int:
    """Move counted views into Product.view_count with one UPDATE. Returns products touched."""
    counts = counter_take(VIEW_COUNTER)
    if not counts:
        return 0
    Product.objects.filter(pk__in=counts).update(
        view_count=F("view_count")
        + Case(
            *[When(pk=pk, then=Value(n)) for pk, n in counts.items()],
            default=Value(0),
            output_field=IntegerField(),
        )
    )
    return len(counts)


# -- staff roles ----------------------------------------------------------------------------------

CATALOGUE_MANAGER_GROUP = "Catalogue managers"

# Products, variants (prices), images, categories, brands, attributes and suppliers, and the
# product and variant files (import needs change, export view). Products, variants, categories,
# brands and suppliers are hidden (is_active), never deleted: orders and stock point at them.
# Departments and their commission rates are read only (finance sets the rates). No stock counts,
# no orders, no money.
CATALOGUE_MANAGER_PERMISSIONS = [
    *(f"catalog.{action}_{model}" for model in ("product", "productvariant", "category", "brand", "supplier")
      for action in ("view", "add", "change")),
    *(f"catalog.{action}_{model}" for model in ("productimage", "attribute", "attributevalue")
      for action in ("view", "add", "change", "delete")),
    "catalog.view_department",
    "catalog.view_commissionrate",
]  # fmt: skip

# Read only, and only their own departments' rows (catalog.selectors.staff_department_ids holds
# the product, order line and statement admins to them). After-sales permissions are granted by
# name: they exist once aftersales is migrated, whose post_migrate runs this again.
DEPARTMENT_STAFF_PERMISSIONS = [
    "catalog.view_product",
    "catalog.view_productvariant",
    "orders.view_orderline",
    "aftersales.view_statement",
    "aftersales.view_statementline",
    "aftersales.view_statementadjustment",
]


def catalog_groups_ensure() -> dict[str, Group]:
    """Create or correct the catalogue managers' and department staff's groups (run after every
    migrate). Returns the groups by name."""
    return {
        CATALOGUE_MANAGER_GROUP: group_ensure(name=CATALOGUE_MANAGER_GROUP, permissions=CATALOGUE_MANAGER_PERMISSIONS),
        DEPARTMENT_STAFF_GROUP: group_ensure(name=DEPARTMENT_STAFF_GROUP, permissions=DEPARTMENT_STAFF_PERMISSIONS),
    }


# -- favourites and recently viewed -----------------------------------------------------------


def favourite_add(*, customer, product_id: int) -> bool:
    """Keep a product among the customer's favourites. True when it was not there yet; a second
    add (a double click, two tabs) changes nothing. Raises Product.DoesNotExist for a product
    that is unknown or hidden."""
    product = Product.objects.filter(is_active=True).only("pk").get(pk=product_id)
    _favourite, created = Favourite.objects.get_or_create(customer=customer, product=product)
    return created


def favourite_remove(*, customer, product_id: int) -> bool:
    """Drop a product from the customer's favourites (only theirs). True when it was there."""
    deleted, _ = Favourite.objects.filter(customer=customer, product_id=product_id).delete()
    return bool(deleted)


def product_recently_viewed_record(*, customer_id: int, product_id: int) -> None:
    """Put a product first in the customer's recently viewed list: in the cache, one pipelined
    round trip and no database write (the product page is the hottest page). The recommendations
    task copies changed lists into the database (product_views_persist)."""
    recent_push(RECENTLY_VIEWED, customer_id, product_id, size=RECENTLY_VIEWED_SIZE)


def product_views_persist(*, batch: int = 500) -> int:
    """Copy the recently viewed lists that changed since the last run from the cache into
    ProductView, `batch` customers per transaction (memory stays flat however many changed).
    Returns the customers copied."""
    done = 0
    while changed := recent_take_changed(RECENTLY_VIEWED, count=batch):
        customers = set(get_user_model().objects.filter(pk__in=changed).values_list("pk", flat=True))
        saved: dict[int, list[int]] = {}
        for customer, product in (
            ProductView.objects.filter(customer_id__in=changed)
            .order_by("customer_id", "position")
            .values_list("customer_id", "product_id")
        ):
            saved.setdefault(customer, []).append(product)
        lists = {customer: recently_viewed_merge(ids, saved.get(customer, [])) for customer, ids in changed.items()}
        products = set(
            Product.objects.filter(pk__in={p for ids in lists.values() for p in ids}).values_list("pk", flat=True)
        )
        rows = [
            ProductView(customer_id=customer, product_id=product, position=position)
            for customer, ids in lists.items()
            if customer in customers
            for position, product in enumerate(p for p in ids if p in products)
        ]
        with transaction.atomic():
            ProductView.objects.filter(customer_id__in=changed).delete()
            ProductView.objects.bulk_create(rows)
        done += len(changed)
    return done
