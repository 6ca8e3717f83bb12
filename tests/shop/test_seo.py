"""What search engines read: robots.txt, the sitemap (absolute URLs from SITE_URL, a constant
number of queries), canonical links and meta descriptions, and a product's JSON-LD."""

import json
import re
from decimal import Decimal
from html import unescape

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import Product
from tests import factories

pytestmark = pytest.mark.django_db

SITE = "https://shop.example.com"


@pytest.fixture(autouse=True)
def site(settings):
    settings.SITE_URL = SITE
    settings.PAGE_CACHE_ENABLED = False
    caches["pages"].clear()


def head(response) -> str:
    return response.content.decode().split("</head>")[0]


def canonical(response) -> str:
    found = re.findall(r'<link rel="canonical" href="([^"]*)">', head(response))
    assert len(found) == 1
    return unescape(found[0])


def description(response) -> str:
    found = re.findall(r'<meta name="description" content="([^"]*)">', head(response))
    assert len(found) == 1
    return unescape(found[0])


def structured(response) -> dict:
    found = re.findall(r'<script type="application/ld\+json">(.*?)</script>', response.content.decode(), re.S)
    assert len(found) == 1
    return json.loads(found[0])


def test_robots_txt_allows_the_catalogue_and_points_to_the_sitemap(client):
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert "User-agent: *" in text
    assert "Allow: /\n" in text
    for path in ("/cart/", "/checkout/", "/account/", "/orders/", "/payments/", "/aftersales/", "/admin/"):
        assert f"Disallow: {path}\n" in text
    assert "Disallow: /p/" not in text and "Disallow: /c/" not in text
    assert f"Sitemap: {SITE}/sitemap.xml" in text


def test_sitemap_lists_pages_categories_and_active_products_with_absolute_urls(client, make_product):
    category = factories.CategoryFactory(slug="kitchen")
    factories.CategoryFactory(slug="hidden", is_active=False)
    product = make_product(name="锅", slug="pan", category=category)
    make_product(name="旧", slug="gone", is_active=False)

    index = client.get("/sitemap.xml", HTTP_HOST="testserver").content.decode()
    assert f"<loc>{SITE}/sitemap-products.xml</loc>" in index
    assert f"<loc>{SITE}/sitemap-categories.xml</loc>" in index

    pages = client.get("/sitemap-pages.xml").content.decode()
    assert f"<loc>{SITE}/</loc>" in pages and f"<loc>{SITE}/products/</loc>" in pages
    categories = client.get("/sitemap-categories.xml").content.decode()
    assert f"<loc>{SITE}/c/kitchen/</loc>" in categories
    assert "hidden" not in categories
    response = client.get("/sitemap-products.xml")
    assert response["Content-Type"].startswith("application/xml")
    products = response.content.decode()
    assert f"<loc>{SITE}/p/pan/</loc>" in products
    # The shop's date (Beijing): the UTC date is the day before from 00:00 to 08:00 there.
    assert f"<lastmod>{timezone.localdate(product.updated_at).isoformat()}" in products
    assert "/p/gone/" not in products
    assert "testserver" not in index + pages + categories + products


def test_sitemap_is_paginated_by_django(client, make_product, monkeypatch):
    from catalog import sitemaps

    monkeypatch.setattr(sitemaps.ProductSitemap, "limit", 2)
    for i in range(5):
        make_product(name=f"p{i}", slug=f"p{i}")
    index = client.get("/sitemap.xml").content.decode()
    assert f"<loc>{SITE}/sitemap-products.xml?p=3</loc>" in index
    assert f"{SITE}/sitemap-products.xml?p=4" not in index
    assert client.get("/sitemap-products.xml?p=3").content.decode().count("<url>") == 1
    assert client.get("/sitemap-products.xml?p=4").status_code == 404


def test_sitemap_queries_do_not_grow_with_the_catalogue(client, make_product):
    def measure() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as products:
            assert client.get("/sitemap-products.xml").status_code == 200
        with CaptureQueriesContext(connection) as index:
            assert client.get("/sitemap.xml").status_code == 200
        return len(products), len(index)

    make_product(name="a")
    client.get("/sitemap-products.xml")  # warm per-process lookups
    small = measure()
    for i in range(15):
        make_product(name=f"b{i}", category=factories.CategoryFactory())
    assert measure() == small
    assert small[0] <= 2  # a count and one page of two columns


def test_home_has_canonical_and_description(client):
    response = client.get("/?utm_source=mail", HTTP_ACCEPT_LANGUAGE="en")
    assert canonical(response) == f"{SITE}/"
    assert description(response).startswith("Good things, delivered.")


def test_category_canonical_drops_sorting_filters_and_tracking(client, make_product):
    category = factories.CategoryFactory(name="厨具", name_en="Kitchen", slug="kitchen")
    make_product(name="锅", category=category)
    response = client.get("/c/kitchen/?sort=price_asc&in_stock=true&utm_source=x", HTTP_ACCEPT_LANGUAGE="en")
    assert canonical(response) == f"{SITE}/c/kitchen/"
    assert "Kitchen" in description(response)
    assert '<meta name="robots"' not in head(response)


def test_later_listing_pages_keep_their_number(client, make_product, settings):
    settings.CATALOG_PAGE_SIZE = 1
    make_product(name="a")
    make_product(name="b")
    assert canonical(client.get("/products/?page=2&sort=newest")) == f"{SITE}/products/?page=2"
    assert canonical(client.get("/products/?page=1")) == f"{SITE}/products/"


NOINDEX = '<meta name="robots" content="noindex, follow">'


def test_plain_search_with_results_is_indexed_with_a_canonical_to_its_words(client, make_product):
    """The common shop policy (Lighthouse's SEO 69 on search was the noindex): a plain search,
    first page, with results, may be indexed; tracking parameters and page=1 do not change that."""
    make_product(name="纯棉T恤")
    for url in ("/search/?q=纯棉", "/search/?q=纯棉&utm_source=mail&page=1", "/products/?q=纯棉"):
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
        assert canonical(response) == f"{SITE}/search/?q=%E7%BA%AF%E6%A3%89", url
        assert "纯棉" in description(response)
        assert '<meta name="robots"' not in head(response), url


def test_search_variants_are_not_indexed(client, make_product, settings):
    settings.CATALOG_PAGE_SIZE = 1
    category = factories.CategoryFactory(slug="tops")
    make_product(name="纯棉T恤", category=category)
    make_product(name="纯棉衬衫", category=category)
    words = "%E7%BA%AF%E6%A3%89"
    variants = {
        "/search/?q=纯棉&sort=newest": f"{SITE}/search/?q={words}",
        "/search/?q=纯棉&sort=relevance&min_price=&in_stock=on": f"{SITE}/search/?q={words}",
        "/search/?q=纯棉&min_price=1": f"{SITE}/search/?q={words}",
        "/search/?q=纯棉&page=2": f"{SITE}/search/?q={words}&page=2",
        "/c/tops/?q=纯棉": f"{SITE}/c/tops/?q={words}",
        "/search/?q=没有这种东西": f"{SITE}/search/?q=%E6%B2%A1%E6%9C%89%E8%BF%99%E7%A7%8D%E4%B8%9C%E8%A5%BF",
    }
    for url, expected in variants.items():
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
        assert NOINDEX in head(response), url
        assert canonical(response) == expected, url


def test_product_page_canonical_description_and_structured_data(client, make_product):
    brand = factories.BrandFactory(name="好牌", name_en="GoodBrand")
    product = make_product(name="铸铁锅", name_en="Iron pan", price="129.00", brand=brand, summary="A heavy pan.")
    Product.objects.filter(pk=product.pk).update(card_image="products/pan.jpg")
    response = client.get(product.get_absolute_url() + "?utm_source=x", HTTP_ACCEPT_LANGUAGE="en")
    assert canonical(response) == f"{SITE}{product.get_absolute_url()}"
    assert description(response) == "A heavy pan."
    data = structured(response)
    assert data["@type"] == "Product"
    assert data["name"] == "Iron pan"
    assert data["sku"] == product.variants.get().sku
    assert data["brand"] == {"@type": "Brand", "name": "GoodBrand"}
    assert data["image"].startswith(f"{SITE}/")
    assert data["offers"]["price"] == "129.00"
    assert data["offers"]["priceCurrency"] == "CNY"
    assert data["offers"]["availability"] == "https://schema.org/InStock"
    assert data["offers"]["url"] == f"{SITE}{product.get_absolute_url()}"
    assert "aggregateRating" not in data


def test_product_description_without_summary_is_name_and_price(client, make_product):
    product = make_product(name="锅", name_en="Pan", price="88.00", summary="")
    text = description(client.get(product.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en"))
    assert text.startswith("Pan, ") and "88" in text


def test_structured_data_follows_stock_and_reviews_live(client, make_product):
    product = make_product(name="锅", stock=0)
    client.get(product.get_absolute_url())  # the body cached
    Product.objects.filter(pk=product.pk).update(rating_count=3, rating_sum=13, rating=Decimal("4.33"))
    data = structured(client.get(product.get_absolute_url()))
    assert data["offers"]["availability"] == "https://schema.org/OutOfStock"
    assert data["aggregateRating"]["ratingValue"] == "4.33"
    assert data["aggregateRating"]["reviewCount"] == 3


def test_a_product_name_cannot_close_the_script(client, make_product):
    name = "</script><script>alert(1)</script><!--"
    product = make_product(name=name, name_en=name, summary="<b>&</b>")
    body = client.get(product.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    block = body.split('<script type="application/ld+json">')[1].split("</script>")[0]
    assert "<" not in block and ">" not in block
    data = json.loads(block)
    assert data["name"] == name
    assert data["description"] == "<b>&</b>"
    assert "<script>alert(1)" not in body


def test_structured_data_adds_no_query_to_the_product_page(client, make_product):
    product = make_product(name="锅")
    client.get(product.get_absolute_url())
    with CaptureQueriesContext(connection) as warm:
        client.get(product.get_absolute_url())
    assert len(warm) == 1  # prices, stock and rating: the one live query
