"""A search of a few thousand hits with nothing cached (issue 12, part P14): its 4 % stratum's
count (part P10) picks the tier instead of the planner's estimate (an EXPLAIN), and the tier's
estimate is that count plus the tier's other strata (4 <= sample < k), read by a partial
full-text index of their own (migration 0016): the same counts as the whole tier's, two
statements instead of three, no hit read twice."""

from decimal import Decimal

import pytest
from django.db import connection
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from catalog import selectors
from catalog.models import Product
from tests.catalog.test_p10_search_count import sampled_counts, search, shirts

pytestmark = pytest.mark.django_db


def prices(k: int) -> tuple[Decimal, Decimal]:
    sampled = list(Product.objects.extra(where=[f"sample < {k}"]).values_list("price", flat=True))  # noqa: S610
    return min(sampled), max(sampled)


@pytest.mark.parametrize("tier", [10, 25])
@pytest.mark.django_db(transaction=True)
def test_a_mid_sized_search_is_its_first_count_plus_its_tiers_rest(client, settings, monkeypatch, tier):
    settings.PAGE_CACHE_ENABLED = False
    settings.CATALOG_FACETS_EXACT_MAX = 10
    monkeypatch.setattr(selectors, "_planned_rows", lambda *a, **k: pytest.fail("the planner was asked"))
    shirts(300)
    rows = sampled_counts(4)[0] * 25
    # The target that makes catalog.facets.search_tier pick this tier for the 4 % count's figure
    # (for 10 %: above a tenth of the rows, where the narrower 6 % tier gives too few, part P18).
    settings.CATALOG_FACETS_SAMPLE_ROWS = -(-rows * tier // 150) if tier == 25 else rows // 10 + 1
    total, stocked, brands = sampled_counts(tier)
    assert sampled_counts(4)[0] < total < 300

    search(client)  # per-process and per-connection: the taxonomy, the statements prepared
    for _ in range(7):  # the first executions and the generic plan PostgreSQL keeps after five
        facets, statements = search(client)
        factor = 100 // tier
        assert facets.estimated
        assert facets.total == facets.base_total == total * factor
        assert facets.in_stock == stocked * factor
        assert {e["brand"].pk: e["count"] for e in facets.brands} == {pk: n * factor for pk, n in brands.items()}
        assert (facets.price_min, facets.price_max) == prices(tier)
        # The taxonomy's generation, the 4 % count, the tier's rest, the page's products.
        assert len(statements) == 4, statements
        assert statements[1].startswith("EXECUTE shop_facet_sample_")
        assert statements[2].startswith("EXECUTE shop_facet_sample_")
        assert not any(sql.startswith("EXPLAIN") for sql in statements)
    rest = f'"catalog_product"."sample" >= 4::smallint AND "catalog_product"."sample" < {tier}::smallint'
    assert sum(rest in sql for sql in selectors._prepared_counts) == 1


@pytest.mark.parametrize("tier", [10, 25])
def test_a_tiers_rest_has_a_full_text_index_of_its_own(tier):
    # Its use at 100,000 products: docs/benchmark.md, issue 12's eighth session (P14); a test
    # database's few rows are planned otherwise.
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [f"product_search_4_{tier}"])
        (definition,) = cursor.fetchone()
    assert "USING gin (search_vector)" in definition
    assert f"(sample >= 4) AND (sample < {tier})" in definition, definition
    assert "is_active" in definition


def test_a_first_count_under_the_exact_threshold_is_counted_exactly(client, settings, monkeypatch):
    settings.PAGE_CACHE_ENABLED = False
    monkeypatch.setattr(selectors, "_planned_rows", lambda *a, **k: pytest.fail("the planner was asked"))
    shirts(300)
    rows = sampled_counts(4)[0] * 25
    # Above half the threshold (not settled by the 4 % count alone), at most the threshold.
    settings.CATALOG_FACETS_EXACT_MAX = rows + 1
    settings.CATALOG_FACETS_SAMPLE_ROWS = -(-rows * 25 // 150)
    search(client)
    facets, statements = search(client)
    assert not facets.estimated and facets.total == 300 and facets.in_stock == 150
    assert len(statements) == 4, statements  # the generation, the 4 % count, the exact count, the products
    assert "sample" not in statements[2].split("SELECT 't'")[0]


_counts = st.builds(
    selectors._Counts,
    brands=st.dictionaries(st.integers(1, 30), st.integers(1, 50), max_size=30),
    in_stock=st.integers(0, 100),
    price_min=st.none() | st.integers(100, 50_000).map(lambda cents: Decimal(cents) / 100),
    price_max=st.none() | st.integers(50_000, 99_900).map(lambda cents: Decimal(cents) / 100),
    shown=st.integers(0, 100),
    scanned=st.integers(0, 100),
    values=st.dictionaries(st.integers(1, 30), st.fixed_dictionaries({None: st.integers(1, 50)}), max_size=30),
)


# A loaded machine draws slowly: no deadline, no health check on time.
@hypothesis_settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=_counts, rest=_counts)
def test_counts_added_are_those_of_both_sets_of_rows(first, rest):
    both = first.added(rest)
    for pk in set(first.brands) | set(rest.brands):
        assert both.brands[pk] == first.brands.get(pk, 0) + rest.brands.get(pk, 0)
    assert set(both.brands) == set(first.brands) | set(rest.brands)
    for pk in set(first.values) | set(rest.values):
        assert both.values[pk][None] == first.values.get(pk, {None: 0})[None] + rest.values.get(pk, {None: 0})[None]
    assert set(both.values) == set(first.values) | set(rest.values)
    assert (both.in_stock, both.shown, both.scanned) == (
        first.in_stock + rest.in_stock,
        first.shown + rest.shown,
        first.scanned + rest.scanned,
    )
    lows = [p for p in (first.price_min, rest.price_min) if p is not None]
    highs = [p for p in (first.price_max, rest.price_max) if p is not None]
    assert both.price_min == (min(lows) if lows else None) and both.price_max == (max(highs) if highs else None)
    assert not both.estimated and both.brands_factor is None
    assert first.brands == first.added(selectors._Counts()).brands  # nothing added: the same
