"""Storefront pages through the test client: content, filters, sorts, paging, bad input,
and query counts that do not grow with the page size or the catalogue."""

import json
from decimal import Decimal

import pytest
from django.core.cache import caches
from django.test import override_settings

from catalog import selectors
from catalog.models import Product
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree(db):
    clothing = factories.CategoryFactory(name="服装", name_en="Clothing", slug="clothing")
    men = factories.CategoryFactory(parent=clothing, name="男装", name_en="Men", slug="men")
    tees = factories.CategoryFactory(parent=men, name="T恤", name_en="T-shirts", slug="tees")
    kitchen = factories.CategoryFactory(name="厨具", name_en="Kitchen", slug="kitchen")
    return {"clothing": clothing, "men": men, "tees": tees, "kitchen": kitchen}


@pytest.fixture
def colours(db):
    colour = factories.AttributeFactory(code="colour", name="颜色", name_en="Colour")
    material = factories.AttributeFactory(code="material", name="材质", name_en="Material")
    return {
        "red": factories.AttributeValueFactory(attribute=colour, value="红色", value_en="red"),
        "blue": factories.AttributeValueFactory(attribute=colour, value="蓝色", value_en="blue"),
        "cotton": factories.AttributeValueFactory(attribute=material, value="纯棉", value_en="cotton"),
    }


def names(response) -> list[str]:
    return [p.name for p in response.context["products"]]


def test_home_shows_sections_and_category_entry_points(client, make_product, tree):
    make_product(name="新品", category=tree["tees"])
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "新品" in body
    assert tree["clothing"].get_absolute_url() in body
    assert {"new_arrivals", "best_sellers", "most_viewed", "categories"} <= set(response.context.keys())


def test_category_page_lists_its_subtree_with_breadcrumbs(client, make_product, tree):
    make_product(name="圆领T恤", category=tree["tees"])
    make_product(name="炒锅", category=tree["kitchen"])
    response = client.get("/c/men/")
    assert names(response) == ["圆领T恤"]
    assert [c.slug for c in response.context["ancestors"]] == ["clothing"]
    assert [c.slug for c in response.context["children"]] == ["tees"]
    assert names(client.get("/c/clothing/")) == ["圆领T恤"]


def test_unknown_category_and_product_answer_404_with_a_page(client):
    for url in ("/c/nope/", "/p/nope/"):
        response = client.get(url)
        assert response.status_code == 404
        assert b"<html" in response.content


def test_inactive_product_is_not_shown(client, make_product):
    product = make_product(name="下架商品", is_active=False)
    assert client.get(product.get_absolute_url()).status_code == 404
    assert names(client.get("/products/")) == []


def test_filters_combine(client, make_product, tree, colours):
    brand = factories.BrandFactory(name="优品")
    make_product(name="红色纯棉", price="50.00", brand=brand, options=[colours["red"], colours["cotton"]])
    make_product(name="蓝色纯棉", price="80.00", options=[colours["blue"], colours["cotton"]])
    make_product(name="红色贵", price="500.00", brand=brand, options=[colours["red"]])
    make_product(name="缺货红色", price="60.00", stock=0, options=[colours["red"]])

    def get(**params):
        return sorted(names(client.get("/products/", params)))

    assert get(av=[colours["red"].pk]) == ["红色纯棉", "红色贵", "缺货红色"]
    # Values of one attribute widen the choice; different attributes narrow it.
    assert get(av=[colours["red"].pk, colours["blue"].pk]) == ["红色纯棉", "红色贵", "缺货红色", "蓝色纯棉"]
    assert get(av=[colours["red"].pk, colours["cotton"].pk]) == ["红色纯棉"]
    assert get(av=[colours["red"].pk], max_price="100") == ["红色纯棉", "缺货红色"]
    assert get(av=[colours["red"].pk], in_stock="true") == ["红色纯棉", "红色贵"]
    assert get(brand=[brand.pk], min_price="100") == ["红色贵"]


def test_facets_count_the_unfiltered_result_set(client, make_product, colours):
    make_product(name="a", options=[colours["red"]])
    make_product(name="b", options=[colours["red"], colours["cotton"]])
    facets = client.get("/products/").context["facets"]
    counts = {v["value"].value: v["count"] for a in facets.attributes for v in a["values"]}
    assert counts == {"红色": 2, "纯棉": 1}


def test_facet_counts_follow_attribute_changes(client, make_product, colours, settings):
    """On PostgreSQL the counts come from a per-product copy of its values kept by triggers."""
    settings.PAGE_CACHE_ENABLED = False
    product = make_product(name="a", options=[colours["red"], colours["cotton"]])
    make_product(name="b", options=[colours["red"]])
    product.attribute_values.remove(colours["red"])
    product.attribute_values.add(colours["blue"])
    Product.attribute_values.through.objects.filter(product=product, attributevalue=colours["cotton"]).delete()

    def counts(path: str) -> dict[str, int]:
        caches["pages"].clear()
        facets = client.get(path).context["facets"]
        return {v["value"].value: v["count"] for a in facets.attributes for v in a["values"]}

    assert counts("/products/") == {"红色": 1, "蓝色": 1}
    assert counts(f"/products/?av={colours['blue'].pk}") == {"红色": 1, "蓝色": 1}  # the unfiltered set
    product.delete()
    assert counts("/products/") == {"红色": 1}


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("price_asc", ["cheap", "mid", "dear"]),
        ("price_desc", ["dear", "mid", "cheap"]),
        ("newest", ["dear", "mid", "cheap"]),
        ("popular", ["mid", "cheap", "dear"]),
    ],
)
def test_sorts(client, make_product, sort, expected):
    make_product(name="cheap", price="10.00", sales_count=5)
    make_product(name="mid", price="20.00", sales_count=50)
    make_product(name="dear", price="30.00", sales_count=1)
    assert names(client.get("/products/", {"sort": sort})) == expected


@override_settings(CATALOG_PAGE_SIZE=2)
def test_paging_keeps_filters_and_sort(client, make_product, colours):
    for i in range(5):
        make_product(name=f"red{i}", price=f"{10 + i}.00", options=[colours["red"]])
    make_product(name="blue", price="1.00", options=[colours["blue"]])
    response = client.get("/products/", {"av": colours["red"].pk, "sort": "price_asc", "page": 2})
    assert names(response) == ["red2", "red3"]
    body = response.content.decode()
    assert f"av={colours['red'].pk}" in body and "sort=price_asc" in body and "page=3" in body


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"min_price": "-5"}, "greater than or equal to 0"),
        ({"max_price": "abc"}, "Enter a number"),
        ({"min_price": "50", "max_price": "10"}, "must not be below the minimum"),
        ({"sort": "bogus"}, "bogus"),
        ({"page": str(10**9)}, "showing the last one"),
        ({"page": "-1"}, "Pages start at 1"),
        ({"page": "x"}, "is not a page number"),
        ({"brand": "999999"}, "999999"),
        ({"av": "not-a-number"}, "not-a-number"),
        ({"q": "x" * 5000}, None),
        ({"q": "'\\\"):*&|!"}, None),
    ],
)
@override_settings(LANGUAGE_CODE="en")
def test_bad_query_strings_get_a_clear_page_not_a_500(client, make_product, params, message):
    make_product(name="纯棉T恤", price="30.00")
    response = client.get("/search/" if "q" in params else "/products/", params, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    if message:
        assert message in response.content.decode()
    if "q" not in params:
        assert names(response) == ["纯棉T恤"]  # the bad parameter was dropped, the rest served


def test_product_page_shows_variants_specs_and_stock_status(client, tree, colours, settings):
    settings.PAGE_CACHE_ENABLED = False
    product = factories.ProductFactory(
        name="纯棉T恤", category=tree["tees"], specifications=[["产地", "浙江"]], price=Decimal("59.00")
    )
    red = factories.VariantFactory(product=product, sku="TEE-RED", price=Decimal("59.00"))
    red.options.set([colours["red"]])
    blue = factories.VariantFactory(product=product, sku="TEE-BLUE", price=Decimal("69.00"), low_stock_threshold=5)
    blue.options.set([colours["blue"]])
    gone = factories.VariantFactory(product=product, sku="TEE-GONE", price=Decimal("79.00"))
    factories.StockFactory(variant=red, product=product, on_hand=50)
    factories.StockFactory(variant=blue, product=product, on_hand=3)
    factories.StockFactory(variant=gone, product=product, on_hand=4, reserved=4)
    for _ in range(2):  # rendered, then from the cached body: the same page
        response = client.get(product.get_absolute_url())
        assert response.status_code == 200
        body = response.content.decode()
        # What product.js reads (the page's frame is not rendered by a template per request).
        script = body[body.index('<script id="variant-data" type="application/json">') :]
        variant_data = json.loads(script[script.index(">") + 1 : script.index("</script>")])
        status = {v["sku"]: v["status"] for v in variant_data}
        assert status == {"TEE-RED": "in_stock", "TEE-BLUE": "low", "TEE-GONE": "out"}
        assert "浙江" in body and 'id="variant-data"' in body
        crumbs = body[body.index('class="crumbs"') : body.index("</nav>", body.index('class="crumbs"'))]
        assert [tree[s].get_absolute_url() in crumbs for s in ("clothing", "men", "tees")] == [True] * 3
        data = {v["sku"]: v for v in variant_data}
        assert data["TEE-BLUE"]["price"] == "¥69.00" and data["TEE-BLUE"]["options"] == [colours["blue"].pk]
        assert '<span class="price big" id="price">¥59.00</span>' in body
        assert 'class="status in_stock"' in body and f'value="{red.pk}"' in body


def test_product_page_shows_price_stock_and_title_changes_at_once(client, make_product, tree, settings):
    """The page body is cached, but prices and stock are read on every request, and an edit
    (a new updated_at) renders the body again."""
    settings.PAGE_CACHE_ENABLED = False
    from catalog.models import ProductVariant
    from fulfillment.models import Stock

    product = make_product(name="旧名字", price="30.00", stock=50, category=tree["tees"])
    variant = product.variants.get()
    url = product.get_absolute_url()
    assert '<span class="price big" id="price">¥30.00</span>' in client.get(url).content.decode()
    # Writes that bypass signals, so no page-cache clear follows them.
    ProductVariant.objects.filter(pk=variant.pk).update(price=Decimal("25.00"), compare_at_price=Decimal("40.00"))
    Stock.objects.filter(variant=variant).update(on_hand=2)
    body = client.get(url).content.decode()
    assert '<span class="price big" id="price">¥25.00</span>' in body and "¥40.00</s>" in body
    assert 'class="status low"' in body
    product.name = "新名字"
    product.save()
    body = client.get(url).content.decode()
    assert "<h1>新名字</h1>" in body and "旧名字" not in body


def test_product_page_without_variants_shows_the_product_price(client, tree):
    product = factories.ProductFactory(name="无规格", category=tree["tees"], price=Decimal("12.00"))
    body = client.get(product.get_absolute_url()).content.decode()
    assert '<span class="price big" id="price">¥12.00</span>' in body


def test_related_products_exclude_the_product(client, make_product, tree):
    product = make_product(name="主商品", category=tree["tees"])
    other = make_product(name="同类", category=tree["tees"])
    make_product(name="别类", category=tree["kitchen"])
    body = client.get(product.get_absolute_url()).content.decode()
    related = body[body.index('<ul class="grid">') :]
    assert other.get_absolute_url() in related and "同类" in related
    assert "别类" not in related and product.get_absolute_url() not in related
    # The cards are kept per category: the other product's page lists the first one instead.
    related = client.get(other.get_absolute_url()).content.decode().split('<ul class="grid">')[1]
    assert product.get_absolute_url() in related and other.get_absolute_url() not in related


def test_language_switch_sets_cookie_and_translates(client):
    response = client.get("/lang/en/", {"next": "/products/"})
    assert response.status_code == 302 and response["Location"] == "/products/"
    assert client.get("/products/").content.decode().count("All products") >= 1
    response = client.get("/lang/zh-hans/", {"next": "https://evil.example.com/"})
    assert response["Location"] == "/"


# --- query counts ------------------------------------------------------------------------


def _catalogue(make_product, tree, colours, n: int) -> list[Product]:
    return [
        make_product(
            name=f"纯棉商品{i}",
            name_en=f"cotton product {i}",
            category=tree["tees"],
            options=[colours["red"] if i % 2 else colours["blue"], colours["cotton"]],
        )
        for i in range(n)
    ]


PAGES = [
    "/",
    "/products/",
    "/c/clothing/",
    "/c/tees/?sort=price_asc&min_price=1&av={red}",
    "/search/?q=纯棉",
    "/search/?q=cotton&sort=newest",
]


@pytest.mark.parametrize("url", PAGES)
def test_listing_queries_do_not_grow_with_catalogue_or_page_size(
    client, make_product, tree, colours, url, django_assert_num_queries, settings
):
    url = url.format(red=colours["red"].pk)
    settings.PAGE_CACHE_ENABLED = False
    _catalogue(make_product, tree, colours, 3)
    settings.CATALOG_PAGE_SIZE = 2
    client.get(url)  # warm per-process lookups (content types, jieba)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    caches["pages"].clear()  # measure with cold facets: the worst case
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    _catalogue(make_product, tree, colours, 30)
    settings.CATALOG_PAGE_SIZE = 24
    caches["pages"].clear()
    # The products came with brands of their own: the process reads the taxonomy again once
    # (catalog.selectors.taxonomy_current), after any write to it, not per product.
    selectors.taxonomy_current()
    with django_assert_num_queries(len(small)):
        response = client.get(url)
    shown = "new_arrivals" if url == "/" else "products"
    assert len(response.context[shown]) > 2


@override_settings(CATALOG_PAGE_SIZE=2, CATALOG_COUNT_CAP=3)
def test_counts_are_capped_on_huge_listings(client, make_product):
    for i in range(5):
        make_product(name=f"p{i}")
    response = client.get("/products/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.context["page"].paginator.count == 3
    assert "More than 3 products" in response.content.decode()
    assert names(client.get("/products/", {"page": 2})) == ["p2"]


def test_facets_are_computed_once_per_minute(client, make_product, django_assert_max_num_queries):
    make_product(name="a")
    client.get("/products/")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as warm:
        client.get("/products/?sort=newest")
    caches["pages"].clear()
    with CaptureQueriesContext(connection) as cold:
        client.get("/products/?sort=newest")
    assert len(warm) < len(cold)


def test_product_page_queries_do_not_grow_with_variants(client, tree, colours, django_assert_num_queries, settings):
    settings.PAGE_CACHE_ENABLED = False

    def build(n: int) -> Product:
        product = factories.ProductFactory(category=tree["tees"])
        for i in range(n):
            variant = factories.VariantFactory(product=product)
            variant.options.set([colours["red"] if i % 2 else colours["blue"]])
            factories.StockFactory(variant=variant, product=product, on_hand=i)
        return product

    small, big = build(1), build(12)
    client.get(small.get_absolute_url())
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    caches["pages"].clear()
    with CaptureQueriesContext(connection) as cold:  # the body rendered and cached
        client.get(small.get_absolute_url())
    with CaptureQueriesContext(connection) as warm:  # the body from the cache
        client.get(small.get_absolute_url())
    caches["pages"].clear()
    with django_assert_num_queries(len(cold)):
        client.get(big.get_absolute_url())
    with django_assert_num_queries(len(warm)):
        client.get(big.get_absolute_url())
    # Cold: +1 for "bought together" (the recommendations task's list), kept with the body after.
    assert len(cold) <= 9
    assert len(warm) == 1  # prices and stock, live


def test_brand_facet_shows_the_biggest_brands_and_keeps_a_selected_one(client, make_product, monkeypatch):
    from catalog import selectors

    monkeypatch.setattr(selectors, "FACET_BRANDS", 2)
    big, mid, small = (factories.BrandFactory(name=n) for n in ("大", "中", "小"))
    for brand, n in ((big, 3), (mid, 2), (small, 1)):
        for _ in range(n):
            make_product(brand=brand)
    response = client.get("/products/", {"brand": small.pk})
    facets = response.context["facets"]
    assert {e["brand"].name for e in facets.brands} == {"大", "中"}
    assert facets.brands_hidden == 1
    assert [b.name for b in response.context["selected_extra_brands"]] == ["小"]
    assert f'value="{small.pk}" checked' in response.content.decode()


def test_broad_searches_are_not_ranked(client, make_product, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_product(name="纯棉 好卖", sales_count=100)
    make_product(name="纯棉 一般", sales_count=1)
    with CaptureQueriesContext(connection) as narrow:
        assert names(client.get("/search/", {"q": "纯棉"})) == ["纯棉 好卖", "纯棉 一般"]
    assert any("ts_rank" in q["sql"] for q in narrow)
    settings.SEARCH_RANK_MAX_HITS = 1
    with CaptureQueriesContext(connection) as broad:
        assert names(client.get("/search/", {"q": "纯棉", "page": "1"})) == ["纯棉 好卖", "纯棉 一般"]
    assert not any("ts_rank" in q["sql"] for q in broad)
