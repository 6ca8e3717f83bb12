"""An unfiltered search's first count and what that count decides in one statement (issue 12,
part P22): its 4 % stratum is counted and, in the same statement, the rows the count says to
read next (every other hit, or a tier's rest), each a UNION ALL branch PostgreSQL runs only for
its range of counts. The ranges are those catalog.facets.after_probe gives, the counts those of
the statements it replaces (the 4 % count, then the rest added to it or every hit counted)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog import facets as catalog_facets
from catalog import selectors
from catalog.models import Product
from catalog.search import tsquery
from catalog.services import product_reindex
from tests import factories
from tests.catalog.test_p10_search_count import sampled_counts, search, shirts

pytestmark = pytest.mark.django_db

SETTINGS = [(3000, 750), (10, 20), (10, 2), (3000, 20), (100, 20), (10, 60), (500, 100)]  # (exact max, target)


@pytest.mark.parametrize("exact_max, target", SETTINGS)
def test_the_ranges_are_the_decisions_after_the_count(exact_max, target):
    ranges = catalog_facets.probe_ranges(exact_max=exact_max, target=target)
    # Beyond this count every count is above both exact_max and the hits for which search_tier
    # gives the 4 % tier: the count scaled.
    scaled_from = int(max(exact_max, 15 * target) * 4 / 100) + 3
    for n in range(0, scaled_from + 2_000):
        decision = catalog_facets.after_probe(n, exact_max=exact_max, target=target)
        listed = [d for d, runs in ranges.items() if any(a <= n <= b for a, b in runs)]
        if decision[0] in ("whole", "rest"):
            assert listed == [decision], n
        else:
            assert listed == [], n
        if n >= scaled_from:
            assert decision == ("scaled",), n


def test_with_the_defaults_each_size_reads_what_it_did():
    ranges = catalog_facets.probe_ranges(exact_max=3000, target=750)
    assert ranges == {
        ("whole",): ((0, 120),),  # up to 3,000 hits: counted exactly
        ("rest", 25): ((121, 180),),  # to 4,500
        ("rest", 10): ((181, 299),),  # below 7,500
        ("rest", 6): ((300, 450),),  # to 11,250 (part P18), above it the 4 % count alone
    }


def _old_counts(products, decision):
    """What the statements the combined one replaces counted."""
    probe = selectors._sampled_counted(products, {}, k=4, shape=None)
    if decision == ("whole",):
        return selectors._counted(products, {})
    if decision[0] == "rest":
        return probe.added(selectors._sampled_counted(products, {}, k=decision[1], low=4, shape=None))
    return probe


def _fields(counts):
    return (
        counts.brands,
        counts.in_stock,
        counts.price_min,
        counts.price_max,
        counts.shown,
        counts.scanned,
        {pk: dict(per) for pk, per in counts.values.items()},
    )


@pytest.mark.parametrize("target", [2, 20, 60, 200])
def test_one_statement_counts_what_the_separate_statements_counted(target):
    shirts(300)
    raw = tsquery("纯棉")
    products = selectors.search_matching(selectors.active_products(), raw)
    shape = selectors._Shaped(("test", target), raw)
    with CaptureQueriesContext(connection) as captured:
        counted, n = selectors._probe_counted(products, shape=shape, exact_max=10, target=target)
    assert len(captured) == 1
    assert n == sampled_counts(4)[0]
    decision = catalog_facets.after_probe(n, exact_max=10, target=target)
    assert _fields(counted) == _fields(_old_counts(products, decision))


def _ids(low: int, high: int, count: int) -> list[int]:
    """`count` ids far above the sequence's whose sample stratum is in [low, high)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT id FROM generate_series(5000000, 5100000) AS id
                WHERE mod(hashint8(id)::bigint & 2147483647, 100) >= %s
                  AND mod(hashint8(id)::bigint & 2147483647, 100) < %s
                ORDER BY id LIMIT %s""",
            [low, high, count],
        )
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_a_rest_that_finds_few_hits_is_counted_exactly_after_all(client, settings, monkeypatch):
    # The 4 % count says 500 hits, above the threshold (200); the 25 % tier's sample says 120:
    # every hit is counted by a statement of its own, as before the change.
    settings.PAGE_CACHE_ENABLED = False
    settings.CATALOG_FACETS_EXACT_MAX = 200
    settings.CATALOG_FACETS_SAMPLE_ROWS = 100
    monkeypatch.setattr(selectors, "_planned_rows", lambda *a, **k: pytest.fail("the planner was asked"))
    leaf = factories.CategoryFactory(name="衬衫类", slug="shirts")
    brand = factories.BrandFactory(name="牌")
    department = factories.DepartmentFactory(code="apparel")
    ids = _ids(0, 4, 20) + _ids(4, 25, 10) + _ids(25, 100, 70)
    Product.objects.bulk_create(
        [
            factories.ProductFactory.build(
                id=pk, category=leaf, brand=brand, department=department, name="纯棉衬衫", in_stock=bool(i % 2)
            )
            for i, pk in enumerate(ids)
        ]
    )
    product_reindex(product_ids=ids)
    assert catalog_facets.after_probe(20, exact_max=200, target=100) == ("rest", 25)
    search(client)
    facets, statements = search(client)
    assert not facets.estimated and facets.total == 100 and facets.in_stock == 50
    assert len(statements) == 4, statements  # the generation, the combined count, the exact count, the products
