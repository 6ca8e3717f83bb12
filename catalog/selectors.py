"""Reads for the storefront. Each returns what a page needs in a fixed number of queries."""

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.postgres.search import SearchQuery, SearchRank, TrigramWordSimilarity
from django.core.cache import caches
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Count, F, Max, Min, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils.functional import cached_property

from catalog.models import (
    Attribute,
    AttributeValue,
    Brand,
    Category,
    Product,
    ProductImage,
    ProductVariant,
    stock_status,
)
from catalog.search import tsquery

CARD_FIELDS = (
    "id",
    "name",
    "name_en",
    "slug",
    "price",
    "compare_at_price",
    "in_stock",
    "card_image",
    "sales_count",
    "brand_id",
)


def active_products() -> QuerySet[Product]:
    return Product.objects.filter(is_active=True)


def home_sections(*, size: int = 8) -> dict[str, list]:
    """New arrivals, best sellers and most viewed; one query each, index-ordered."""
    cards = active_products().only(*CARD_FIELDS)
    return {
        "new_arrivals": list(cards.order_by("-created_at")[:size]),
        "best_sellers": list(cards.order_by("-sales_count")[:size]),
        "most_viewed": list(cards.order_by("-view_count")[:size]),
        "categories": root_categories(),
    }


def _memo(key: str, compute, seconds: int = 60):
    """Keep a read in the page cache's store, which every catalogue write clears."""
    cache = caches["pages"]
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, seconds)
    return value


def best_sellers(*, size: int = 8) -> list[Product]:
    return list(active_products().only(*CARD_FIELDS).order_by("-sales_count")[:size])


def category_with_tree(*, slug: str) -> tuple[Category, list[Category], list[Category]]:
    """A category, its ancestors (breadcrumbs) and its children, kept a minute (the tree
    changes rarely and every change clears it). Raises Category.DoesNotExist."""

    def load():
        category = Category.objects.get(slug=slug, is_active=True)
        ancestors = list(category.get_ancestors()) if category.depth > 1 else []
        return category, ancestors, list(category.get_children().filter(is_active=True))

    return _memo(f"tree:{slug}", load)


def root_categories() -> list[Category]:
    return _memo("roots", lambda: list(Category.get_root_nodes().filter(is_active=True)))


def category_subtree_q(category: Category) -> Q:
    """Products in a category or any of its descendants (materialised-path prefix)."""
    return Q(category__in=Category.objects.filter(path__startswith=category.path).values("pk"))


def search_filter(queryset: QuerySet[Product], text: str) -> tuple[QuerySet[Product], bool]:
    """Full-text match (PostgreSQL) or substring match (SQLite). Returns (qs, ranked)."""
    if connection.vendor != "postgresql":
        q = Q()
        for word in text.split():
            q &= Q(name__icontains=word) | Q(name_en__icontains=word) | Q(brand__name__icontains=word)
        return queryset.filter(q), False
    raw = tsquery(text)
    if raw is None:
        return queryset.none(), False
    return queryset.filter(search_vector=SearchQuery(raw, search_type="raw", config="simple")), True


def search_ranked(queryset: QuerySet[Product], text: str) -> QuerySet[Product]:
    """Annotate full-text rank (for a relevance sort of a narrow result set)."""
    query = SearchQuery(tsquery(text) or "", search_type="raw", config="simple")
    return queryset.annotate(rank=SearchRank(F("search_vector"), query))


def search_fuzzy(queryset: QuerySet[Product], text: str) -> QuerySet[Product]:
    """Typo-tolerant fallback when full text finds nothing: trigram word similarity."""
    if connection.vendor != "postgresql" or len(text) < 3:
        return queryset.none()
    return (
        queryset.annotate(similarity=TrigramWordSimilarity(text, "name") + TrigramWordSimilarity(text, "name_en"))
        .filter(Q(name_en__trigram_word_similar=text) | Q(name__trigram_word_similar=text))
        .order_by("-similarity", "-sales_count")
    )


SORTS = {
    "popular": ("-sales_count", "-id"),
    "price_asc": ("price", "id"),
    "price_desc": ("-price", "-id"),
    "newest": ("-created_at", "-id"),
}


@dataclass
class Facets:
    brands: list[dict] = field(default_factory=list)
    attributes: list[dict] = field(default_factory=list)
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    in_stock: int = 0
    total: int = 0
    brands_hidden: int = 0

    @property
    def brand_ids(self) -> set[int]:
        return {entry["brand"].pk for entry in self.brands}


FACET_SECONDS = 60
FACET_BRANDS = 20


def facets_cached(base: QuerySet[Product], *, key: str) -> Facets:
    """Facets of a category or search, computed at most once a minute per result set.

    Counting brands and attribute values over tens of thousands of products is most of a
    listing's SQL; the counts need not be exact to the second, so they are kept in the page
    cache's store, which every catalogue write clears (new names and prices show at once)."""
    cache = caches["pages"]
    cache_key = "facets:" + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
    facets = cache.get(cache_key)
    if facets is None:
        facets = facets_for(base)
        cache.set(cache_key, facets, FACET_SECONDS)
    return facets


def facets_for(base: QuerySet[Product]) -> Facets:
    """Brand and attribute-value counts and the price span over a result set (5 queries)."""
    facets = Facets()
    summary = base.aggregate(
        price_min=Min("price"),
        price_max=Max("price"),
        in_stock=Count("id", filter=Q(in_stock=True)),
        total=Count("id"),
    )
    facets.total = summary["total"]
    facets.price_min, facets.price_max = summary["price_min"], summary["price_max"]
    facets.in_stock = summary["in_stock"]
    brand_counts = dict(base.order_by().values_list("brand_id").annotate(n=Count("id")).values_list("brand_id", "n"))
    if brand_counts:
        # The brands with most products; a long tail of checkboxes helps nobody and costs
        # most of the page's rendering time.
        top = sorted(brand_counts, key=lambda pk: (-brand_counts[pk], pk))[:FACET_BRANDS]
        facets.brands_hidden = len(brand_counts) - len(top)
        facets.brands = [
            {"brand": brand, "count": brand_counts[brand.pk]}
            for brand in Brand.objects.filter(pk__in=top).order_by("name")
        ]
    through = Product.attribute_values.through
    value_counts = (
        through.objects.filter(product__in=base.order_by().values("pk"), attributevalue__attribute__is_filter=True)
        .values("attributevalue_id")
        .annotate(n=Count("product_id"))
    )
    counts = {row["attributevalue_id"]: row["n"] for row in value_counts}
    if counts:
        by_attribute: dict[int, dict] = {}
        for value in AttributeValue.objects.filter(pk__in=counts).select_related("attribute"):
            entry = by_attribute.setdefault(value.attribute_id, {"attribute": value.attribute, "values": []})
            entry["values"].append({"value": value, "count": counts[value.pk]})
        facets.attributes = sorted(by_attribute.values(), key=lambda e: (e["attribute"].position, e["attribute"].code))
    return facets


class CappedPaginator(Paginator):
    """Counts at most `cap` rows: an exact COUNT(*) over 100,000 products on every page view
    costs more than the page itself, and nobody pages past the first few hundred."""

    def __init__(self, *args, cap: int, known_count: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cap = cap
        self.known_count = known_count

    @cached_property
    def count(self) -> int:
        if self.known_count is not None:
            return min(self.known_count, self.cap)
        return self.object_list.order_by()[: self.cap].count()

    @property
    def capped(self) -> bool:
        return self.count >= self.cap


def product_for_page(*, slug: str) -> Product:
    """A product with everything its page shows, in a fixed number of queries.

    Variants carry `available` (summed over warehouses) and `status`. Raises Product.DoesNotExist.
    """
    variants = (
        ProductVariant.objects.filter(is_active=True)
        .annotate(available=Coalesce(Sum(F("stocks__on_hand") - F("stocks__reserved")), 0))
        .prefetch_related(Prefetch("options", queryset=AttributeValue.objects.select_related("attribute")))
    )
    product = (
        active_products()
        .select_related("brand", "category")
        .prefetch_related(
            Prefetch("variants", queryset=variants),
            Prefetch("images", queryset=ProductImage.objects.order_by("position", "pk")),
        )
        .get(slug=slug)
    )
    for variant in product.variants.all():
        variant.status = stock_status(variant.available, variant.low_stock_threshold)
    return product


def variant_option_axes(product: Product) -> list[dict]:
    """The option axes of a product (colour, size...) with their values in display order."""
    axes: dict[int, dict] = {}
    for variant in product.variants.all():
        for value in variant.options.all():
            axis = axes.setdefault(value.attribute_id, {"attribute": value.attribute, "values": {}})
            axis["values"].setdefault(value.pk, value)
    result = []
    for axis in sorted(axes.values(), key=lambda a: (a["attribute"].position, a["attribute"].code)):
        values = sorted(axis["values"].values(), key=lambda v: (v.position, v.value))
        result.append({"attribute": axis["attribute"], "values": values})
    return result


def related_products(product: Product, *, size: int = 8) -> list[Product]:
    """The best sellers of the product's category, without the product itself. The list is
    the same for every product of the category, so it is kept for a minute."""
    best = _memo(
        f"related:{product.category_id}",
        lambda: list(
            active_products()
            .filter(category_id=product.category_id)
            .only(*CARD_FIELDS)
            .order_by("-sales_count", "-id")[: size + 1]
        ),
    )
    return [p for p in best if p.pk != product.pk][:size]


def breadcrumbs(category: Category) -> list[Category]:
    """The category's ancestors and itself, root first (kept for a minute)."""
    return _memo(f"crumbs:{category.pk}", lambda: [*category.get_ancestors(), category])


def filterable_attributes() -> QuerySet[Attribute]:
    return Attribute.objects.filter(is_filter=True)
