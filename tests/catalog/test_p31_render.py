"""The listing's render with nothing cached (part P31): the same bytes as before, less work per
card, checkbox and placeholder, and no failed lookup in the template."""

from decimal import Decimal
from pathlib import Path

import django.template.base
import pytest
from django.template.defaultfilters import floatformat
from django.utils import translation

from catalog.models import Product
from catalog.templatetags import catalog_tags
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_cards_link_and_picture_products_as_product_does(language, make_product, settings):
    """The grid takes the products' URL prefix and MEDIA_URL once: each card's link, picture and
    "was" price are still Product.get_absolute_url's, card_image_url's and on_sale's."""
    settings.MEDIA_URL = "/media&x/"
    make_product(name="纯棉<T恤>", name_en='Cotton "tee"', price="59.00", slug="tee")
    make_product(name="特价", price="39.00", slug="sale")
    make_product(name="原价", price="39.00", compare_at_price="39.00", slug="same")
    # Both denormalised from the product's images and variants: set as those would.
    Product.objects.filter(slug="tee").update(card_image="cards/a&b.webp")
    Product.objects.filter(slug="sale").update(compare_at_price=Decimal("49.50"))
    from catalog.selectors import CARD_FIELDS

    rows = Product.objects.order_by("slug").values_list(*CARD_FIELDS)
    cards = [catalog_tags.ProductCard(row) for row in rows]
    products = list(Product.objects.order_by("slug"))
    with translation.override(language):
        for grid in (cards, products):
            html = catalog_tags.cards_html(grid, eager=1)
            for card, product in zip(html, grid, strict=True):
                url, image, on_sale = product.get_absolute_url(), product.card_image_url, product.on_sale
                assert f'<a href="{url}">' in card
                assert (f'<img src="{image.replace("&", "&amp;")}"' in card) == bool(image)
                assert ('<s class="was">' in card) == on_sale
    assert '<img src="/media&amp;x/cards/a&amp;b.webp" alt="" loading="lazy"' in html[2]
    assert '<s class="was">¥49.50</s>' in html[0] and "was" not in html[1]  # sale, same, tee


def test_a_grid_reads_media_url_once_not_per_card(make_product, monkeypatch):
    for slug in ("one", "two"):
        make_product(slug=slug)
        Product.objects.filter(slug=slug).update(card_image=f"cards/{slug}.webp")
    reads = []

    class Settings:
        @property
        def MEDIA_URL(self):
            reads.append(1)
            return "/media/"

    monkeypatch.setattr(catalog_tags, "settings", Settings())
    html = catalog_tags.cards_html(list(Product.objects.order_by("slug")))
    assert len(reads) == 1
    assert '<img src="/media/cards/one.webp"' in html[0] and '<img src="/media/cards/two.webp"' in html[1]


def test_a_checkbox_label_is_escaped_once_per_process_not_per_page(monkeypatch):
    """A facet's checkboxes are the same on every page of a catalogue: the label's escaped text
    is kept per (facet, id, label), so the language's label and a renamed brand each get theirs."""
    catalog_tags._check_parts.cache_clear()
    brand = factories.BrandFactory.build(pk=7, name="乐<云>", name_en="Le & Cloud")
    entries = [{"brand": brand, "count": 3}]
    escaped = []
    real = catalog_tags._escape
    monkeypatch.setattr(catalog_tags, "_escape", lambda text: escaped.append(text) or real(text))
    pages = []
    for language in ("zh-hans", "en", "zh-hans", "en"):
        with translation.override(language):
            pages.append(catalog_tags.facet_checks("brand", entries, "brand", {7}, False))
    assert escaped == ["乐<云>", "Le & Cloud"]
    assert (
        pages[0]
        == pages[2]
        == (
            '<label class="check"><input type="checkbox" name="brand" value="7" checked> 乐&lt;云&gt; '
            "<small>(3)</small></label>"
        )
    )
    assert pages[1] == pages[3] and "> Le &amp; Cloud <small>(3)" in pages[1]
    brand.name = "乐云二"  # a rename: a new label, a new entry
    with translation.override("zh-hans"):
        assert "> 乐云二 <small>(3)" in catalog_tags.facet_checks("brand", entries, "brand", set(), False)


def test_estimated_counts_read_about_n_per_language():
    brand = factories.BrandFactory.build(pk=1, name="牌", name_en="B")
    entries = [{"brand": brand, "count": 12345}]
    with translation.override("en"):
        english = catalog_tags.facet_checks("brand", entries, "brand", set(), True)
    with translation.override("zh-hans"):
        chinese = catalog_tags.facet_checks("brand", entries, "brand", set(), True)
        about = translation.gettext("about %(n)s") % {"n": catalog_tags.estimate(12345)}
    assert english.endswith("<small>(about 12,300)</small></label>")
    assert chinese.endswith(f"<small>({about})</small></label>") and "about" not in chinese


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_whole_shows_a_price_as_floatformat_0_does(language, monkeypatch):
    values = [
        Decimal("0.00"),
        Decimal("12.49"),
        Decimal("12.50"),
        Decimal("12.5"),
        Decimal("99999.99"),
        Decimal("1234"),
    ]
    with translation.override(language):
        assert [catalog_tags.whole(v) for v in values] == [floatformat(v, 0) for v in values]
        calls = []
        monkeypatch.setattr(catalog_tags, "floatformat", lambda *a: calls.append(a))
        assert [catalog_tags.whole(v) for v in values] == [floatformat(v, 0) for v in values]
    assert calls == []  # kept per value and language


def test_the_listing_renders_without_a_failed_lookup(client, make_product, monkeypatch, settings):
    """A variable the template looks up on an object that lacks it makes the engine try it as an
    item, an attribute and an index and list the object's names (dir()) to tell why: the "in
    stock only" box looked its value up in request.GET, and failed on every listing without it."""
    settings.PAGE_CACHE_ENABLED = False
    make_product(name="纯棉T恤", price="59.00", slug="tee")
    client.get("/products/")
    failed = []
    monkeypatch.setattr(django.template.base, "dir", lambda obj: failed.append(type(obj)) or [], raising=False)
    for query in ({}, {"q": "纯棉"}, {"in_stock": "true"}, {"in_stock": "false"}, {"in_stock": ["false", "true"]}):
        response = client.get("/products/", query)
        checked = 'name="in_stock" value="true" checked>' in response.content.decode()
        # As request.GET.in_stock read it: the last value.
        assert checked == (query.get("in_stock") in ("true", ["false", "true"])), query
    assert failed == []


# The filter form as product_list.html wrote it before filters_form (7782a8f), the "in stock
# only" box as request.GET.in_stock read it.
OLD_FORM = "{% load i18n memo catalog_tags %}" + (Path(__file__).parent / "p31_filter_form_before.html").read_text()


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("estimated", [False, True])
@pytest.mark.parametrize("chosen", [False, True])
def test_the_filter_form_renders_as_the_template_did(language, estimated, chosen, rf):
    """filters_form: one tag for the form the template built from 25 nodes and 6 memo regions,
    the same bytes for a search or not, filters chosen or not, estimated counts or exact, in
    both languages (each value escaped as the template escaped it)."""
    from catalog.selectors import Facets

    colour = factories.AttributeFactory.build(pk=3, name="颜色", name_en="Colour & tone")
    values = [
        factories.AttributeValueFactory.build(pk=i, attribute=colour, value=f"色{i}", value_en="") for i in (4, 5)
    ]
    brands = [factories.BrandFactory.build(pk=i, name=f"牌<{i}>", name_en=f'B"{i}' if i % 2 else "") for i in (1, 2)]
    extra = factories.BrandFactory.build(pk=9, name="额外&牌", name_en="Extra")
    facets = Facets(
        brands=[{"brand": b, "count": 1234 * b.pk} for b in brands],
        attributes=[{"attribute": colour, "values": [{"value": v, "count": v.pk} for v in values]}],
        price_min=Decimal("12.50") if chosen else None,
        price_max=Decimal("1999.99") if chosen else None,
        in_stock=23456,
        brands_hidden=3 if chosen else 0,
        estimated=estimated,
    )
    query = "纯棉 <b>&\"'" if chosen else ""
    params = {"in_stock": "true", "min_price": "10.5"} if chosen else {}
    request = rf.get("/search/", params)
    context = {
        "request": request,
        "facets": facets,
        "query": query,
        "sort": "price_asc" if chosen else "popular",
        "min_price": Decimal("10.5") if chosen else None,
        "max_price": None,
        "in_stock_only": chosen,
        "active_filters": chosen,
        "selected_brands": {2} if chosen else set(),
        "selected_extra_brands": [extra] if chosen else [],
        "selected_values": {5} if chosen else set(),
    }
    from django.template import engines

    with translation.override(language):
        expected = engines["django"].from_string(OLD_FORM).render(context)
        new = engines["django"].from_string("{% load catalog_tags %}{% filters_form %}").render(context)
    assert new == expected
    assert ("&lt;b&gt;&amp;&quot;&#x27;" in new) == chosen
    assert ("额外&amp;牌" in new or "Extra" in new) == chosen


def test_the_filter_form_looks_up_the_language_once(monkeypatch, rf):
    """Its seven facets and each attribute's legend looked the language up for themselves."""
    from catalog.selectors import Facets

    attributes = []
    for pk in (1, 2):
        attribute = factories.AttributeFactory.build(pk=pk, name=f"属性{pk}", name_en=f"A{pk}")
        value = factories.AttributeValueFactory.build(pk=pk, attribute=attribute, value=f"值{pk}", value_en="")
        attributes.append({"attribute": attribute, "values": [{"value": value, "count": 3}]})
    brand = factories.BrandFactory.build(pk=1, name="牌", name_en="B")
    facets = Facets(brands=[{"brand": brand, "count": 4}], attributes=attributes, in_stock=5, estimated=True)
    context = {
        "facets": facets,
        "query": "",
        "sort": "popular",
        "min_price": None,
        "max_price": None,
        "in_stock_only": False,
        "active_filters": False,
        "selected_brands": set(),
        "selected_extra_brands": [],
        "selected_values": set(),
    }
    calls = []
    real = catalog_tags.get_language
    monkeypatch.setattr(catalog_tags, "get_language", lambda: calls.append(1) or real())
    with translation.override("en"):
        html = catalog_tags.filters_form(context)
    assert len(calls) == 1
    assert "<legend>A1</legend>" in html and "<legend>A2</legend>" in html and "> 值2 <small>(about 3)" in html
