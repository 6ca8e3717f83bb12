"""The database side of the listing and search pages with nothing cached (issue 12): how many
statements a page sends, and that the big reads go through the indexes made for them
(migration 0013), so their cost does not grow with the hits or the category."""

import pytest
from django.core.cache import caches
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from catalog import facets as catalog_facets
from catalog import selectors
from catalog.models import Category, Product
from tests import factories

pytestmark = pytest.mark.django_db


def plan_with_only(index: str, sql: str, params=()) -> str:
    """The plan of `sql` when `index` is the only index of the product table it could use (the
    others dropped, sequential scans priced out, all rolled back after): on a test table of a
    few rows cost says nothing, this says whether the index can answer the query at all."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """SELECT i.indexname FROM pg_indexes i WHERE i.tablename = 'catalog_product' AND i.indexname <> %s
                 AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conname = i.indexname)""",
            [index],
        )
        for (other,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{other}"')
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        found = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return found


@pytest.mark.parametrize(
    "rows, tier",
    [(3_001, 25), (9_000, 25), (9_001, 10), (14_529, 10), (22_500, 10), (22_501, 4), (100_000, 4), (10**7, 4)],
)
def test_a_search_is_sampled_from_the_stratum_that_gives_about_the_target(rows, tier):
    assert catalog_facets.search_tier(rows=rows, target=1500) == tier
    assert tier in catalog_facets.SEARCH_TIERS


SHIRT_IDS = 900_001  # far above the ids the tests' sequence hands out


@pytest.fixture
def shirts(settings):
    """60 shirts on one leaf: a search for them is estimated (exact only up to 10 rows). Their ids
    are fixed: a product's sample stratum is a hash of its id, and with the sequence's next ids
    (whatever the tests before took) none of 60 may fall in the 4 % stratum (0.96 ** 60, about
    one run in twelve), which makes the search's first count say "few" and count exactly."""
    settings.PAGE_CACHE_ENABLED = False
    settings.CATALOG_FACETS_EXACT_MAX = 10
    settings.CATALOG_FACETS_SAMPLE_ROWS = 20
    leaf = factories.CategoryFactory(name="衬衫类", slug="shirts")
    brands = [factories.BrandFactory(name=f"牌{i}") for i in range(3)]
    department = factories.DepartmentFactory(code="apparel")
    Product.objects.bulk_create(
        [
            factories.ProductFactory.build(
                id=SHIRT_IDS + i, category=leaf, brand=brands[i % 3], department=department, name=f"衬衫{i}"
            )
            for i in range(60)
        ]
    )
    from catalog.services import product_reindex

    product_reindex(product_ids=list(Product.objects.values_list("pk", flat=True)))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalog_product")
        cursor.execute("SELECT count(*) FROM catalog_product WHERE id >= %s AND sample < 4", [SHIRT_IDS])
        assert 1 <= cursor.fetchone()[0] <= 5  # about 4 % of 60, as on a real catalogue
    return {"leaf": leaf, "brands": brands, "department": department}


def test_a_broad_search_reads_only_its_sampled_hits_from_the_strata_index(client, shirts, monkeypatch):
    # The planner's guess of a search's size on a 60-row table is anything; on a real one it
    # is close (docs/benchmark.md). Pinned here to the truth.
    monkeypatch.setattr(selectors, "_planned_rows", lambda products, **kwargs: 60)
    caches["pages"].clear()
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/search/", {"q": "衬衫"})
    facets = response.context["facets"]

    # 60 hits (the planner's estimate) with a target of 20: the 25 % stratum.
    tier = catalog_facets.search_tier(rows=60, target=20)
    assert tier == 25
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM catalog_product WHERE sample < %s", [tier])
        sampled = cursor.fetchone()[0]
    assert facets.estimated and facets.total == round(sampled * 100 / tier)
    counting = next(q["sql"] for q in captured if q["sql"].startswith("WITH chosen"))
    assert f"Bitmap Index Scan on product_search_{tier}" in plan_with_only(f"product_search_{tier}", counting)


def test_a_brand_on_a_category_is_read_from_the_brand_and_category_index(shirts):
    other = factories.CategoryFactory(name="其他", slug="other")
    Product.objects.bulk_create(
        [
            factories.ProductFactory.build(category=other, brand=brand, department=shirts["department"], name="别的")
            for brand in shirts["brands"]
            for _ in range(40)
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalog_product")
    brand = shirts["brands"][0]
    products = Product.objects.filter(is_active=True, brand_id__in=[brand.pk], category_id__in=[shirts["leaf"].pk])
    sql, params = products.values("pk").query.sql_with_params()
    assert "Index Cond: ((brand_id = " in plan_with_only("product_brand_category", sql, params)


@pytest.fixture
def tree(db):
    clothing = factories.CategoryFactory(name="服装", slug="clothing")
    men = factories.CategoryFactory(parent=clothing, name="男装", slug="men")
    tees = factories.CategoryFactory(parent=men, name="T恤", slug="tees")
    hidden = factories.CategoryFactory(parent=men, name="旧款", slug="old", is_active=False)
    women = factories.CategoryFactory(parent=clothing, name="女装", slug="women")
    kitchen = factories.CategoryFactory(name="厨具", slug="kitchen")
    return {"clothing": clothing, "men": men, "tees": tees, "old": hidden, "women": women, "kitchen": kitchen}


def test_a_category_and_its_place_in_the_tree_are_one_query(tree, django_assert_num_queries):
    selectors.taxonomy_current()  # read once per taxonomy write (test_l15_taxonomy.py)
    with django_assert_num_queries(1):  # the taxonomy's generation
        found = selectors.category_with_tree(slug="men")
    men = Category.objects.get(slug="men")
    assert found.category == men
    assert found.ancestors == list(men.get_ancestors())  # root first
    assert found.children == list(men.get_children().filter(is_active=True))  # not the hidden one
    # Every descendant, hidden ones too (their products are hidden by their own flag).
    assert found.subtree_ids == list(Category.objects.filter(path__startswith=men.path).values_list("pk", flat=True))
    assert tree["old"].pk in found.subtree_ids and tree["women"].pk not in found.subtree_ids

    caches["pages"].clear()
    root = selectors.category_with_tree(slug="clothing")
    clothing = Category.objects.get(slug="clothing")
    assert root.ancestors == [] and root.children == list(clothing.get_children().filter(is_active=True))
    assert {c.slug for c in root.children} == {"men", "women"}
    assert set(root.subtree_ids) == {tree[k].pk for k in ("clothing", "men", "tees", "old", "women")}
    assert selectors.category_with_tree(slug="tees").ancestors == [tree["clothing"], tree["men"]]

    caches["pages"].clear()
    for missing in ("old", "nothing"):  # hidden, or no such category
        with pytest.raises(Category.DoesNotExist):
            selectors.category_with_tree(slug=missing)


def test_a_facet_lists_brands_and_values_are_labelled_without_a_query(django_assert_num_queries):
    colour = factories.AttributeFactory(code="colour", name="颜色", position=0)
    size = factories.AttributeFactory(code="size", name="尺码", position=1)
    hidden = factories.AttributeFactory(code="batch", name="批次", is_filter=False)
    red = factories.AttributeValueFactory(attribute=colour, value="红", position=1)
    blue = factories.AttributeValueFactory(attribute=colour, value="蓝", position=0)
    large = factories.AttributeValueFactory(attribute=size, value="L")
    internal = factories.AttributeValueFactory(attribute=hidden, value="B7")
    b, a = factories.BrandFactory(name="乙"), factories.BrandFactory(name="甲")
    taxonomy = selectors.taxonomy_current()
    with django_assert_num_queries(0):
        brands, values = taxonomy.labels(brand_ids=[b.pk, a.pk], value_ids=[red.pk, blue.pk, large.pk, internal.pk])
        labels = [(v.attribute.code, v.value) for v in values]  # the attribute comes along
    assert brands == sorted([a, b], key=lambda brand: brand.name)
    assert [brand.display_name for brand in brands] == [brand.name for brand in brands]
    assert labels == [("colour", "蓝"), ("colour", "红"), ("size", "L")]  # filterable only, in order
    assert taxonomy.labels(brand_ids=[], value_ids=[]) == ([], [])


@pytest.mark.parametrize(
    "url, statements",
    [
        # the taxonomy's generation (the root categories, the labels), the count table, the products
        ("/products/", 3),
        # the generation (the category with its tree, the labels), the count table, the products
        ("/c/clothing/", 3),
        # the generation, the planner's size of the search, its counts, the products
        ("/search/?q=纯棉", 4),
    ],
)
def test_listings_with_nothing_cached_send_few_statements(client, make_product, url, statements, settings):
    settings.PAGE_CACHE_ENABLED = False
    clothing = factories.CategoryFactory(name="服装", slug="clothing")
    colour = factories.AttributeFactory(code="colour", name="颜色")
    red = factories.AttributeValueFactory(attribute=colour, value="红")
    for i in range(3):
        make_product(name=f"纯棉衫{i}", category=clothing, options=[red])
    client.get(url)  # per-process lookups (content types, jieba)
    caches["pages"].clear()  # nothing cached: the facets and the category tree too
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    assert len(captured) == statements, [q["sql"][:120] for q in captured]


@pytest.mark.django_db(transaction=True)
def test_the_count_table_and_labels_are_prepared_once_per_connection(make_product):
    """In autocommit (a web request) the fixed statements are PREPAREd on first use and then
    only EXECUTEd, with the same answers as unprepared inside a transaction."""
    clothing = factories.CategoryFactory(name="服装", slug="clothing")
    colour = factories.AttributeFactory(code="colour", name="颜色")
    red = factories.AttributeValueFactory(attribute=colour, value="红")
    for i in range(3):
        make_product(name=f"衫{i}", category=clothing, options=[red], price=f"{10 + i}.00")
    scopes = [None, [clothing.pk]]
    with transaction.atomic():  # unprepared
        expected = [catalog_facets.table_counts(category_ids=ids, using="default") for ids in scopes]
        generation = selectors.taxonomy_current().generation
    for _ in range(2):
        with CaptureQueriesContext(connection) as captured:
            found = [catalog_facets.table_counts(category_ids=ids, using="default") for ids in scopes]
            assert selectors.taxonomy_current().generation == generation
        assert found == expected
        assert expected[1].total == 3 and expected[1].values == {red.pk: 3} and str(expected[1].price_min) == "10.00"
    assert all(q["sql"].startswith("EXECUTE ") for q in captured)  # the second time: no PREPARE, no plain SQL
