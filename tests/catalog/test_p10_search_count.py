"""A search's facets with nothing cached (issue 12, part P10): an unfiltered search counts its
smallest sample stratum first, by one statement PREPAREd per connection (its plan the same for
every word), and that count settles a broad word (estimated from it) or a rare one (counted
exactly) without the planner's estimate (an EXPLAIN, planned on every request); in between it
picks the tier (part P14). A sample's brand counts are scaled only for the brands shown."""

from types import SimpleNamespace

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from catalog import selectors
from catalog.models import Product
from catalog.services import product_reindex
from tests import factories

pytestmark = pytest.mark.django_db


def shirts(count: int) -> list[int]:
    leaf = factories.CategoryFactory(name="衬衫类", slug="shirts")
    brands = [factories.BrandFactory(name=f"牌{i}") for i in range(3)]
    department = factories.DepartmentFactory(code="apparel")
    Product.objects.bulk_create(
        [
            factories.ProductFactory.build(
                category=leaf, brand=brands[i % 3], department=department, name=f"纯棉衬衫{i}", in_stock=bool(i % 2)
            )
            for i in range(count)
        ]
    )
    ids = list(Product.objects.values_list("pk", flat=True))
    product_reindex(product_ids=ids)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalog_product")
    return ids


def sampled_counts(k: int) -> tuple[int, int, dict[int, int]]:
    """The hits in the first k strata, counted from the table: (all, in stock, per brand)."""
    rows = list(Product.objects.extra(where=[f"sample < {k}"]).values_list("brand_id", "in_stock"))  # noqa: S610
    brands: dict[int, int] = {}
    for brand, _stocked in rows:
        brands[brand] = brands.get(brand, 0) + 1
    return len(rows), sum(stocked for _brand, stocked in rows), brands


def search(client, q: str = "纯棉"):
    caches["pages"].clear()
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/search/", {"q": q})
    assert response.status_code == 200
    return response.context["facets"], [q["sql"] for q in captured]


@pytest.mark.django_db(transaction=True)
def test_a_broad_search_is_estimated_from_one_prepared_statement_and_no_explain(client, settings, monkeypatch):
    settings.PAGE_CACHE_ENABLED = False
    settings.CATALOG_FACETS_EXACT_MAX = 10
    settings.CATALOG_FACETS_SAMPLE_ROWS = 2  # the smallest tier from 31 hits on
    monkeypatch.setattr(selectors, "_planned_rows", lambda *a, **k: pytest.fail("the planner was asked"))
    shirts(300)
    total, stocked, brands = sampled_counts(4)
    assert total * 25 > 30  # 300 ids: about 12 in the 4 % stratum

    search(client)  # per-process and per-connection: the taxonomy, the statements prepared
    for _ in range(7):  # the first executions and the generic plan PostgreSQL keeps after five
        facets, statements = search(client)
        assert facets.estimated
        assert facets.total == facets.base_total == total * 25
        assert facets.in_stock == stocked * 25
        assert {entry["brand"].pk: entry["count"] for entry in facets.brands} == {
            pk: n * 25 for pk, n in brands.items()
        }
        # The taxonomy's generation, the sample's counts, the page's products.
        assert len(statements) == 3, statements
        assert statements[1].startswith("EXECUTE shop_facet_sample_")
        assert not any(sql.startswith("EXPLAIN") for sql in statements)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'shop_facet_sample_%%'")
        assert cursor.fetchone()[0] == 1  # one statement for every word
    facets, statements = search(client, "衬衫")  # another word: the same statement
    assert statements[1].startswith("EXECUTE shop_facet_sample_") and facets.total == total * 25


def test_a_rare_search_is_counted_exactly_without_the_planner(client, settings, monkeypatch):
    settings.PAGE_CACHE_ENABLED = False  # the default CATALOG_FACETS_EXACT_MAX (3,000)
    monkeypatch.setattr(selectors, "_planned_rows", lambda *a, **k: pytest.fail("the planner was asked"))
    shirts(30)
    search(client)  # per-process: the taxonomy
    facets, statements = search(client)
    assert not facets.estimated and facets.total == 30 and facets.in_stock == 15
    # The generation, the 4 % stratum's count (unprepared in the test's transaction), the
    # exact count, the products: as many statements as with the planner's estimate before.
    assert len(statements) == 4, statements
    assert '"catalog_product"."sample" < 4::smallint' in statements[1]
    assert "sample" not in statements[2].split("SELECT 't'")[0]


def test_between_the_two_the_first_count_picks_the_tier_and_its_rest_is_added(client, settings, monkeypatch):
    # Issue 12, part P14 (tests/catalog/test_p14_search_tiers.py): no planner's estimate; the
    # 4 % stratum's count says which tier, and only that tier's other strata are counted.
    settings.PAGE_CACHE_ENABLED = False
    settings.CATALOG_FACETS_EXACT_MAX = 10
    monkeypatch.setattr(selectors, "_planned_rows", lambda *a, **k: pytest.fail("the planner was asked"))
    shirts(300)
    rows = sampled_counts(4)[0] * 25
    settings.CATALOG_FACETS_SAMPLE_ROWS = -(-rows * 25 // 150)  # the 25 % tier gives enough
    total, _stocked, _brands = sampled_counts(25)
    facets, statements = search(client)
    assert facets.estimated and facets.total == total * 4
    assert sum(sql.startswith("WITH chosen") for sql in statements) == 2, statements
    assert sum('"catalog_product"."sample" >= 4::smallint' in sql for sql in statements) == 1, statements


class _Labels:
    """Taxonomy.labels for _facets_built: every brand asked for, no value."""

    def labels(self, *, brand_ids, value_ids):
        return [SimpleNamespace(pk=pk) for pk in brand_ids], []


# A loaded machine draws slowly: no deadline, no health check on time.
@hypothesis_settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    brands=st.dictionaries(st.integers(1, 60), st.integers(0, 40), max_size=60),
    factor=st.sampled_from([25.0, 10.0, 4.0, 2.0, 100 / 3, 100 / 7, 12.5, 1.5, 100 / 99]),
)
def test_a_sample_scaled_shows_the_brands_and_counts_of_scaling_every_brand(brands, factor):
    sample = selectors._Counts(brands=brands, shown=sum(brands.values()), scanned=sum(brands.values()))
    every = selectors._Counts(brands={pk: round(n * factor) for pk, n in brands.items()}, estimated=True)
    lazy = selectors._facets_built(sample.scaled(factor), selectors.FacetChoice(), _Labels(), base_total=0)
    eager = selectors._facets_built(every, selectors.FacetChoice(), _Labels(), base_total=0)
    assert [(e["brand"].pk, e["count"]) for e in lazy.brands] == [(e["brand"].pk, e["count"]) for e in eager.brands]
    assert lazy.brands_hidden == eager.brands_hidden


def test_a_broad_sample_scales_only_the_brands_shown():
    scaled = selectors._Counts(brands={pk: pk for pk in range(1, 400)}).scaled(25)
    assert scaled.brands_factor == 25 and scaled.brands[7] == 7  # not scaled yet
    facets = selectors._facets_built(scaled, selectors.FacetChoice(), _Labels(), base_total=0)
    assert [e["count"] for e in facets.brands] == [pk * 25 for pk in range(399, 399 - selectors.FACET_BRANDS, -1)]
