"""Facet counts the database keeps, and the sample that bounds a count over a huge result set
(PostgreSQL only; migration 0012 creates both).

`catalog_facet_count` holds the unfiltered counts of every category a product is filed in
(category 0: the whole catalogue), kept by statement-level triggers: a category page sums its
subtree's rows instead of reading its products; `catalog_facet_rollup` (migration 0015) keeps
those sums per category, so a category page reads one category's rows. `catalog_product.sample` (0..99, a hash of the
id) picks a fixed 1 % of the products per value: counting the rows with `sample < k` and
scaling by 100 / k estimates a count over a result set too large to count on every miss.
catalog.selectors.facets_for decides which to use; this module only reads.
"""

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connections
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL
from django.db.utils import ProgrammingError

from shop.core.prepared import DUPLICATE_PREPARED_STATEMENT, CompiledRead

WHOLE_CATALOGUE = 0  # the category id of the rows that count every product once


class PreparedSQL(CompiledRead):
    """A fixed statement of ours (its values all parameters), PREPAREd once per connection as
    CompiledRead does for a queryset: the listing pages' own statements were planned on every
    request, for about as long as they ran (docs/benchmark.md, "Issue 12, second session")."""

    def __init__(self, name: str, sql: str) -> None:
        super().__init__(name, build=None)
        self.sql = sql
        self.statement = f"{name}_{hashlib.blake2b(sql.encode(), digest_size=6).hexdigest()}"

    def execute(self, cursor, *, using: str, params: list) -> None:
        connection = connections[using]
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            self._execute_prepared(connection, cursor, self.sql, self.statement, params)
        else:
            cursor.execute(self.sql, params)

    def _execute_prepared(self, connection, cursor, sql: str, statement: str, params: list) -> None:
        if params:
            super()._execute_prepared(connection, cursor, sql, statement, params)
            return
        # Without parameters: EXECUTE takes no parentheses then.
        raw = connection.connection
        if raw in self._prepared:
            try:
                cursor.execute(f"EXECUTE {statement}")
                return
            except ProgrammingError:  # the session forgot it: prepare it again (CompiledRead)
                self._prepared.discard(raw)
        try:
            cursor.execute(f"PREPARE {statement} AS {sql}")
        except ProgrammingError as exc:
            if getattr(exc.__cause__, "sqlstate", None) != DUPLICATE_PREPARED_STATEMENT:
                raise
        self._prepared.add(raw)
        cursor.execute(f"EXECUTE {statement}")


@dataclass
class TableCounts:
    """The unfiltered counts of a scope, summed over its categories."""

    total: int = 0
    stocked: int = 0
    brands: dict[int, int] = field(default_factory=dict)  # brand id → active products
    values: dict[int, int] = field(default_factory=dict)  # attribute value id → active products
    price_min: Decimal | None = None
    price_max: Decimal | None = None


# A row per kind of count, its keys and counts as arrays of bigint (hundreds of brand and value
# rows, each a tuple to build in Python, cost more than the query did), and one row for the
# price span.
_TABLE_SQL = """
    WITH counted AS (
      SELECT kind, key, sum(n)::bigint AS n, sum(stocked)::bigint AS stocked FROM catalog_facet_count
       WHERE category_id = ANY({scope}) GROUP BY kind, key HAVING sum(n) > 0
    )
    SELECT kind, array_agg(key), array_agg(n), array_agg(stocked), NULL::numeric, NULL::numeric
      FROM counted GROUP BY kind
    UNION ALL
    SELECT 'p', NULL, NULL, NULL, min(span.low), max(span.high)
      FROM unnest({categories}) AS c(id),
           LATERAL (SELECT min(price) AS low, max(price) AS high FROM catalog_product p
                     WHERE p.is_active AND p.category_id = c.id) AS span
"""
# A category's whole subtree: the sums the database keeps per category (migration 0015), or
# the whole catalogue's own rows (category 0): one row per key either way, read by one id in
# key order, none summed; only the price span probes each category.
_TABLE_ONE_SQL = """
    SELECT kind, array_agg(key), array_agg(n::bigint), array_agg(stocked::bigint), NULL::numeric, NULL::numeric
      FROM {table} WHERE category_id = {scope} AND n > 0 GROUP BY kind
    UNION ALL
    SELECT 'p', NULL, NULL, NULL, min(span.low), max(span.high)
      FROM unnest({categories}) AS c(id),
           LATERAL (SELECT min(price) AS low, max(price) AS high FROM catalog_product p
                     WHERE p.is_active AND p.category_id = c.id) AS span
"""
# The whole catalogue's statement has no parameter, so its one plan is kept.
_TABLE_WHOLE = PreparedSQL(
    "shop_facet_table_all",
    _TABLE_ONE_SQL.format(
        table="catalog_facet_count",
        scope=WHOLE_CATALOGUE,
        categories="(SELECT array_agg(id) FROM catalog_category)",
    ),
)
# Any set of categories: their rows summed (planned for its categories on each run).
_TABLE_SUBTREE = PreparedSQL("shop_facet_table", _TABLE_SQL.format(scope="%s::bigint[]", categories="%s::bigint[]"))
_TABLE_ROLLUP = PreparedSQL(
    "shop_facet_rollup",
    _TABLE_ONE_SQL.format(table="catalog_facet_rollup", scope="%s::bigint", categories="%s::bigint[]"),
)


def table_counts(*, category_ids: list[int] | None, using: str, subtree_of: int | None = None) -> TableCounts:
    """The counts of a category subtree (its ids) or, with None, of the whole catalogue, and
    its price span: one query. `subtree_of`: the category whose whole subtree `category_ids`
    are (all of it, as the database's paths say), read from its kept sums instead of summing
    each category's rows. The span is not kept by the triggers (a delete of the cheapest
    product would need a rescan) but read as two probes per category of the (category, price)
    index product_cat_price, exact and as cheap."""
    if category_ids is None:
        statement, params = _TABLE_WHOLE, []
    elif subtree_of is not None:
        statement, params = _TABLE_ROLLUP, [subtree_of, list(category_ids)]
    else:
        statement, params = _TABLE_SUBTREE, [list(category_ids), list(category_ids)]
    counts = TableCounts()
    with connections[using].cursor() as cursor:
        statement.execute(cursor, using=using, params=params)
        for kind, keys, n, stocked, low, high in cursor.fetchall():
            if kind == "b":
                counts.brands = dict(zip(keys, n, strict=True))
            elif kind == "v":
                counts.values = dict(zip(keys, n, strict=True))
            elif kind == "s":
                counts.total, counts.stocked = n[0], stocked[0]
            elif kind == "p":
                counts.price_min, counts.price_max = low, high
    return counts


def every_category() -> Q:
    """All products, said so that an index led by the category can be read: the category ids
    as an array (one range per category of product_facets, or of product_cat_price under a
    price filter) instead of a scan of the whole table."""
    return Q(
        RawSQL(
            '"catalog_product"."category_id" = ANY((SELECT array_agg(id) FROM catalog_category)::bigint[])',
            (),
            output_field=BooleanField(),
        )
    )


# The sample strata a search is estimated from, largest first: each has a partial copy of the
# full-text index holding only its products (migration 0013, product_search_<tier>), so a
# search reads its sampled hits without building a bitmap of all of them.
SEARCH_TIERS = (25, 10, 4)
# A search counts the smallest tier first (catalog.selectors._counted_bounded); a larger tier's
# estimate adds the hits of its other strata, 4 <= sample < k, each tier's rest with a partial
# full-text index of its own (migration 0016, product_search_4_<k>): the hits the first count
# read are not read again (issue 12, part P14).
SEARCH_TIER_RESTS = {25: 4, 10: 4, 6: 4, 5: 4}
# Narrower tiers, read only as a rest after the 4 % count (an unfiltered search: search_tier
# with narrow=True), smallest first: where the 10 % tier would read up to 1.5 × the target's
# sampled hits, a 6 % one still reads at least 0.6 × the target (the 450 hits of the stated
# 4.6 % error), from 7,500 to 11,250 hits with the defaults: its rest (4 <= sample < 6,
# migration 0017) reads about a third of the 10 % tier's rest (issue 12, part P18). From 9,000
# to 11,250 hits a 5 % one does (its rest the one stratum sample = 4, migration 0018): half the
# 6 % tier's rest, for the same stated error (part P28: the mid-sized search 经典, 10,060 hits).
NARROW_TIERS = (5, 6)


def search_tier(*, rows: int, target: int, narrow: bool = False) -> int:
    """The stratum (k %) a search of about `rows` hits is estimated from: the largest tier that
    gives at most 1.5 × `target` sampled hits, else the smallest. With the defaults (750) a
    search of 3,000 to 4,500 hits reads 25 % of them, up to 11,250 hits 10 %, beyond that 4 %:
    between about 450 and 1,125 rows (above CATALOG_FACETS_EXACT_MAX's 3,000) up to 28,000 hits
    (4,000 for 100,000), so the estimated total's relative standard error is at most about
    4.6 % (catalog.selectors.facets_for). `narrow`: also the NARROW_TIERS, the smallest that
    still gives at least 0.6 × `target` sampled hits (its relative standard error within the
    same 4.6 %), for an estimate that reads them as a rest after the 4 % count."""
    for tier in SEARCH_TIERS:
        if rows * tier <= 150 * target:
            break
    else:
        return SEARCH_TIERS[-1]
    if narrow:
        for smaller in NARROW_TIERS:
            if smaller < tier and rows * smaller >= 60 * target:
                return smaller
    return tier


def sampled(*, k: int, low: int = 0) -> Q:
    """Products in the first k of the 100 sample strata (k %): for a search, k is one of
    SEARCH_TIERS and the planner reads that tier's full-text index; for a listing, the second
    column of product_facets (compared as a smallint, as indexed). k is written into the
    statement (an int, never a request's text), not passed as a parameter: a statement
    prepared with it (catalog.selectors, a broad search's sampled count) keeps one generic plan
    on that tier's partial index, which a parameter could not prove it may use. Bound client
    side, as Django does, PostgreSQL received the same text before. `low`: only the strata from
    it on (a tier's rest, SEARCH_TIER_RESTS), written in the same way."""
    sql = f'"catalog_product"."sample" < {int(k)}::smallint'
    if low:
        sql = f'"catalog_product"."sample" >= {int(low)}::smallint AND {sql}'
    return Q(RawSQL(sql, (), output_field=BooleanField()))  # noqa: S611 (ints)
