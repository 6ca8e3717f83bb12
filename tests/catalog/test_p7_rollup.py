"""A category page's unfiltered counts come from the sums the database keeps per category over
its whole subtree (migration 0015, issue 12 sixth session, part P7): one category id read, no
subtree's rows summed on every request. The sums themselves are checked against a full count
under any writes, category moves included, in test_facet_counts.py."""

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog import facets as catalog_facets
from catalog.models import Category
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree(make_product):
    """clothing > (shirts > tees, trousers), and a second root."""
    clothing = factories.CategoryFactory(name="服装", slug="clothing")
    shirts = factories.CategoryFactory(parent=clothing, name="衬衫", slug="shirts")
    tees = factories.CategoryFactory(parent=Category.objects.get(pk=shirts.pk), name="T恤", slug="tees")
    trousers = factories.CategoryFactory(parent=Category.objects.get(pk=clothing.pk), name="裤子", slug="trousers")
    home = factories.CategoryFactory(name="家居", slug="home")
    colour = factories.AttributeFactory(code="colour", name="颜色")
    red, blue = (factories.AttributeValueFactory(attribute=colour, value=v) for v in ("红", "蓝"))
    brand, other = factories.BrandFactory(name="优品"), factories.BrandFactory(name="别家")
    for i, (category, options) in enumerate(
        [(shirts, [red]), (tees, [red, blue]), (tees, [blue]), (trousers, []), (home, [red])]
    ):
        make_product(
            name=f"品{i}", category=category, brand=brand if i % 2 else other, options=options, price=f"{10 + i}.00"
        )
    return {"clothing": clothing, "shirts": shirts, "tees": tees, "trousers": trousers, "home": home}


def subtree(category: Category) -> list[int]:
    category = Category.objects.get(pk=category.pk)
    return list(Category.objects.filter(path__startswith=category.path).order_by("path").values_list("pk", flat=True))


def test_a_subtree_read_from_its_kept_sums_equals_its_rows_summed(tree):
    for name in ("clothing", "shirts", "tees", "trousers", "home"):
        ids = subtree(tree[name])
        kept = catalog_facets.table_counts(category_ids=ids, using="default", subtree_of=tree[name].pk)
        summed = catalog_facets.table_counts(category_ids=ids, using="default")
        assert kept == summed, name
    assert catalog_facets.table_counts(category_ids=subtree(tree["clothing"]), using="default").total == 4

    # Moving shirts (with tees under it) to home moves their counts with them.
    Category.objects.get(pk=tree["shirts"].pk).move(Category.objects.get(pk=tree["home"].pk), "sorted-child")
    for name, total in (("clothing", 1), ("home", 4), ("shirts", 3)):
        ids = subtree(tree[name])
        kept = catalog_facets.table_counts(category_ids=ids, using="default", subtree_of=tree[name].pk)
        assert kept == catalog_facets.table_counts(category_ids=ids, using="default")
        assert kept.total == total, name


@pytest.mark.django_db(transaction=True)
def test_a_category_page_reads_one_categorys_kept_sums(client, tree, settings):
    settings.PAGE_CACHE_ENABLED = False
    client.get("/c/clothing/")  # per-process lookups
    caches["pages"].clear()
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/c/clothing/", {"brand": tree["tees"].products.first().brand_id})
    assert response.status_code == 200
    reads = [q["sql"] for q in captured if "facet" in q["sql"]]
    assert len(reads) == 1 and reads[0].startswith("EXECUTE shop_facet_rollup_"), reads
    # The brand facet shows the unfiltered counts of the whole subtree: both brands, 2 each.
    assert sorted(entry["count"] for entry in response.context["facets"].brands) == [2, 2]
