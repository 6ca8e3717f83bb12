"""Reads for the storefront. Each returns what a page needs in a fixed number of queries."""

import hashlib
import heapq
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank, TrigramWordSimilarity
from django.core.exceptions import EmptyResultSet
from django.core.paginator import Paginator
from django.db import connection, connections, router
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    FilteredRelation,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils.functional import cached_property

from catalog import facets as catalog_facets
from catalog.models import (
    Attribute,
    AttributeValue,
    Brand,
    Category,
    Favourite,
    Product,
    ProductImage,
    ProductVariant,
    ProductView,
    StockAlert,
    StockStatus,
    stock_status,
)
from catalog.search import tsquery
from shop.core.pagecache import PRODUCT_SET, PRODUCTS, fragment_cached, page_tag, product_tag
from shop.core.prepared import CompiledRead, rows_converted
from shop.core.recent import recent_get

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


class Deferred:
    """A products queryset built only when something needs it. A listing's statements are kept
    per process and shape (ListingProducts, _Shaped) and run with the request's words: the
    querysets they were compiled from (the subtree's filter, the full-text match, the facets'
    sample and filters) are not needed again, and building them was 0.3-0.5 ms of a page.
    `filter` and `then` defer further; anything else builds the queryset and asks it. `using`
    is the database the queryset would read (its `db`)."""

    facet_scope: "FacetScope | None" = None  # see facet_scoped

    def __init__(self, build: Callable[[], QuerySet], *, using: str) -> None:
        self._build, self.db = build, using

    @cached_property
    def built(self) -> QuerySet:
        return self._build()

    def then(self, step: Callable[[QuerySet], QuerySet]) -> "Deferred":
        """This queryset passed through `step`, when built."""
        return Deferred(lambda: step(self.built), using=self.db)

    def filter(self, *args, **kwargs) -> "Deferred":
        return self.then(lambda products: products.filter(*args, **kwargs))

    def __getattr__(self, name: str):
        return getattr(self.built, name)


def active_products_deferred() -> Deferred:
    """active_products(), built when needed (see Deferred)."""
    return Deferred(active_products, using=router.db_for_read(Product))


def home_sections(*, size: int = 8) -> dict[str, list]:
    """New arrivals, best sellers and most viewed; one query each, index-ordered."""
    cards = active_products().only(*CARD_FIELDS)
    sections = {
        "new_arrivals": list(cards.order_by("-created_at")[:size]),
        "best_sellers": list(cards.order_by("-sales_count")[:size]),
        "most_viewed": list(cards.order_by("-view_count")[:size]),
    }
    # The home page cached whole (shop.core.pagecache) misses when a product shown here is
    # written or the set of products changes (one added, hidden, shown or moved), not on
    # other writes. Sales and view counts reorder the lists within PAGE_CACHE_SECONDS.
    page_tag(PRODUCT_SET, *(product_tag(p.pk) for cards in sections.values() for p in cards))
    return sections | {"categories": root_categories()}


def _memo(key: str, compute, seconds: int = 60):
    """Keep a read of the category tree in the page cache's store: it depends on the taxonomy
    only, whose writes invalidate everything (shop.core.pagecache.ALL)."""
    return fragment_cached(key, compute, tags=(), timeout=seconds)


def best_sellers(*, size: int = 8) -> list[Product]:
    return list(active_products().only(*CARD_FIELDS).order_by("-sales_count")[:size])


@dataclass
class CategoryTree:
    category: Category
    ancestors: list[Category]  # root first, for the breadcrumbs
    children: list[Category]  # active ones, for the chips
    subtree_ids: list[int]  # the category and all its descendants, for filtering products


@dataclass
class Taxonomy:
    """The catalogue's names and tree as one web process keeps them (see taxonomy_current()): every
    category in path order, every brand and every attribute value with its attribute, each in
    the order the listings show them (as the database sorts their names). Shared by the
    requests of a process: read only."""

    generation: tuple[int, int] | None  # see taxonomy_current
    categories: list[Category]
    brands: dict[int, Brand]  # by name, then id
    values: dict[int, AttributeValue]  # by attribute position, value position, value, id
    roots: list[Category] = field(init=False)
    _trees: dict[str, CategoryTree] = field(default_factory=dict, init=False, repr=False)
    _brand_rank: dict[int, int] = field(init=False, repr=False)
    _value_rank: dict[int, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.roots = [node for node in self.categories if node.depth == 1 and node.is_active]
        self._brand_rank = {pk: i for i, pk in enumerate(self.brands)}
        self._value_rank = {pk: i for i, pk in enumerate(self.values)}

    def tree(self, slug: str) -> CategoryTree:
        """An active category with its ancestors, active children and whole subtree. Raises
        Category.DoesNotExist."""
        found = self._trees.get(slug)
        if found is None:
            category = next((node for node in self.categories if node.slug == slug and node.is_active), None)
            if category is None:
                raise Category.DoesNotExist(slug)
            inside = [node for node in self.categories if node.path.startswith(category.path)]
            found = CategoryTree(
                category=category,
                ancestors=[
                    node for node in self.categories if category.path.startswith(node.path) and node is not category
                ],
                children=[node for node in inside if node.depth == category.depth + 1 and node.is_active],
                subtree_ids=[node.pk for node in inside],
            )
            self._trees[slug] = found
        return found

    def labels(self, *, brand_ids: Iterable[int], value_ids: Iterable[int]) -> tuple[list[Brand], list[AttributeValue]]:
        """The brands of these ids by name, and the filterable attribute values of these ids in
        their order (unknown ids left out)."""
        brand_rank, value_rank = self._brand_rank, self._value_rank
        brands = [self.brands[pk] for pk in sorted((pk for pk in brand_ids if pk in brand_rank), key=brand_rank.get)]
        value_ids = sorted((pk for pk in value_ids if pk in value_rank), key=value_rank.get)
        values = [value for value in map(self.values.__getitem__, value_ids) if value.attribute.is_filter]
        return brands, values


# The taxonomy's generation, which the database changes on any write to categories, brands,
# attributes or their values (migration 0014's triggers, numbers from a sequence), with the id of
# the transaction that wrote it (the row version's xmin): a copy of the tables restored with
# triggers off and the sequence set back (tests/browser's snapshot, a pg_restore) writes an old
# number again, but never from the same transaction; two writes in one transaction give two
# numbers.
_TAXONOMY_GENERATION = catalog_facets.PreparedSQL(
    "shop_taxonomy_generation",
    "SELECT generation, xmin::text::bigint FROM catalog_taxonomy_generation WHERE id = 1",
)
_taxonomies: dict[str, Taxonomy] = {}  # by database alias: the last one read there


def _taxonomy_load(using: str, generation: tuple[int, int] | None) -> Taxonomy:
    return Taxonomy(
        generation=generation,
        categories=list(Category.objects.using(using).order_by("path")),
        brands={b.pk: b for b in Brand.objects.using(using).order_by("name", "id")},
        values={
            v.pk: v
            for v in AttributeValue.objects.using(using)
            .select_related("attribute")
            .order_by("attribute__position", "position", "value", "id")
        },
    )


def taxonomy_current() -> Taxonomy:
    """The catalogue's categories, brands and attribute values, as now: kept by this process
    under the generation number the database keeps for them, so a request reads one number (one short
    statement) instead of the rows, and any write to them, committed, is seen by the next
    request. Every listing read them (the root categories or a category's tree, the facets'
    labels, the filters' brands and values) and built model objects from them: about 2.5 ms of
    a 9 ms page with nothing cached. Elsewhere than on PostgreSQL they are read every time."""
    using = router.db_for_read(Category)
    if connections[using].vendor != "postgresql":
        return _taxonomy_load(using, None)
    with connections[using].cursor() as cursor:
        _TAXONOMY_GENERATION.execute(cursor, using=using, params=[])
        row = cursor.fetchone()
    generation = (row[0], row[1]) if row else None
    kept = _taxonomies.get(using)
    if kept is not None and generation is not None and kept.generation == generation:
        return kept
    # Read after the number: rows at least as new as it (a write committed in between makes
    # the next request read them again, never the other way round).
    found = _taxonomy_load(using, generation)
    if generation is not None:
        _taxonomies[using] = found
    return found


def category_with_tree(*, slug: str, taxonomy: Taxonomy | None = None) -> CategoryTree:
    """A category with its place in the tree (see Taxonomy.tree). Raises Category.DoesNotExist."""
    return (taxonomy or taxonomy_current()).tree(slug)


def root_categories(*, taxonomy: Taxonomy | None = None) -> list[Category]:
    return (taxonomy or taxonomy_current()).roots


def category_subtree_q(tree: CategoryTree) -> Q:
    """Products in a category or any of its descendants. The ids are literal, not a sub-select,
    so the planner can walk the (category, sort) indexes of a small category."""
    return Q(category_id__in=tree.subtree_ids)


def search_filter(queryset: QuerySet[Product], text: str, *, raw: str | None = None) -> tuple[QuerySet[Product], bool]:
    """Full-text match (PostgreSQL) or substring match (SQLite). Returns (qs, ranked). `raw`: the
    text's tsquery(), when the caller has it already."""
    if connection.vendor != "postgresql":
        q = Q()
        for word in text.split():
            q &= Q(name__icontains=word) | Q(name_en__icontains=word) | Q(brand__name__icontains=word)
        return queryset.filter(q), False
    raw = raw or tsquery(text)
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


_shaped_lock = threading.Lock()


class ListingProducts:
    """A listing page's products as card rows (CARD_FIELDS), for CappedPaginator: building the
    products queryset, compiling it and running it through the ORM cost about 1 ms of Python a
    page (docs/benchmark.md, "Issue 12, fourth session"), while the statement only depends on
    the listing's shape. So its SQL is compiled once per process and shape (`key`: all that
    shapes the statement but the search's words) with a marker in place of the search's
    tsquery, and later pages of that shape substitute the words and the page's LIMIT/OFFSET
    into it. `build(raw)` returns the products queryset (values_list of CARD_FIELDS) for a
    tsquery `raw` (or, without a search, whatever is passed); the paginator's count fallback
    uses it as is. Slicing returns the bounds the paginator chose, which `rows` reads."""

    ordered = True  # the statement has its ORDER BY (Paginator warns about unordered lists)
    MARKER = "\x00listing-search\x00"
    KEPT = 256  # shapes kept per process: categories × sorts × filters actually chosen
    _compiled: "dict[tuple, tuple[str, list, list[int], list]]" = {}

    def __init__(self, build, *, key: tuple, raw: str | None, using: str) -> None:
        self.build, self.key, self.raw, self.using = build, (using, *key), raw, using

    @cached_property
    def queryset(self) -> QuerySet:
        return self.build(self.raw)

    def order_by(self, *fields) -> QuerySet:
        return self.queryset.order_by(*fields)

    def __getitem__(self, bounds: slice) -> tuple[int, int | None]:
        return (bounds.start or 0, bounds.stop)

    def _compile(self) -> tuple[str, list, list[int], list]:
        compiled = self._compiled.get(self.key)
        if compiled is None:
            compiler = self.build(self.MARKER).query.get_compiler(using=self.using)
            sql, params = compiler.as_sql()
            params = list(params)
            markers = [i for i, p in enumerate(params) if p == self.MARKER]
            converters = list(compiler.get_converters([column for column, _, _ in compiler.select]).items())
            compiled = (sql, params, markers, converters)
            with _shaped_lock:  # a threaded worker's requests share it
                if len(self._compiled) >= self.KEPT:
                    self._compiled.pop(next(iter(self._compiled)), None)  # the oldest shape
                self._compiled[self.key] = compiled
        return compiled

    def rows(self, bounds: tuple[int, int | None]) -> list[tuple]:
        """The card rows between `bounds` (a page's, as the paginator sliced them)."""
        low, high = bounds
        if high is not None and high <= low:
            return []
        sql, params, markers, converters = self._compile()
        params = params.copy()
        for i in markers:
            params[i] = self.raw
        connection = connections[self.using]
        # The ORM's own LIMIT/OFFSET text for this slice, as it would have compiled it.
        sql = f"{sql} {connection.ops.limit_offset_sql(low, high)}"
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        return [tuple(row) for row in rows_converted(rows, converters, connection)] if converters else rows


def search_matching(queryset: QuerySet[Product], raw: str) -> QuerySet[Product]:
    """search_filter's full-text match for an already built tsquery (PostgreSQL)."""
    return queryset.filter(search_vector=SearchQuery(raw, search_type="raw", config="simple"))


def search_ranked_raw(queryset: QuerySet[Product], raw: str) -> QuerySet[Product]:
    """search_ranked for an already built tsquery (PostgreSQL)."""
    return queryset.annotate(rank=SearchRank(F("search_vector"), SearchQuery(raw, search_type="raw", config="simple")))


SORTS = {
    "popular": ("-sales_count", "-id"),
    "price_asc": ("price", "id"),
    "price_desc": ("-price", "-id"),
    "newest": ("-created_at", "-id"),
    "rating": ("-rating", "-rating_count", "-id"),  # the product_rated index
}


@dataclass
class Facets:
    """A listing's facets. Standard faceted search: each group counts within the result set as
    the filters of every OTHER group narrow it, so choosing a brand still shows what the other
    brands would give, and "in stock only (n)" is what checking it would show."""

    brands: list[dict] = field(default_factory=list)
    attributes: list[dict] = field(default_factory=list)
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    in_stock: int = 0
    total: int = 0  # the products shown: every chosen filter applied
    brands_hidden: int = 0
    base_total: int = 0  # the category or search before any filter (a search that found nothing)
    # The counts were scaled up from a sample of a huge result set (facets_for): the page shows
    # them as "about n", and the pager counts exactly before it offers a last page.
    estimated: bool = False

    @property
    def brand_ids(self) -> set[int]:
        return {entry["brand"].pk for entry in self.brands}


@dataclass(frozen=True)
class FacetChoice:
    """The filters chosen on a listing, normalised (ids sorted, prices to the cent), so that the
    same choice, however its query string is spelt, is one facet cache entry."""

    min_price: Decimal | None = None
    max_price: Decimal | None = None
    brands: tuple[int, ...] = ()
    values: tuple[tuple[int, tuple[int, ...]], ...] = ()  # (attribute id, its chosen value ids)
    in_stock: bool = False

    @classmethod
    def from_cleaned(cls, cleaned: dict) -> "FacetChoice":
        """From a listing filter form's cleaned data (catalog.filters.ProductFilter)."""
        by_attribute: dict[int, set[int]] = {}
        for value in cleaned.get("av") or []:
            by_attribute.setdefault(value.attribute_id, set()).add(value.pk)
        return cls(
            min_price=cleaned.get("min_price"),
            max_price=cleaned.get("max_price"),
            brands=tuple(sorted({b.pk for b in cleaned.get("brand") or []})),
            values=tuple((a, tuple(sorted(ids))) for a, ids in sorted(by_attribute.items())),
            in_stock=bool(cleaned.get("in_stock")),
        )

    @property
    def key(self) -> str:
        def cents(amount: Decimal | None) -> str:
            return "" if amount is None else f"{amount:.2f}"

        values = ";".join(f"{a}:{','.join(map(str, ids))}" for a, ids in self.values)
        brands = ",".join(map(str, self.brands))
        return f"p{cents(self.min_price)}-{cents(self.max_price)}|b{brands}|v{values}|s{int(self.in_stock)}"

    @property
    def selected_values(self) -> set[int]:
        return {pk for _attribute, ids in self.values for pk in ids}

    def conditions(self) -> dict[str, Q]:
        """Each chosen group's condition on a product row, by group ("price", "brand", "stock",
        "attr:<id>"). Attribute values are matched on the row's attr_ids copy on PostgreSQL
        (migration 0003), so the facet queries stay index-only scans of product_facets."""
        found: dict[str, Q] = {}
        price = Q()
        if self.min_price is not None:
            price &= Q(price__gte=self.min_price)
        if self.max_price is not None:
            price &= Q(price__lte=self.max_price)
        if price:
            found["price"] = price
        if self.brands:
            found["brand"] = Q(brand_id__in=self.brands)
        if self.in_stock:
            found["stock"] = Q(in_stock=True)
        for attribute, ids in self.values:
            found[f"attr:{attribute}"] = _has_any_value(ids)
        return found


def _has_any_value(ids: tuple[int, ...]) -> Q:
    """Products carrying at least one of these attribute values."""
    if connection.vendor == "postgresql":
        return Q(RawSQL('"catalog_product"."attr_ids" && %s::bigint[]', (list(ids),), output_field=BooleanField()))
    through = Product.attribute_values.through
    return Q(Exists(through.objects.filter(product_id=OuterRef("pk"), attributevalue_id__in=ids)))


def _all_but(conditions: dict[str, Q], group: str | None) -> Q | None:
    """Every chosen condition but `group`'s (None: nothing to filter by)."""
    combined = Q()
    for name, condition in conditions.items():
        if name != group:
            combined &= condition
    return combined or None


FACET_SECONDS = 60
FACET_BRANDS = 20


def facets_cached(
    base: QuerySet[Product],
    *,
    key: str,
    choice: FacetChoice | None = None,
    tags: Iterable[str] = (PRODUCTS,),
    taxonomy: Taxonomy | None = None,
) -> Facets:
    """Facets of a category or search under the chosen filters, computed at most once a minute
    per result set and choice.

    Counting brands and attribute values over tens of thousands of products is most of a
    listing's SQL; the counts need not be exact to the second, so they are kept in the page
    cache's store, tagged with what they count (`tags`: a category's subtree, or PRODUCTS for
    the whole catalogue), so a write to one of those products recounts them at once and
    other categories' counts stay. The key is the scope and the normalised choice
    (FacetChoice.key), hashed: one entry per choice actually made, each gone after
    FACET_SECONDS, whatever else the query string carries."""
    choice = choice or FacetChoice()
    cache_key = "facets:" + hashlib.blake2b(f"{key}#{choice.key}".encode(), digest_size=16).hexdigest()
    return fragment_cached(
        cache_key, lambda: facets_for(base, choice=choice, taxonomy=taxonomy), tags=tags, timeout=FACET_SECONDS
    )


@dataclass(frozen=True)
class FacetScope:
    """What a listing counts before any filter: a category subtree (its ids) or, with None, the
    whole catalogue; `search`: a search narrows it (its hits are found by the full-text index,
    so the count table cannot answer)."""

    category_ids: tuple[int, ...] | None = None
    search: bool = False
    # The category whose whole subtree category_ids are: its counts are the sums the database
    # keeps for it (catalog.facets.table_counts). Unset, the subtree's rows are summed.
    category_id: int | None = None
    # The listing view's own products (active ones, of the subtree, matching the search's
    # tsquery `raw`): their counting statements are compiled once per process and shape
    # (_Shaped), the words substituted. Left unset, every statement is compiled by the ORM.
    listing: bool = False
    raw: str | None = None


@dataclass(frozen=True)
class _Shaped:
    """Where a counting statement's SQL is kept (`key`: all that shapes it but the search's
    words) and the words to substitute (`raw`, a tsquery: always quoted, so no other string
    parameter of these statements equals it)."""

    key: tuple
    raw: str | None
    # Run as a statement PREPAREd on each connection (_shaped_execute): only for statements
    # whose plan does not depend on the words, and of which a process has few.
    prepared: bool = False

    def step(self, *name) -> "_Shaped":
        return _Shaped((*self.key, *name), self.raw)


_shaped_sql: dict[tuple, tuple[str, list, list[int]]] = {}
SHAPED_KEPT = 512  # statements kept per process (a few per listing shape actually served)


def _shaped_get(shape: "_Shaped | None") -> tuple[str, list] | None:
    """The kept SQL and parameters of a statement of this shape, with this request's words."""
    kept = _shaped_sql.get(shape.key) if shape is not None else None
    if kept is None:
        return None
    sql, params, positions = kept
    params = params.copy()
    for i in positions:
        params[i] = shape.raw
    return sql, params


def _shaped_keep(shape: "_Shaped | None", sql: str, params) -> None:
    if shape is None:
        return
    params = list(params)
    positions = [i for i, p in enumerate(params) if shape.raw is not None and isinstance(p, str) and p == shape.raw]
    with _shaped_lock:  # a threaded worker's requests share it
        if len(_shaped_sql) >= SHAPED_KEPT:
            _shaped_sql.pop(next(iter(_shaped_sql)), None)  # the oldest
        _shaped_sql[shape.key] = (sql, params, positions)


_prepared_counts: dict[str, catalog_facets.PreparedSQL] = {}


def _shaped_execute(cursor, shape: "_Shaped | None", sql: str, params, *, using: str) -> None:
    """Run a counting statement, PREPAREd once per connection when its shape says so: a broad
    search's sampled count is one plan whatever the words (a bitmap scan of its tier's
    partial full-text index, k written into the statement), yet PostgreSQL planned it on every
    request (0.4-0.7 ms on the 100,000-product seed, issue 12 part P10)."""
    if shape is None or not shape.prepared:
        cursor.execute(sql, params)
        return
    statement = _prepared_counts.get(sql)
    if statement is None:
        with _shaped_lock:  # a threaded worker's requests share it
            if len(_prepared_counts) >= SHAPED_KEPT:
                _prepared_counts.pop(next(iter(_prepared_counts)), None)  # the oldest
            statement = _prepared_counts.setdefault(sql, catalog_facets.PreparedSQL("shop_facet_sample", sql))
    statement.execute(cursor, using=using, params=list(params))


def facet_scoped(products: QuerySet[Product], scope: FacetScope) -> QuerySet[Product]:
    """`products` marked with their scope, for facets_for (PostgreSQL: unfiltered counts from
    the count table, bounded counts over huge result sets). Unmarked, facets_for counts every
    row exactly, as before."""
    scoped = products.then(lambda built: built) if isinstance(products, Deferred) else products.all()
    scoped.facet_scope = scope
    return scoped


@dataclass
class _Counts:
    """Raw facet counts before the brand and value rows are loaded (see facets_for)."""

    brands: dict[int, int] = field(default_factory=dict)  # under every filter but the brand's
    in_stock: int = 0
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    shown: int = 0  # under every filter
    scanned: int = 0  # the rows counted (the whole result set, or the part the filters need)
    values: dict[int, dict[int | None, int]] = field(
        default_factory=dict
    )  # value → {None: n, attribute: n}, see _counted_once
    estimated: bool = False
    # `brands` as sampled, each to be scaled by this factor: set by scaled() when the order of
    # the scaled counts is that of the sampled ones, so only the brands shown are scaled.
    brands_factor: float | None = None

    def added(self, other: "_Counts") -> "_Counts":
        """The counts of two disjoint sets of rows (unfiltered: a value's counts under None only)."""
        # Plain loops, no call per key: a search's sample has hundreds of brands.
        brands = self.brands.copy()
        for pk, n in other.brands.items():
            if pk in brands:
                brands[pk] += n
            else:
                brands[pk] = n
        values = {pk: per.copy() for pk, per in self.values.items()}
        for pk, per in other.values.items():
            if pk not in values:
                values[pk] = per.copy()
                continue
            mine = values[pk]
            for attribute, n in per.items():
                if attribute in mine:
                    mine[attribute] += n
                else:
                    mine[attribute] = n
        lows = [p for p in (self.price_min, other.price_min) if p is not None]
        highs = [p for p in (self.price_max, other.price_max) if p is not None]
        return _Counts(
            brands=brands,
            in_stock=self.in_stock + other.in_stock,
            price_min=min(lows) if lows else None,
            price_max=max(highs) if highs else None,
            shown=self.shown + other.shown,
            scanned=self.scanned + other.scanned,
            values=values,
        )

    def scaled(self, factor: float) -> "_Counts":
        # A factor of at least 2 keeps sampled counts that differ apart once scaled and rounded
        # (they differ by at least 2 before rounding): the biggest brands and their order are
        # found on the sampled counts, and only those shown (FACET_BRANDS of a broad search's
        # hundreds) are scaled, by _facets_built. Below 2, two could round to one count.
        lazy = factor >= 2
        # Inline rather than a helper per count: a broad search's sample has hundreds of brands.
        return _Counts(
            brands=dict(self.brands) if lazy else {pk: round(n * factor) for pk, n in self.brands.items()},
            brands_factor=factor if lazy else None,
            in_stock=round(self.in_stock * factor),
            price_min=self.price_min,
            price_max=self.price_max,
            shown=round(self.shown * factor),
            scanned=round(self.scanned * factor),
            values={pk: {a: round(n * factor) for a, n in per.items()} for pk, per in self.values.items()},
            estimated=True,
        )


def facets_for(
    base: QuerySet[Product], *, choice: FacetChoice | None = None, taxonomy: Taxonomy | None = None
) -> Facets:
    """Brand and attribute-value counts, the in-stock count, the price span and the totals of a
    result set under the chosen filters: each group counted with every other group's filters
    applied (see Facets). A fixed number of queries, however many filters are chosen.

    On PostgreSQL, for a result set marked with facet_scoped (the listings and searches):
    - a category or the whole catalogue without filters reads the counts the database keeps
      (catalog.facets, migration 0012): exact, and no product row is read;
    - with filters, only the products the filters leave (for each group, those under the
      other groups' filters) are counted, exactly while they are at most
      CATALOG_FACETS_EXACT_MAX (by the count table's bound, or a 1 % probe for a search);
    - above that, the counts are estimated from a sample of about CATALOG_FACETS_SAMPLE_ROWS
      of those rows (`sample < k`, k % of every value: each count scaled by 100 / k) and the
      facets say so (`estimated`: the page shows "about n"). The relative standard error of a
      count c estimated from a k % sample is sqrt((1 - k/100) / (c k/100)): at most about 3.7 %
      for the total of a listing's sample of at least 750 rows (±7.3 % at 95 %), 4.6 % for a
      search's of at least 450 (catalog.facets.search_tier), larger for small counts (a brand
      with 30 of the rows: about ±36 %). The price span placeholders come from the sample too.
    """
    choice = choice or FacetChoice()
    labels = taxonomy or taxonomy_current()  # the request's, when it has one
    conditions = choice.conditions()
    scope = getattr(base, "facet_scope", None)
    if scope is None or connection.vendor != "postgresql":
        counts = _counted(base, conditions)
        return _facets_built(counts, choice, labels, base_total=counts.scanned)
    shape = None
    if scope.listing and (scope.raw is not None or not scope.search):
        shape = _Shaped((base.db, scope.category_ids, scope.search, choice.key), scope.raw)
    if scope.search:
        # The hits come from the full-text index: count them all, or a sample of a broad word's.
        counts = _counted_bounded(base, conditions, bound=None, whole_catalogue=False, search=True, shape=shape)
        return _facets_built(counts, choice, labels, base_total=counts.scanned)
    table = catalog_facets.table_counts(
        category_ids=None if scope.category_ids is None else list(scope.category_ids),
        using=base.db,
        subtree_of=scope.category_id,
    )
    if not conditions:
        counts = _Counts(
            brands=table.brands,
            in_stock=table.stocked,
            price_min=table.price_min,
            price_max=table.price_max,
            shown=table.total,
            scanned=table.total,
            values={pk: {None: n} for pk, n in table.values.items()},
        )
        return _facets_built(counts, choice, labels, base_total=table.total)
    groups = list(conditions)
    if len(groups) == 1:
        # One group chosen: its own counts are the unfiltered ones (the table's); every other
        # count is within the chosen products, the only rows read.
        (group,) = groups
        wanted, bound = conditions[group], _bound(table, choice, {group})
    else:
        # Each group counts under the others' filters: read the products any of them leaves.
        wanted = Q()
        for group in groups:
            wanted |= _all_but(conditions, group)
        bound = sum(_bound(table, choice, set(groups) - {group}) for group in groups)
    counts = _counted_bounded(
        base.filter(wanted), conditions, bound=bound, whole_catalogue=scope.category_ids is None, shape=shape
    )
    own_values: dict[int, int] | None = None
    if len(groups) == 1:
        if group == "brand":
            counts.brands, counts.brands_factor = table.brands, None  # exact: not to be scaled
        elif group == "price":
            counts.price_min, counts.price_max = table.price_min, table.price_max
        elif group == "stock":
            counts.in_stock = table.stocked
        else:
            own_values = table.values
    return _facets_built(counts, choice, labels, base_total=table.total, own_values=own_values)


def _bound(table: catalog_facets.TableCounts, choice: FacetChoice, groups: set[str]) -> int:
    """At most how many products of the scope pass every filter of these groups, from the
    count table: the smallest of each group's own bound (a product with two chosen values of
    one attribute is counted twice, so it is a bound, not a count)."""
    bounds = [table.total]
    for attribute, ids in choice.values:
        if f"attr:{attribute}" in groups:
            bounds.append(sum(table.values.get(pk, 0) for pk in ids))
    if "brand" in groups:
        bounds.append(sum(table.brands.get(pk, 0) for pk in choice.brands))
    if "stock" in groups:
        bounds.append(table.stocked)
    return min(bounds)


def _counted_bounded(
    products: QuerySet[Product],
    conditions: dict[str, Q],
    *,
    bound: int | None,
    whole_catalogue: bool,
    search: bool = False,
    shape: _Shaped | None = None,
) -> _Counts:
    """_counted over `products`, exact while they are at most CATALOG_FACETS_EXACT_MAX, else
    estimated from a sample of about CATALOG_FACETS_SAMPLE_ROWS of them. `bound`: at most how
    many they are (None: unknown, the planner's estimate is taken). `whole_catalogue`: they
    are all products under some filter, read through the category-led indexes. `search`: they
    are a search's hits, sampled from one of the strata whose full-text index holds only them
    (catalog.facets.SEARCH_TIERS), not from a bitmap of every hit."""
    exact_max, target = settings.CATALOG_FACETS_EXACT_MAX, settings.CATALOG_FACETS_SAMPLE_ROWS
    if whole_catalogue:
        products = products.filter(catalog_facets.every_category())
    whole = shape and shape.step("whole")
    probe: _Counts | None = None
    probe_k = catalog_facets.SEARCH_TIERS[-1]
    if bound is None and search and shape is not None and not conditions:
        # A search's unfiltered hits: its smallest stratum counted first (one prepared
        # statement, _sampled_counted), which says about how many hits there are without the
        # planner's estimate (an EXPLAIN, planned on every request). At least 0.6 × the target
        # sampled hits (450 of 11,250 and more with the defaults): the smallest tier is the one
        # search_tier gives for them, so the estimate is that sample's, its relative standard
        # error within the stated one. Few enough to say the hits are at most half
        # CATALOG_FACETS_EXACT_MAX, where the stratum holds enough (30 or more) sampled hits
        # at that threshold for this to be sure (with the defaults 60 of an expected 120 and
        # more: about 1e-9 by chance): counted exactly. In between, the count's figure stands
        # for the planner's (closer than the planner's guess for a prefix): at most
        # CATALOG_FACETS_EXACT_MAX counted exactly, above it the tier search_tier gives, whose
        # sample is this count plus one of the tier's other strata (its rest, read by an
        # index of its own: no hit is read twice), then exact after all if that sample finds
        # few (issue 12, part P14). The tier may be a narrower one that only such a rest reads
        # (catalog.facets.NARROW_TIERS: 6 % where 10 % would read twice the hits needed, P18).
        probe = _sampled_counted(products, conditions, k=probe_k, shape=shape)
        rows = probe.scanned * 100 / probe_k
        tier = catalog_facets.search_tier(rows=rows, target=target, narrow=True)
        if tier == probe_k and rows > exact_max:
            return probe.scaled(100 / probe_k)
        if exact_max * probe_k >= 30 * 100 and rows <= exact_max / 2:
            return _counted(products, conditions, shape=whole)
        low = catalog_facets.SEARCH_TIER_RESTS.get(tier)
        if low == probe_k:
            if rows <= exact_max:
                return _counted(products, conditions, shape=whole)
            sample = probe.added(_sampled_counted(products, conditions, k=tier, low=low, shape=shape))
            if sample.scanned * 100 / tier <= exact_max:
                return _counted(products, conditions, shape=whole)  # few rows after all
            return sample.scaled(100 / tier)
    if bound is None:
        # The planner's estimate of the rows (a search's, from the full-text statistics): only
        # planned, not run. Wrong either way it costs time, never exactness: a set estimated
        # small is counted whole, and one estimated big but found small in the sample too.
        bound = _planned_rows(products, shape=shape and shape.step("planned"))
    if bound <= exact_max:
        return _counted(products, conditions, shape=whole)
    k = catalog_facets.search_tier(rows=bound, target=target) if search else -(-100 * target // bound)  # ceil
    if k >= 100:
        return _counted(products, conditions, shape=whole)
    if probe is not None and k == probe_k:
        sample = probe  # the same statement, already run
    else:
        sample = _sampled_counted(products, conditions, k=k, shape=shape, search=search)
    if sample.scanned * 100 / k <= exact_max:
        return _counted(products, conditions, shape=whole)  # the bound was loose: few rows after all
    return sample.scaled(100 / k)


def _sampled_counted(
    products: QuerySet[Product],
    conditions: dict[str, Q],
    *,
    k: int,
    shape: _Shaped | None,
    search: bool = True,
    low: int = 0,
) -> _Counts:
    """_counted over the sample stratum k of `products` (`low`: only its strata from low on)."""
    sampled = shape and (shape.step("k", k, low) if low else shape.step("k", k))
    if sampled is not None and search and not conditions:
        # A search's unfiltered sample: one statement per tier and category subtree, its plan
        # the same for every word; filters (any prices...) would make statements without end.
        sampled = _Shaped(sampled.key, sampled.raw, prepared=True)
    return _counted(products.filter(catalog_facets.sampled(k=k, low=low)), conditions, shape=sampled)


def _planned_rows(products: QuerySet[Product], *, shape: _Shaped | None = None) -> int:
    """How many rows PostgreSQL expects `products` to have (EXPLAIN, no execution). With a
    shape, the statement is compiled once per process and shape (the ORM's own EXPLAIN text)."""
    if shape is not None:
        kept = _shaped_get(shape)
        if kept is None:
            try:
                kept = products.order_by().values("pk").query.get_compiler(products.db).as_sql()
            except EmptyResultSet:
                return 0
            _shaped_keep(shape, *kept)
        sql, params = kept
        prefix = connections[products.db].ops.explain_query_prefix(format="json")
        with connections[products.db].cursor() as cursor:
            cursor.execute(f"{prefix} {sql}", params)
            plan = cursor.fetchone()[0]
        if isinstance(plan, str):
            plan = json.loads(plan)
        return int(plan[0]["Plan"]["Plan Rows"])
    try:
        output = products.order_by().values("pk").explain(format="json")
    except EmptyResultSet:
        return 0
    return int(json.loads(output)[0]["Plan"]["Plan Rows"]) if output else 0  # nothing: .none()


def _counted(products: QuerySet[Product], conditions: dict[str, Q], *, shape: _Shaped | None = None) -> _Counts:
    """Every row of `products` counted: per brand (which also gives the totals, the in-stock
    count and the price span) and per attribute value, each group under the others' filters,
    with FILTER clauses. One query on PostgreSQL (the rows are read once, see _counted_once),
    two elsewhere."""
    if connection.vendor == "postgresql":
        return _counted_once(products, conditions, shape=shape)
    counts = _Counts()
    not_brand, not_price, not_stock = (_all_but(conditions, g) for g in ("brand", "price", "stock"))
    everything = _all_but(conditions, None)
    stocked = Q(in_stock=True) if not_stock is None else not_stock & Q(in_stock=True)
    aggregates = {
        "n": Count("id", filter=not_brand),
        "stocked": Count("id", filter=stocked),
        "low": Min("price", filter=not_price),
        "high": Max("price", filter=not_price),
        "shown": Count("id", filter=everything),
        "all": Count("id"),
    }
    per_brand = list(products.order_by().values_list("brand_id").annotate(**aggregates))
    if per_brand:
        counts.shown = sum(row[5] for row in per_brand)
        counts.scanned = sum(row[6] for row in per_brand)
        counts.in_stock = sum(row[2] for row in per_brand)
        lows = [row[3] for row in per_brand if row[3] is not None]
        highs = [row[4] for row in per_brand if row[4] is not None]
        counts.price_min = min(lows) if lows else None
        counts.price_max = max(highs) if highs else None
        counts.brands = {row[0]: row[1] for row in per_brand if row[1]}
    counts.values = _attribute_value_counts_portable(products, conditions)
    return counts


def _counted_once(products: QuerySet[Product], conditions: dict[str, Q], *, shape: _Shaped | None = None) -> _Counts:
    """_counted on PostgreSQL in one query: the rows (brand, price, stock, the attr_ids copy of
    migration 0003, and a flag per chosen group's condition) are read once into a materialised
    CTE, then grouped per brand and per unnested attribute value. A search's rows come from
    the full-text index and the table, so reading them once instead of twice halves its cost.
    The values are unnested in the select list (a ProjectSet), several times cheaper than a
    lateral unnest() per row."""
    counts = _Counts()
    flags = {name: f"f_{i}" for i, name in enumerate(conditions)}
    kept = _shaped_get(shape)  # the whole statement, kept below: compiled once per shape
    if kept is not None:
        with connections[products.db].cursor() as cursor:
            _shaped_execute(cursor, shape, *kept, using=products.db)
            return _counts_read(counts, cursor.fetchall(), conditions)
    rows = products.order_by().annotate(value_ids=RawSQL('"catalog_product"."attr_ids"', ()))
    if flags:
        rows = rows.annotate(
            **{alias: ExpressionWrapper(conditions[name], output_field=BooleanField()) for name, alias in flags.items()}
        )
    chosen = rows.values("brand_id", "price", "in_stock", "value_ids", *flags.values())
    try:
        sql, params = chosen.query.get_compiler(products.db).as_sql()  # the database a router chose
    except EmptyResultSet:  # e.g. .none() for a query with no searchable word
        return counts

    def under(excluded: set[str], *extra: str) -> str:
        kept = [alias for name, alias in flags.items() if name not in excluded] + list(extra)
        return f"FILTER (WHERE {' AND '.join(kept)})" if kept else ""

    attributes = [name for name in conditions if name.startswith("attr:")]
    # A row per brand (its count under the other groups' filters), per attribute value (its
    # counts, see _counted_once's caller) and one for the totals and the price span, in plain
    # columns padded with NULLs to one width: the totals and the span are aggregated once over
    # the rows, not per brand and summed in Python (Decimals for every brand's prices).
    per_value = [f"count(*) {under(set())}", *(f"count(*) {under({name})}" for name in attributes)]
    totals = [f"count(*) {under({'stock'}, 'in_stock')}", f"count(*) {under(set())}", "count(*)"]
    width = max(len(per_value), len(totals))

    def padded(columns: list[str], low: str = "NULL", high: str = "NULL") -> str:
        return ", ".join([*columns, *["NULL"] * (width - len(columns)), low, high])

    brand_count = f"count(*) {under({'brand'})}"
    # The inner SQL is the ORM's, with its parameters passed separately; the rest is ours.
    sql = f"""WITH chosen AS MATERIALIZED ({sql})
            SELECT 't', NULL, {padded(totals, f"min(price) {under({'price'})}", f"max(price) {under({'price'})}")}
              FROM chosen
            UNION ALL
            SELECT 'b', brand_id, {padded([brand_count])} FROM chosen GROUP BY brand_id HAVING {brand_count} > 0
            UNION ALL
            SELECT 'v', value_id, {padded(per_value)}
              FROM (SELECT unnest(value_ids) AS value_id{"".join(", " + a for a in flags.values())} FROM chosen)
                AS unnested GROUP BY value_id"""  # noqa: S608
    _shaped_keep(shape, sql, params)
    with connections[products.db].cursor() as cursor:
        _shaped_execute(cursor, shape, sql, params, using=products.db)
        return _counts_read(counts, cursor.fetchall(), conditions)


def _counts_read(counts: _Counts, rows: list[tuple], conditions: dict[str, Q]) -> _Counts:
    """_counted_once's rows into `counts`."""
    keys = [None, *(int(name.removeprefix("attr:")) for name in conditions if name.startswith("attr:"))]
    for row in rows:
        if row[0] == "v":
            counts.values[row[1]] = dict(zip(keys, row[2 : 2 + len(keys)], strict=True))
        elif row[0] == "b":
            counts.brands[row[1]] = row[2]
        else:
            counts.in_stock, counts.shown, counts.scanned = row[2:5]
            counts.price_min, counts.price_max = row[-2:]
    return counts


def _facets_built(
    counts: _Counts,
    choice: FacetChoice,
    taxonomy: Taxonomy,
    *,
    base_total: int,
    own_values: dict[int, int] | None = None,
) -> Facets:
    """Facets from raw counts: the biggest brands and the filterable values, with their labels
    from the taxonomy (no query). `own_values`: with one attribute chosen, the unfiltered counts
    its own values are shown with."""
    facets = Facets(
        price_min=counts.price_min,
        price_max=counts.price_max,
        in_stock=counts.in_stock,
        total=counts.shown,
        base_total=base_total,
        estimated=counts.estimated,
    )
    brand_counts = {pk: n for pk, n in counts.brands.items() if n}
    # The brands with most products; a long tail of checkboxes helps nobody and costs most of
    # the page's rendering time.
    # Compared as (-count, id) tuples, no key function called per brand (a broad search has hundreds).
    top = [pk for _n, pk in heapq.nsmallest(FACET_BRANDS, [(-n, pk) for pk, n in brand_counts.items()])]
    if counts.brands_factor is not None:  # sampled counts, in the order of their scaled ones
        factor = counts.brands_factor
        brand_counts.update({pk: round(brand_counts[pk] * factor) for pk in top})
    found = set(counts.values) | set(own_values or ())
    brands, values = taxonomy.labels(brand_ids=top, value_ids=found)
    if brand_counts:
        facets.brands_hidden = len(brand_counts) - len(top)
        facets.brands = [{"brand": brand, "count": brand_counts[brand.pk]} for brand in brands]
    if found:
        selected = choice.selected_values
        chosen_attributes = {attribute for attribute, _ids in choice.values}
        by_attribute: dict[int, dict] = {}
        for value in values:
            # A value counts under every filter but its own attribute's (None: all of them).
            per = counts.values.get(value.pk, {})
            if own_values is not None and value.attribute_id in chosen_attributes:
                n = own_values.get(value.pk, 0)
            else:
                n = per.get(value.attribute_id, per.get(None, 0))
            if not n and value.pk not in selected:  # nothing to show; a chosen one stays, to be unticked
                continue
            entry = by_attribute.setdefault(value.attribute_id, {"attribute": value.attribute, "values": []})
            entry["values"].append({"value": value, "count": n})
        facets.attributes = sorted(by_attribute.values(), key=lambda e: (e["attribute"].position, e["attribute"].code))
    return facets


def _attribute_value_counts_portable(
    base: QuerySet[Product], conditions: dict[str, Q]
) -> dict[int, dict[int | None, int]]:
    """The same through the through table, for the embedded SQLite default: a query per chosen
    attribute, which a first look at the shop can afford."""
    through = Product.attribute_values.through

    def count(condition: Q | None) -> dict[int, int]:
        products = base.filter(condition) if condition is not None else base
        rows = (
            through.objects.filter(product__in=products.order_by().values("pk"))
            .values_list("attributevalue_id")
            .annotate(n=Count("product_id"))
        )
        return dict(rows)

    found = {pk: {None: 0} for pk in count(None)}
    for pk, n in count(_all_but(conditions, None)).items():
        found[pk][None] = n
    for name in conditions:
        if name.startswith("attr:"):
            attribute = int(name.removeprefix("attr:"))
            for pk in found:
                found[pk][attribute] = 0
            for pk, n in count(_all_but(conditions, name)).items():
                found[pk][attribute] = n
    return found


class CappedPaginator(Paginator):
    """Counts at most `cap` rows: an exact COUNT(*) over 100,000 products on every page view
    costs more than the page itself, and nobody pages past the first few hundred."""

    def __init__(self, *args, cap: int, known_count: int | None = None, estimated: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cap = cap
        self.known_count = known_count
        self.estimated = estimated and known_count is not None  # shown as "about n"

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


@dataclass
class LiveVariant:
    """What a product page must show as it is now: the price, and stock from the warehouses."""

    id: int
    price: Decimal
    compare_at_price: Decimal | None
    status: StockStatus


@dataclass
class ProductLive:
    id: int
    updated_at: datetime
    category_id: int
    price: Decimal
    compare_at_price: Decimal | None
    variants: list[LiveVariant]
    # Reviews change these without touching updated_at: read live for the structured data.
    rating: Decimal = Decimal(0)
    rating_count: int = 0


def _product_live_queryset(slug: str) -> QuerySet:
    return (
        active_products()
        .filter(slug=slug)
        .alias(live=FilteredRelation("variants", condition=Q(variants__is_active=True)))
        .values_list(
            "pk",
            "updated_at",
            "category_id",
            "price",
            "compare_at_price",
            "live__pk",
            "live__price",
            "live__compare_at_price",
            "live__low_stock_threshold",
            "rating",
            "rating_count",
        )
        .annotate(available=Coalesce(Sum(F("live__stocks__on_hand") - F("live__stocks__reserved")), 0))
        .order_by("live__position", "live__pk")
    )


# Built and compiled once per process, prepared once per connection: building the queryset cost
# about 1 ms of Python a request and planning it more PostgreSQL time than running it.
_PRODUCT_LIVE = CompiledRead("shop_product_live", _product_live_queryset)


def product_live(*, slug: str) -> ProductLive:
    """The live figures of a product page in one query: the product's price and, for each
    active variant in display order, its price and stock status (available units summed over
    warehouses). Everything else on the page may come from a cache keyed by `updated_at`.
    Raises Product.DoesNotExist."""
    rows = _PRODUCT_LIVE.rows(slug, using=router.db_for_read(Product))
    if not rows:
        raise Product.DoesNotExist(slug)
    pk, updated_at, category_id, price, compare_at_price = rows[0][:5]
    variants = [
        LiveVariant(id=row[5], price=row[6], compare_at_price=row[7], status=stock_status(row[11], row[8]))
        for row in rows
        if row[5] is not None
    ]
    return ProductLive(pk, updated_at, category_id, price, compare_at_price, variants, *rows[0][9:11])


def product_static(*, product_id: int) -> tuple[Product, list[ProductVariant], list[ProductImage]]:
    """What a product page shows that only staff edits change (names, text, options, images),
    for rendering once and caching. Variants come with their options and attributes."""
    product = Product.objects.select_related("brand", "category").defer("search_vector").get(pk=product_id)
    variants = list(
        product.variants.filter(is_active=True).prefetch_related(
            Prefetch("options", queryset=AttributeValue.objects.select_related("attribute"))
        )
    )
    images = list(ProductImage.objects.filter(product_id=product_id).order_by("position", "pk"))
    return product, variants, images


def variant_option_axes(product: Product, variants: list[ProductVariant] | None = None) -> list[dict]:
    """The option axes of a product (colour, size...) with their values in display order."""
    axes: dict[int, dict] = {}
    for variant in product.variants.all() if variants is None else variants:
        for value in variant.options.all():
            axis = axes.setdefault(value.attribute_id, {"attribute": value.attribute, "values": {}})
            axis["values"].setdefault(value.pk, value)
    result = []
    for axis in sorted(axes.values(), key=lambda a: (a["attribute"].position, a["attribute"].code)):
        values = sorted(axis["values"].values(), key=lambda v: (v.position, v.value))
        result.append({"attribute": axis["attribute"], "values": values})
    return result


def category_best_sellers(*, category_id: int, size: int) -> list[Product]:
    return list(
        active_products().filter(category_id=category_id).only(*CARD_FIELDS).order_by("-sales_count", "-id")[:size]
    )


def breadcrumbs(category: Category) -> list[Category]:
    """The category's ancestors and itself, root first (kept for a minute)."""
    return _memo(f"crumbs:{category.pk}", lambda: [*category.get_ancestors(), category])


def filterable_attributes() -> QuerySet[Attribute]:
    return Attribute.objects.filter(is_filter=True)


# -- staff --------------------------------------------------------------------------------------

# The role whose members read only their own departments' products, order lines and statements
# (the group is kept by catalog.services.catalog_groups_ensure).
DEPARTMENT_STAFF_GROUP = "Department staff"


def staff_department_ids(user) -> set[int] | None:
    """The departments a member of department staff may see (Department.staff), or None when
    `user` is not held to departments (a superuser, or staff of any other role). A member with
    no department assigned gets an empty set: nothing. Remembered on the user object, so one
    query per request."""
    if getattr(user, "is_superuser", False) or not getattr(user, "is_authenticated", False):
        return None
    if not hasattr(user, "_staff_department_ids"):
        if user.groups.filter(name=DEPARTMENT_STAFF_GROUP).exists():
            user._staff_department_ids = set(user.staff_departments.values_list("pk", flat=True))
        else:
            user._staff_department_ids = None
    return user._staff_department_ids


# -- favourites, recently viewed, recommendations ---------------------------------------------

RECENTLY_VIEWED = "viewed"  # the name of the customers' recently viewed lists (shop.core.recent)
RECENTLY_VIEWED_SIZE = 20


def recently_viewed_merge(latest: list[int], saved: list[int]) -> list[int]:
    """The cache's list first, then the database's copy where the cache lost older views (an
    eviction, a restart of the embedded default's local memory), without repeats, capped."""
    return list(dict.fromkeys([*latest, *saved]))[:RECENTLY_VIEWED_SIZE]


def is_favourite(*, customer_id: int, product_id: int) -> bool:
    return Favourite.objects.filter(customer_id=customer_id, product_id=product_id).exists()


def favourites_of(*, customer_id: int) -> QuerySet[Product]:
    """A customer's favourite products as cards, the latest kept first (hidden ones left out)."""
    return (
        active_products()
        .filter(favourited_by__customer_id=customer_id)
        .only(*CARD_FIELDS)
        .order_by("-favourited_by__created_at", "-favourited_by__id")
    )


def _cards_in_order(ids: list[int]) -> list[Product]:
    """Active products as cards, in the order of `ids` (one query)."""
    by_id = active_products().only(*CARD_FIELDS).in_bulk(ids)
    return [by_id[pk] for pk in ids if pk in by_id]


def recently_viewed(*, customer_id: int) -> list[Product]:
    """The products a customer viewed lately, the latest first: the list the product pages keep
    in the cache, completed from its database copy (two queries)."""
    saved = ProductView.objects.filter(customer_id=customer_id).order_by("position").values_list("product", flat=True)
    ids = recently_viewed_merge(recent_get(RECENTLY_VIEWED, customer_id) or [], list(saved))
    return _cards_in_order(ids) if ids else []


def bought_together(*, product_id: int, size: int) -> list[Product]:
    """The products most often paid for in the same orders as this one (the recommendations
    task's list), as cards: one query."""
    return list(
        active_products()
        .filter(bought_with__product_id=product_id)
        .only(*CARD_FIELDS)
        .order_by("bought_with__position")[:size]
    )


def bought_together_with_any(*, product_ids: list[int], size: int) -> list[Product]:
    """What is most often bought with any of these products (a cart's), none of them: the
    lists merged by how many orders back each product. One query."""
    if not product_ids:
        return []
    return list(
        active_products()
        .filter(bought_with__product_id__in=product_ids)
        .exclude(pk__in=product_ids)
        .only(*CARD_FIELDS)
        .annotate(together=Sum("bought_with__orders"))
        .order_by("-together", "-sales_count", "-id")[:size]
    )


def for_you(*, customer_id: int, size: int) -> list[Product]:
    """The products the recommendations task picked for a customer, best first: one query.
    Empty for a customer without history (the page shows best sellers instead)."""
    return list(
        active_products()
        .filter(recommended_to__customer_id=customer_id)
        .only(*CARD_FIELDS)
        .order_by("recommended_to__position")[:size]
    )


def stock_alerts_open(*, customer, limit: int = 50) -> list[StockAlert]:
    """A customer's open "tell me when it is back" alerts, newest first, with the product and
    the variant's options (two queries; one when there are none)."""
    return list(
        StockAlert.objects.filter(customer=customer, notified_at__isnull=True)
        .select_related("variant__product")
        .prefetch_related(Prefetch("variant__options", queryset=AttributeValue.objects.select_related("attribute")))
        .order_by("-created_at", "-pk")[:limit]
    )
