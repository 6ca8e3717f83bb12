"""A search of 7,500 to 11,250 hits with nothing cached (issue 12, part P18): after its 4 %
stratum's count it is estimated from a 6 % stratum instead of the 10 % one, the 6 % tier's rest
(4 <= sample < 6) read by a partial full-text index of its own (migration 0017): at least 450
sampled hits, the stated 4.6 % error, from about a third of the rows the 10 % tier's rest read
(the mid-sized search 经典, 10,060 hits at 100,000 products)."""

import math

import pytest
from django.db import connection

from catalog import facets as catalog_facets
from catalog import selectors
from tests.catalog.test_p10_search_count import sampled_counts, search, shirts
from tests.catalog.test_p14_search_tiers import prices


@pytest.mark.parametrize(
    ("hits", "tier", "narrow_tier"),
    [
        (3_001, 25, 25),
        (4_500, 25, 25),
        (4_501, 10, 10),
        (7_499, 10, 10),
        (7_500, 10, 6),
        (8_999, 10, 6),
        (10_060, 10, 5),  # the 5 % tier from 9,000 hits on (part P28, test_p28_tier_rest_5)
        (11_250, 10, 5),
        (11_251, 4, 4),
        (28_000, 4, 4),
    ],
)
def test_the_narrow_tier_only_where_it_gives_the_hits_the_stated_error_needs(hits, tier, narrow_tier):
    assert catalog_facets.search_tier(rows=hits, target=750) == tier  # filtered searches: as before
    k = catalog_facets.search_tier(rows=hits, target=750, narrow=True)
    assert k == narrow_tier
    sampled = hits * k / 100
    assert 450 <= sampled <= 1_125
    assert math.sqrt((1 - k / 100) / sampled) <= 0.0462  # the stated 4.6 %


def test_a_narrow_tier_is_read_as_a_rest_after_the_first_count():
    for k in catalog_facets.NARROW_TIERS:
        assert catalog_facets.SEARCH_TIER_RESTS[k] == catalog_facets.SEARCH_TIERS[-1]
        assert catalog_facets.SEARCH_TIERS[-1] < k < max(catalog_facets.SEARCH_TIERS)


@pytest.mark.django_db
def test_the_narrow_tiers_rest_has_a_full_text_index_of_its_own():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'product_search_4_6'")
        (definition,) = cursor.fetchone()
    assert "USING gin (search_vector)" in definition
    assert "(sample >= 4) AND (sample < 6)" in definition, definition
    assert "is_active" in definition


@pytest.mark.django_db(transaction=True)
def test_a_search_the_6_percent_tier_fits_is_its_first_count_plus_that_tiers_rest(client, settings, monkeypatch):
    settings.PAGE_CACHE_ENABLED = False
    settings.CATALOG_FACETS_EXACT_MAX = 10
    monkeypatch.setattr(selectors, "_planned_rows", lambda *a, **k: pytest.fail("the planner was asked"))
    shirts(300)
    rows = sampled_counts(4)[0] * 25
    # A target the 10 % tier fits (at most 1.5 x) and the 6 % one gives at least 0.6 x of.
    target = rows // 10
    assert rows * 10 <= 150 * target and rows * 25 > 150 * target and rows * 6 >= 60 * target
    settings.CATALOG_FACETS_SAMPLE_ROWS = target
    total, stocked, brands = sampled_counts(6)
    assert sampled_counts(4)[0] < total < sampled_counts(10)[0]

    search(client)  # per-process and per-connection: the taxonomy, the statements prepared
    for _ in range(7):  # the first executions and the generic plan PostgreSQL keeps after five
        facets, statements = search(client)
        factor = 100 / 6
        assert facets.estimated
        assert facets.total == facets.base_total == round(total * factor)
        assert facets.in_stock == round(stocked * factor)
        assert {e["brand"].pk: e["count"] for e in facets.brands} == {pk: round(n * factor) for pk, n in brands.items()}
        assert (facets.price_min, facets.price_max) == prices(6)
        # The taxonomy's generation, the 4 % count, the 6 % tier's rest, the page's products.
        assert len(statements) == 4, statements
        assert statements[1].startswith("EXECUTE shop_facet_sample_")
        assert statements[2].startswith("EXECUTE shop_facet_sample_")
    rest = '"catalog_product"."sample" >= 4::smallint AND "catalog_product"."sample" < 6::smallint'
    assert sum(rest in sql for sql in selectors._prepared_counts) == 1
