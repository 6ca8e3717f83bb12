"""The facet counts the database keeps (migration 0012) stay equal to a full count under any
sequence of writes (ORM saves, bulk updates, raw SQL, attribute values added and removed,
deletes), and the facets read from them equal the old full count, filtered or not. Huge result
sets are estimated from the sample, shown as such, and page without an empty last page."""

import itertools
from collections import Counter

import pytest
from django.core.cache import caches
from django.db import connection
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from catalog import selectors
from catalog.models import Category, Product
from tests import factories

pytestmark = pytest.mark.django_db


def table_rows() -> dict[tuple, tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT category_id, kind, key, n, stocked FROM catalog_facet_count WHERE n <> 0 OR stocked <> 0"
        )
        return {(c, k, key): (n, s) for c, k, key, n, s in cursor.fetchall()}


def full_count() -> dict[tuple, tuple[int, int]]:
    """What the table must hold, counted from the products and the through table in Python."""
    n: Counter = Counter()
    stocked: Counter = Counter()
    values: dict[int, list[int]] = {}
    for product_id, value_id in Product.attribute_values.through.objects.values_list("product_id", "attributevalue_id"):
        values.setdefault(product_id, []).append(value_id)
    for pk, category, brand, in_stock in Product.objects.filter(is_active=True).values_list(
        "pk", "category_id", "brand_id", "in_stock"
    ):
        for scope in (category, 0):
            n[(scope, "s", 0)] += 1
            stocked[(scope, "s", 0)] += in_stock
            n[(scope, "b", brand)] += 1
            for value in values.get(pk, []):
                n[(scope, "v", value)] += 1
    return {key: (n[key], stocked[key]) for key in n if n[key] or stocked[key]}


def rollup_rows() -> dict[tuple, tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT category_id, kind, key, n, stocked FROM catalog_facet_rollup WHERE n <> 0 OR stocked <> 0"
        )
        return {(c, k, key): (n, s) for c, k, key, n, s in cursor.fetchall()}


def full_rollup() -> dict[tuple, tuple[int, int]]:
    """What the roll-up (migration 0015) must hold: each category's counts over its whole
    subtree, as the categories' paths are now, summed in Python from the full count."""
    paths = dict(Category.objects.values_list("pk", "path"))
    n: Counter = Counter()
    stocked: Counter = Counter()
    for (category, kind, key), (count, in_stock) in full_count().items():
        if category == 0:
            continue
        for ancestor, path in paths.items():
            if paths[category].startswith(path):
                n[(ancestor, kind, key)] += count
                stocked[(ancestor, kind, key)] += in_stock
    return {key: (n[key], stocked[key]) for key in n if n[key] or stocked[key]}


@pytest.fixture
def world(db):
    shop = factories.CategoryFactory(name="根", slug="root")
    leaves = [factories.CategoryFactory(parent=shop, name=f"叶{i}", slug=f"leaf-{i}") for i in range(3)]
    colour = factories.AttributeFactory(code="colour", name="颜色")
    size = factories.AttributeFactory(code="size", name="尺码")
    values = [factories.AttributeValueFactory(attribute=colour, value=c) for c in ("红", "蓝", "绿")]
    values += [factories.AttributeValueFactory(attribute=size, value=s) for s in ("S", "M")]
    brands = [factories.BrandFactory(name=f"牌{i}") for i in range(3)]
    return {"root": shop, "leaves": leaves, "values": values, "brands": brands}


OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(
            ["create", "save", "bulk", "raw", "values", "delete", "bulk_create", "move", "subcategory", "drop"]
        ),
        st.integers(0, 1000),
        st.integers(0, 1000),
    ),
    min_size=1,
    max_size=8,
)


def apply(world, operation: str, a: int, b: int) -> None:
    leaves, brands, values = world["leaves"], world["brands"], world["values"]
    if operation in ("move", "subcategory", "drop"):
        categories(world, operation, a, b)
        return
    products = list(Product.objects.order_by("pk"))
    if operation == "create" or not products:
        product = factories.ProductFactory(
            category=leaves[a % 3], brand=brands[b % 3], in_stock=bool(a % 2), is_active=b % 5 != 0
        )
        product.attribute_values.set([v for i, v in enumerate(values) if (a >> i) & 1])
        return
    product = products[a % len(products)]
    if operation == "save":
        product.brand, product.category = brands[b % 3], leaves[(a + b) % 3]
        product.in_stock, product.is_active = bool(b % 2), bool((a + b) % 3)
        product.save()
    elif operation == "bulk":  # one statement, many rows, only some of them changing
        Product.objects.filter(pk__gte=product.pk).update(in_stock=bool(b % 2))
    elif operation == "raw":
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE catalog_product SET category_id = %s, is_active = NOT is_active WHERE id %% 2 = %s",
                [leaves[b % 3].pk, a % 2],
            )
    elif operation == "values":
        value = values[b % len(values)]
        if product.attribute_values.filter(pk=value.pk).exists():
            product.attribute_values.remove(value)
        else:
            product.attribute_values.add(value)
    elif operation == "delete":
        product.delete()
    elif operation == "bulk_create":
        Product.objects.bulk_create(
            [
                factories.ProductFactory.build(
                    category=leaves[(a + i) % 3], brand=brands[(b + i) % 3], department=product.department
                )
                for i in range(1 + b % 3)
            ]
        )


SUBCATEGORY_SLUGS = itertools.count()


def categories(world, operation: str, a: int, b: int) -> None:
    """Category writes the roll-up follows: a leaf moved (with its subtree) under another
    category or back under the root, a new subcategory with products moved into it, an empty
    category deleted."""
    root = Category.objects.get(pk=world["root"].pk)
    nodes = list(Category.objects.exclude(pk=root.pk).order_by("pk"))
    node = nodes[a % len(nodes)]
    if operation == "move":
        target = nodes[b % len(nodes)]
        if target.path.startswith(node.path):  # itself or its own descendant: back under the root
            target = root
        node.move(target, "sorted-child")
    elif operation == "subcategory":
        # The slug only needs to be unique: hypothesis runs every example on the same world, where
        # a, b and the number of categories (after a drop) can repeat an earlier example's.
        child = node.add_child(name=f"子{a}", name_en=f"Sub {a}", slug=f"sub-{a}-{b}-{next(SUBCATEGORY_SLUGS)}")
        Product.objects.filter(
            pk__in=list(Product.objects.order_by("pk").values_list("pk", flat=True)[b % 3 :: 3])
        ).update(category=child)
    else:  # drop an empty category (not one of the world's leaves)
        empty = [c for c in nodes if c.pk not in {leaf.pk for leaf in world["leaves"]} and c.is_leaf()]
        empty = [c for c in empty if not Product.objects.filter(category=c).exists()]
        if empty:
            Category.objects.get(pk=empty[a % len(empty)].pk).delete()


def scoped_and_exact(scope: selectors.FacetScope, base, choice) -> tuple[selectors.Facets, selectors.Facets]:
    return (
        selectors.facets_for(selectors.facet_scoped(base, scope), choice=choice),
        selectors.facets_for(base, choice=choice),  # unmarked: every row counted, as before
    )


def comparable(facets: selectors.Facets) -> tuple:
    return (
        sorted((e["brand"].pk, e["count"]) for e in facets.brands),
        sorted((v["value"].pk, v["count"]) for a in facets.attributes for v in a["values"]),
        facets.price_min,
        facets.price_max,
        facets.in_stock,
        facets.total,
        facets.base_total,
        facets.brands_hidden,
    )


@hypothesis_settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(operations=OPERATIONS, pick=st.integers(0, 1000))
def test_counts_equal_a_full_count_after_any_writes(world, operations, pick):
    for operation in operations:
        apply(world, *operation)
        assert table_rows() == full_count(), operation
        assert rollup_rows() == full_rollup(), operation

    # The facets read from the table equal the old full count, without and with filters
    # (exact: far below CATALOG_FACETS_EXACT_MAX).
    values, brands = world["values"], world["brands"]
    root = world["root"]
    subtree = tuple(Category.objects.filter(path__startswith=root.path).values_list("pk", flat=True))
    choices = [
        selectors.FacetChoice(),
        selectors.FacetChoice(brands=(brands[pick % 3].pk,)),
        selectors.FacetChoice(values=((values[0].attribute_id, (values[pick % 3].pk,)),)),
        selectors.FacetChoice(in_stock=True),
        selectors.FacetChoice(brands=(brands[0].pk, brands[1].pk), in_stock=True),
        selectors.FacetChoice(brands=(brands[pick % 3].pk,), values=((values[3].attribute_id, (values[3].pk,)),)),
    ]
    leaf = Category.objects.get(pk=world["leaves"][pick % 3].pk)  # its subtree: whatever moved under it
    below = tuple(Category.objects.filter(path__startswith=leaf.path).values_list("pk", flat=True))
    for choice in choices:
        for scope, base in (
            (selectors.FacetScope(), selectors.active_products()),
            (selectors.FacetScope(category_ids=subtree), selectors.active_products().filter(category_id__in=subtree)),
            (
                selectors.FacetScope(category_ids=subtree, category_id=root.pk),
                selectors.active_products().filter(category_id__in=subtree),
            ),
            (
                selectors.FacetScope(category_ids=below, category_id=leaf.pk),
                selectors.active_products().filter(category_id__in=below),
            ),
            (
                selectors.FacetScope(category_ids=(world["leaves"][pick % 3].pk,)),
                selectors.active_products().filter(category_id=world["leaves"][pick % 3].pk),
            ),
        ):
            from_table, counted = scoped_and_exact(scope, base, choice)
            assert comparable(from_table) == comparable(counted), (choice, scope)
            assert not from_table.estimated


def test_truncate_and_rebuild_keep_the_table_right(world):
    factories.ProductFactory(category=world["leaves"][0], brand=world["brands"][0])
    with connection.cursor() as cursor:
        cursor.execute("UPDATE catalog_facet_count SET n = n + 5")  # damaged by hand
        cursor.execute("SELECT catalog_facet_count_rebuild()")
    assert table_rows() == full_count()
    assert rollup_rows() == full_rollup() != {}
    with connection.cursor() as cursor:
        cursor.execute("UPDATE catalog_facet_rollup SET n = n + 5")  # damaged by hand
        cursor.execute("SELECT catalog_facet_rollup_rebuild()")
    assert rollup_rows() == full_rollup()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred checks pending, as TRUNCATE wants
        cursor.execute("TRUNCATE catalog_product CASCADE")
    assert table_rows() == {}
    assert rollup_rows() == {}


def test_writes_that_change_no_counted_column_touch_no_count_row(world):
    """Views, sales and prices change all day: they must not lock the count rows."""
    product = factories.ProductFactory(category=world["leaves"][0], brand=world["brands"][0])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT xmin::text FROM catalog_facet_count UNION ALL SELECT xmin::text FROM catalog_facet_rollup"
        )
        before = sorted(cursor.fetchall())
        Product.objects.filter(pk=product.pk).update(view_count=7, sales_count=3, price="12.00", name="新名")
        # A category's own edits (a name, a flag) move nothing: no roll-up row is rewritten.
        Category.objects.filter(pk=world["leaves"][1].pk).update(name="新类", is_active=False)
        cursor.execute(
            "SELECT xmin::text FROM catalog_facet_count UNION ALL SELECT xmin::text FROM catalog_facet_rollup"
        )
        assert sorted(cursor.fetchall()) == before


@pytest.fixture
def many(world, settings):
    """60 products on one leaf; facets are counted exactly up to 10 rows, else from a sample
    of about 20 rows."""
    settings.PAGE_CACHE_ENABLED = False
    settings.CATALOG_FACETS_EXACT_MAX = 10
    settings.CATALOG_FACETS_SAMPLE_ROWS = 20
    settings.CATALOG_PAGE_SIZE = 7
    leaf, red = world["leaves"][0], world["values"][0]
    department = factories.DepartmentFactory(code="apparel")
    Product.objects.bulk_create(
        [
            factories.ProductFactory.build(
                category=leaf, brand=world["brands"][i % 3], department=department, name=f"衬衫{i}", in_stock=i % 4 != 0
            )
            for i in range(60)
        ]
    )
    Product.attribute_values.through.objects.bulk_create(
        [Product.attribute_values.through(product=p, attributevalue=red) for p in Product.objects.all()]
    )
    from catalog.services import product_reindex

    product_reindex(product_ids=list(Product.objects.values_list("pk", flat=True)))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalog_product")  # a search's size is the planner's estimate
    return world


def test_a_huge_filtered_set_is_estimated_from_the_sample_and_says_so(client, many):
    red = many["values"][0]
    caches["pages"].clear()
    response = client.get("/c/leaf-0/", {"av": red.pk}, HTTP_ACCEPT_LANGUAGE="en")
    facets = response.context["facets"]
    assert facets.estimated and facets.base_total == 60  # the category's own total: from the table
    sampled = Product.objects.extra(where=[f"sample < {-(-100 * 20 // 60)}"]).count()  # noqa: S610
    assert facets.total == round(sampled * 100 / -(-100 * 20 // 60))
    body = response.content.decode()
    assert "About " in body and "(about " in body
    # The red value's own count is the unfiltered one (the table's), exact.
    assert [v["count"] for a in facets.attributes for v in a["values"]] == [60]

    # Unfiltered: exact, from the table, whatever the size.
    context = client.get("/c/leaf-0/").context
    assert not context["facets"].estimated and context["page"].paginator.count == 60


def test_a_broad_search_is_estimated_and_its_last_page_is_never_empty(client, many):
    # PostgreSQL estimates a prefix search ('衬衫':*, a query's last word) from the column's most
    # common lexemes only when its statistics keep at least 100 of them (tsquery_opr_selec); with
    # fewer it takes 2 % of the rows: 1 of 60, counted exactly, not estimated. The 60 products'
    # own words are under 100 lexemes with the numbers factory_boy's sequences put in their
    # texts, and those depend on how many products earlier tests of the process made (a counter
    # in Python, so resetting PostgreSQL's sequences changed nothing): first in a process, 68.
    # Two words of their own per product make the statistics the same in any order.
    from catalog.services import product_reindex

    products = list(Product.objects.all())
    for i, product in enumerate(products):
        product.summary_en = f"style{i} fit{i}"
    Product.objects.bulk_update(products, ["summary_en"])
    product_reindex(product_ids=[p.pk for p in products])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalog_product")

    response = client.get("/search/", {"q": "衬衫"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.context["facets"].estimated
    assert response.context["page"].paginator.estimated
    assert "About " in response.content.decode()
    # Whatever the estimate said, the pager counts before it offers the last page.
    last = client.get("/search/", {"q": "衬衫", "page": 999})
    page = last.context["page"]
    assert page.paginator.count == 60 and not page.paginator.estimated
    assert page.number == 9 and len(page.object_list) == 60 - 8 * 7


@pytest.mark.parametrize("n, shown", [(7, "7"), (67, "67"), (987, "990"), (12566, "12,600"), (101234, "101,000")])
def test_estimates_are_rounded_to_what_a_sample_can_tell(n, shown):
    from django.utils import translation

    from catalog.templatetags.catalog_tags import estimate

    with translation.override("en"):
        assert estimate(n) == shown
