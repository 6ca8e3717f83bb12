"""The listing pages' Python when nothing is cached: what a request must not redo."""

import pytest
from django import forms
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def red(db):
    colour = factories.AttributeFactory(code="colour", name="颜色", name_en="Colour")
    return factories.AttributeValueFactory(attribute=colour, value="红色", value_en="red")


def test_a_filtered_listing_binds_no_form_and_lists_each_product_once(client, make_product, red, monkeypatch, settings):
    """Filters are parsed by fields built once per process: binding a FilterSet per request
    deep-copied its filters and its form's fields (about 1.5 ms of a filtered listing), and its
    brand filter made the products query SELECT DISTINCT (a product has one brand)."""
    settings.PAGE_CACHE_ENABLED = False
    brand = factories.BrandFactory(name="优品")
    make_product(name="红色纯棉", price="50.00", brand=brand, options=[red])
    make_product(name="别的牌子", price="50.00", options=[red])
    make_product(name="太贵", price="500.00", brand=brand, options=[red])

    def copied(field, memo):
        raise AssertionError(f"a form field was copied for the request: {field!r}")

    monkeypatch.setattr(forms.Field, "__deepcopy__", copied)
    params = {"brand": brand.pk, "av": red.pk, "max_price": "100", "in_stock": "on", "sort": "newest"}
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/products/", params)
    assert response.status_code == 200
    assert [p.name for p in response.context["products"]] == ["红色纯棉"]
    listed = [q["sql"] for q in queries if "ORDER BY" in q["sql"] and "LIMIT" in q["sql"]]
    assert listed and not any("DISTINCT" in sql for sql in listed)
    # The value is matched on the row's copy of its values, as the facets do: no EXISTS on the
    # through table for each product the index walk passes.
    assert not any("catalog_product_attribute_values" in sql for sql in listed)


def test_category_links_are_joined_not_reversed_per_link(client, monkeypatch, settings):
    """A listing links its subcategories, its breadcrumbs and the root categories: the URL
    prefix is reversed once per process (reverse() was most of a link's cost)."""
    import catalog.models

    settings.PAGE_CACHE_ENABLED = False
    clothing = factories.CategoryFactory(name="服装", slug="clothing")
    men = factories.CategoryFactory(parent=clothing, name="男装", slug="men")
    factories.CategoryFactory(parent=men, name="T恤", slug="tees")
    client.get("/c/men/")
    reversed_ = []
    real = catalog.models.reverse
    monkeypatch.setattr(catalog.models, "reverse", lambda *a, **k: reversed_.append(a) or real(*a, **k))
    body = client.get("/c/men/").content.decode()
    assert reversed_ == []
    assert 'href="/c/clothing/"' in body and 'href="/c/tees/"' in body
    assert men.get_absolute_url() == "/c/men/"


def test_sort_links_and_attribute_fieldsets_render_as_the_template_loops_did():
    from catalog.templatetags.catalog_tags import attribute_facets, sort_links

    choices = [("popular", "Popularity"), ("newest", "Newest <new>")]
    assert sort_links("brand=1&page=3&sort=popular", choices, "newest") == (
        '<a href="?brand=1&amp;sort=popular" >Popularity</a>'
        '<a href="?brand=1&amp;sort=newest" class="on" aria-current="true">Newest &lt;new&gt;</a>'
    )
    colour = factories.AttributeFactory.build(code="colour", name="颜色<>")
    red = factories.AttributeValueFactory.build(attribute=colour, value="红色", pk=7)
    html = attribute_facets([{"attribute": colour, "values": [{"value": red, "count": 3}]}], {7})
    assert html == (
        "<fieldset><legend>颜色&lt;&gt;</legend>\n        "
        '<label class="check"><input type="checkbox" name="av" value="7" checked> 红色 <small>(3)</small></label>'
        "\n      </fieldset>"
    )


def test_a_listing_makes_its_cards_from_rows_not_products(client, make_product, monkeypatch, settings):
    """Building 24 Products with their other fields deferred was about half a millisecond of a
    listing: the cards are made from the rows (catalog_tags.ProductCard)."""
    from catalog.models import Product

    settings.PAGE_CACHE_ENABLED = False
    make_product(name="纯棉T恤", price="59.00", slug="tee")
    make_product(name="特价T恤", price="39.00", slug="sale")
    client.get("/products/")
    built = []
    real = Product.from_db.__func__
    monkeypatch.setattr(Product, "from_db", classmethod(lambda cls, *a: built.append(a) or real(cls, *a)))
    response = client.get("/products/", {"sort": "price_asc"})
    assert built == []
    assert [(p.name, p.pk) for p in response.context["products"]] == [
        ("特价T恤", Product.objects.get(slug="sale").pk),
        ("纯棉T恤", Product.objects.get(slug="tee").pk),
    ]
    body = response.content.decode()
    assert '<a href="/p/sale/">' in body and '<span class="price">¥39.00</span>' in body
