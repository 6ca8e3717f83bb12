"""Writes to the catalogue: keep the denormalised product columns and the search index right."""

import threading
from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django.db.models import Case, F, IntegerField, OuterRef, Subquery, Value, When
from django.db.models.functions import Coalesce
from easy_thumbnails.files import get_thumbnailer

from catalog.models import BoughtTogether, Category, Favourite, Product, ProductImage, ProductVariant, ProductView
from catalog.search import search_document
from catalog.selectors import DEPARTMENT_STAFF_GROUP, RECENTLY_VIEWED, RECENTLY_VIEWED_SIZE, recently_viewed_merge
from shop.core.admin_roles import group_ensure
from shop.core.counters import counter_incr, counter_take
from shop.core.pagecache import (
    PRODUCT_SET,
    PRODUCTS,
    category_tag,
    page_cache_clear,
    page_cache_invalidate,
    product_tag,
)
from shop.core.recent import recent_push, recent_take_changed

VIEW_COUNTER = "product_views"
RENDITIONS = ("thumbnail", "listing", "zoom")


def product_refresh_prices(*, product_ids: Iterable[int]) -> None:
    """Set each product's "from" price and compare-at price from its cheapest active variant
    (one UPDATE for all of them)."""
    product_ids = list(product_ids)
    cheapest = ProductVariant.objects.filter(product_id=OuterRef("pk"), is_active=True).order_by("price", "pk")
    Product.objects.filter(pk__in=product_ids).update(
        price=Coalesce(Subquery(cheapest.values("price")[:1]), Value(Decimal("0"))),
        compare_at_price=Subquery(cheapest.values("compare_at_price")[:1]),
    )
    product_pages_invalidate(product_ids=product_ids)


# -- what a write shows: page cache invalidation -------------------------------------------------

# More products written at once (an import) miss everything: cheaper than working out the tags.
PAGE_CACHE_BULK = 500
_pending = threading.local()


def product_pages_invalidate(
    *, product_ids: Iterable[int], membership: bool = False, category_ids: Iterable[int] = ()
) -> None:
    """Once this commits, miss the cached pages and fragments that show these products: their
    pages, the product pages listing them as "bought together", their categories' and every
    ancestor's listings and facets (and those of `category_ids`: where a moved product was),
    the all-products listing and searches (PRODUCTS), and the home page where they are shown
    (each card's product tag). `membership`: products were added, hidden, shown or moved, so
    the home page's lists may change too. Other categories' pages stay cached.

    Writes within one transaction are gathered and worked out once, after it commits, from
    the primary (3-4 queries, none per product)."""
    # One callback per transaction, while it is still queued: a rollback drops it, and with it
    # what the rolled-back work had gathered.
    queued = any(entry[1] is _product_pages_flush for entry in transaction.get_connection().run_on_commit)
    pending = getattr(_pending, "state", None)
    if pending is None or not queued:
        pending = _pending.state = {"products": set(), "categories": set(), "membership": False}
    pending["products"].update(product_ids)
    pending["categories"].update(category_ids)
    pending["membership"] |= membership
    if not queued:
        transaction.on_commit(_product_pages_flush)


def _product_pages_flush() -> None:
    pending, _pending.state = getattr(_pending, "state", None), None
    if not pending or not (pending["products"] or pending["categories"]):
        return
    products = pending["products"]
    if len(products) > PAGE_CACHE_BULK:
        page_cache_clear()
        return
    db = DEFAULT_DB_ALIAS  # the primary: a replica may not have the write yet
    paths = set(Product.objects.using(db).filter(pk__in=products).values_list("category__path", flat=True))
    if pending["categories"]:
        paths |= set(Category.objects.using(db).filter(pk__in=pending["categories"]).values_list("path", flat=True))
    step = Category.steplen
    prefixes = {path[:end] for path in paths if path for end in range(step, len(path) + 1, step)}
    chain = Category.objects.using(db).filter(path__in=prefixes).values_list("pk", flat=True) if prefixes else []
    owners = BoughtTogether.objects.using(db).filter(other_id__in=products).values_list("product_id", flat=True)
    tags = {PRODUCTS, *map(product_tag, products), *map(product_tag, owners), *map(category_tag, chain)}
    if pending["membership"]:
        tags.add(PRODUCT_SET)
    page_cache_invalidate(tags)


def product_listed_where(*, product_id: int) -> tuple[int, bool] | None:
    """(category id, shown) of a product as stored, before a save changes them: the pages it
    leaves miss too. One query by key, on the primary."""
    rows = Product.objects.using(DEFAULT_DB_ALIAS).filter(pk=product_id).values_list("category_id", "is_active")
    return rows.first()


def products_show(*, products, shown: bool) -> int:
    """Show or hide products in the shop (a queryset). Returns how many."""
    ids = list(products.values_list("pk", flat=True))
    n = Product.objects.filter(pk__in=ids).update(is_active=shown)
    product_pages_invalidate(product_ids=ids, membership=True)
    return n


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
    product_pages_invalidate(product_ids=[product_id])


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


def product_view_record(*, product_id: int, pending: int | None = None) -> bool:
    """Count one view in the cache, never in the database. True when a flush is due: once each
    time another CATALOG_VIEW_FLUSH_EVERY products have views pending, not on every view while
    that many are (in a live catalogue most views would then queue a flush task, about 1.4 ms of
    the page's Python each, and a queue of tasks doing the same flush until a worker runs one;
    the beat flushes every 30 s whatever happens to one task). `pending`: the caller already
    counted the view in one of its own cache round trips (the product page, with its cached
    parts: shop.core.pagecache.Fragments), and got back what counter_incr returns."""
    if pending is None:
        pending = counter_incr(VIEW_COUNTER, product_id)
    return pending > 0 and pending % settings.CATALOG_VIEW_FLUSH_EVERY == 0


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
    # Units a product sold before this shop (a former shop's, added to its 已售): with the products.
    *(f"orders.{action}_salesbaseline" for action in ("view", "add", "change", "delete")),
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
