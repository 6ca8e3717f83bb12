"""The error of estimated facet counts as stated (catalog.selectors.facets_for, catalog.facets.
search_tier, README): with the default CATALOG_FACETS_SAMPLE_ROWS of 750, a listing's estimate
reads at least 750 sampled rows (the total's relative standard error at most about 3.7 %) and a
search's at least 450 (4.6 %) up to 28,000 hits; and an estimate is within that error of the
truth."""

import math

import pytest
from django.conf import settings as default_settings

from catalog import facets as catalog_facets
from catalog import selectors
from catalog.models import Product
from tests import factories


def relative_error(*, rows: int, k: int) -> float:
    """The relative standard error of a total estimated from `rows` sampled at k %."""
    return math.sqrt((1 - k / 100) / rows)


def test_the_defaults_are_the_stated_ones():
    assert default_settings.CATALOG_FACETS_SAMPLE_ROWS == 750
    assert default_settings.CATALOG_FACETS_EXACT_MAX == 3000


@pytest.mark.parametrize("hits", [3_001, 4_500, 4_501, 11_250, 11_251, 14_529, 28_000])
def test_a_search_reads_450_to_1125_sampled_hits_up_to_28000(hits):
    k = catalog_facets.search_tier(rows=hits, target=750)
    rows = hits * k / 100
    assert 450 <= rows <= 1_125
    assert relative_error(rows=rows, k=k) <= 0.0462


@pytest.mark.parametrize("bound", [3_001, 5_000, 33_598, 74_999, 100_000])
def test_a_listing_reads_at_least_750_sampled_rows(bound):
    k = -(-100 * 750 // bound)  # as catalog.selectors._counted_bounded picks it
    rows = bound * k / 100
    assert rows >= 750
    assert relative_error(rows=rows, k=k) <= 0.037


@pytest.mark.django_db
@pytest.mark.parametrize("target", [60, 120, 240])
def test_an_estimated_total_is_within_the_stated_error(settings, target):
    settings.CATALOG_FACETS_EXACT_MAX = 50
    settings.CATALOG_FACETS_SAMPLE_ROWS = target
    brand, other = factories.BrandFactory(), factories.BrandFactory()
    category = factories.CategoryFactory()
    department = factories.DepartmentFactory()
    Product.objects.bulk_create(
        [
            factories.ProductFactory.build(category=category, brand=brand if i % 3 else other, department=department)
            for i in range(1_500)
        ]
    )
    truth = Product.objects.filter(brand=brand).count()  # 1,000
    scoped = selectors.facet_scoped(selectors.active_products(), selectors.FacetScope())
    found = selectors.facets_for(scoped, choice=selectors.FacetChoice(brands=(brand.pk,)))
    k = -(-100 * target // truth)
    assert found.estimated
    # Four standard errors: a fixed hash of the ids picks the sample, so this holds but for
    # about one set of ids in 15,000.
    assert abs(found.total - truth) <= 4 * relative_error(rows=truth * k / 100, k=k) * truth
