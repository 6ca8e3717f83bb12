"""Facet counts follow the filters already chosen: each group counts within the results as the
OTHER groups' filters narrow them (standard faceted search), so "in stock only (n)" is what
ticking it shows, and choosing a brand still shows what the other brands would give."""

import re

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def shelf(make_product, settings):
    """Eight shirts: two brands, two colours, cotton or not, in stock or not, 40 to 400."""
    settings.PAGE_CACHE_ENABLED = False
    colour = factories.AttributeFactory(code="colour", name="颜色", name_en="Colour", position=0)
    material = factories.AttributeFactory(code="material", name="材质", name_en="Material", position=1)
    v = {
        "red": factories.AttributeValueFactory(attribute=colour, value="红色", value_en="red"),
        "blue": factories.AttributeValueFactory(attribute=colour, value="蓝色", value_en="blue"),
        "cotton": factories.AttributeValueFactory(attribute=material, value="纯棉", value_en="cotton"),
        "linen": factories.AttributeValueFactory(attribute=material, value="亚麻", value_en="linen"),
    }
    acme, bolt = factories.BrandFactory(name="甲"), factories.BrandFactory(name="乙")
    rows = [
        # name, brand, price, stock, values
        ("衬衫 a1", acme, "40.00", 5, ["red", "cotton"]),
        ("衬衫 a2", acme, "60.00", 0, ["red", "linen"]),
        ("衬衫 a3", acme, "80.00", 3, ["blue", "cotton"]),
        ("衬衫 a4", acme, "400.00", 2, ["blue", "linen"]),
        ("衬衫 b1", bolt, "50.00", 0, ["red", "cotton"]),
        ("衬衫 b2", bolt, "70.00", 4, ["red", "cotton"]),
        ("衬衫 b3", bolt, "90.00", 0, ["blue", "linen"]),
        ("衬衫 b4", bolt, "300.00", 1, ["red", "linen"]),
    ]
    for name, brand, price, stock, values in rows:
        make_product(name=name, brand=brand, price=price, stock=stock, options=[v[k] for k in values])
    return {"values": v, "acme": acme, "bolt": bolt}


def listing(client, path="/products/", **params):
    caches["pages"].clear()
    response = client.get(path, params)
    assert response.status_code == 200
    return response.context


def brand_counts(context) -> dict[str, int]:
    return {e["brand"].name: e["count"] for e in context["facets"].brands}


def value_counts(context) -> dict[str, int]:
    return {v["value"].value_en: v["count"] for a in context["facets"].attributes for v in a["values"]}


def shown(context) -> int:
    return context["page"].paginator.count


def test_without_filters_the_counts_are_the_whole_listing(client, shelf):
    context = listing(client)
    assert brand_counts(context) == {"甲": 4, "乙": 4}
    assert value_counts(context) == {"red": 5, "blue": 3, "cotton": 4, "linen": 4}
    assert context["facets"].in_stock == 5 and shown(context) == 8
    assert (context["facets"].price_min, context["facets"].price_max) == (40, 400)


def test_one_filter_narrows_the_other_groups_but_not_its_own(client, shelf):
    context = listing(client, brand=[shelf["acme"].pk])
    assert shown(context) == 4
    # The brands still say what each would give; everything else counts within 甲.
    assert brand_counts(context) == {"甲": 4, "乙": 4}
    assert value_counts(context) == {"red": 2, "blue": 2, "cotton": 2, "linen": 2}
    assert context["facets"].in_stock == 3
    assert (context["facets"].price_min, context["facets"].price_max) == (40, 400)


def test_two_filters_each_group_counts_under_the_others(client, shelf):
    red = shelf["values"]["red"].pk
    context = listing(client, brand=[shelf["bolt"].pk], av=[red])
    assert shown(context) == 3  # b1, b2, b4
    assert brand_counts(context) == {"甲": 2, "乙": 3}  # red ones of each brand
    # Colours under the brand only; materials under the brand and red.
    assert value_counts(context) == {"red": 3, "blue": 1, "cotton": 2, "linen": 1}
    assert context["facets"].in_stock == 2  # b2, b4

    # Two values of one attribute widen (red OR blue); the other attribute narrows.
    context = listing(client, av=[red, shelf["values"]["blue"].pk, shelf["values"]["linen"].pk])
    assert shown(context) == 4
    assert value_counts(context) == {"red": 2, "blue": 2, "cotton": 4, "linen": 4}
    assert brand_counts(context) == {"甲": 2, "乙": 2}


def test_in_stock_only_counts_what_ticking_it_shows(client, shelf):
    blue = shelf["values"]["blue"].pk
    unticked = listing(client, av=[blue])
    ticked = listing(client, av=[blue], in_stock="true")
    assert unticked["facets"].in_stock == shown(ticked) == ticked["facets"].in_stock == 2
    assert shown(unticked) == 3
    # Ticked, the other groups count in-stock products only.
    assert brand_counts(ticked) == {"甲": 2}
    assert value_counts(ticked) == {"red": 3, "blue": 2, "cotton": 1, "linen": 1}
    body = client.get("/products/", {"av": [blue]}).content.decode()
    assert re.search(r'name="in_stock"[^>]*>[^<]*<small>\((\d+)\)</small>', body).group(1) == "2"


def test_price_range_narrows_the_counts_and_the_span_follows_the_others(client, shelf):
    context = listing(client, min_price="50", max_price="100")
    assert shown(context) == 5  # a2 a3 b1 b2 b3
    assert brand_counts(context) == {"甲": 2, "乙": 3}
    assert value_counts(context) == {"red": 3, "blue": 2, "cotton": 3, "linen": 2}
    assert context["facets"].in_stock == 2
    # The price span is the other groups' (none chosen): the whole listing's.
    assert (context["facets"].price_min, context["facets"].price_max) == (40, 400)
    context = listing(client, min_price="50", brand=[shelf["acme"].pk])
    assert (context["facets"].price_min, context["facets"].price_max) == (40, 400)
    assert brand_counts(context) == {"甲": 3, "乙": 4}


def test_a_search_counts_within_its_hits_and_the_filters(client, shelf, make_product):
    make_product(name="炒锅", brand=shelf["acme"], price="120.00")
    context = listing(client, "/search/", q="衬衫", brand=[shelf["acme"].pk], in_stock="true")
    assert shown(context) == 3
    assert brand_counts(context) == {"甲": 3, "乙": 2}  # the wok is not a hit
    assert context["facets"].in_stock == 3
    assert value_counts(context) == {"red": 1, "blue": 2, "cotton": 2, "linen": 1}


def test_a_chosen_value_stays_when_the_others_leave_it_nothing(client, shelf):
    """Red linen in stock from 甲 does not exist: red still shows (0), to be unticked."""
    context = listing(
        client, brand=[shelf["acme"].pk], av=[shelf["values"]["linen"].pk, shelf["values"]["red"].pk], in_stock="true"
    )
    assert shown(context) == 0
    counts = value_counts(context)
    assert counts["red"] == 0 and counts["linen"] == 0
    assert counts["blue"] == 1  # a4


def test_the_facet_cache_keys_the_normalised_choice(client, shelf):
    a, b = shelf["acme"].pk, shelf["bolt"].pk
    caches["pages"].clear()
    first = client.get(f"/products/?brand={a}&brand={b}&in_stock=true&sort=newest")
    with CaptureQueriesContext(connection) as again:  # same choice, spelt otherwise
        second = client.get(f"/products/?in_stock=on&brand={b}&brand={a}&page=1&utm_source=x")
    assert second.context["facets"] == first.context["facets"]
    assert not any("COUNT" in q["sql"] and "brand_id" in q["sql"] for q in again)
    # Another choice is another entry, not the first one's counts.
    other = client.get(f"/products/?brand={a}")
    assert brand_counts(other.context) == {"甲": 4, "乙": 4} and other.context["facets"].in_stock == 3


def test_facet_queries_do_not_grow_with_the_filters_chosen(client, shelf):
    v = shelf["values"]

    def facet_queries(**params) -> int:
        caches["pages"].clear()
        with CaptureQueriesContext(connection) as captured:
            client.get("/products/", params)
        return len(captured)

    # Unfiltered, the counts come from the table the database keeps (one query, catalog.facets);
    # filtered, the chosen products are counted too (one query, per brand and per value), then
    # as many queries however many filters are chosen.
    # The chosen brands and values are looked up in the taxonomy the process keeps (read here,
    # once after the shelf's writes): no query of their own.
    client.get("/products/")
    baseline = facet_queries(sort="newest")
    assert facet_queries(av=[v["red"].pk]) == baseline + 1
    assert facet_queries(av=[v["red"].pk, v["cotton"].pk], brand=[shelf["acme"].pk], min_price="1") == baseline + 1
