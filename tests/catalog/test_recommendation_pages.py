"""The pages only read the recommendations task's lists, within their query budgets: "bought
together" on the product page (no query once cached) and in the cart (one), "for you" on a
signed-in customer's home page (one), never cached for anyone else; best sellers otherwise."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog import selectors
from catalog.models import BoughtTogether, Recommendation
from tests import factories
from tests.purchase import buyer_with_cart, stocked_variant

pytestmark = pytest.mark.django_db


def queries_of(client, url: str) -> tuple[str, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return response.content.decode(), len(queries)


def block(html: str, css_class: str) -> str:
    found = re.search(rf'<section class="{css_class}".*?</section>', html, re.S)
    return found.group(0) if found else ""


@pytest.fixture
def pair(make_product):
    """A product bought with two others, the more often first."""
    main = make_product(name="咖啡机")
    often, once = make_product(name="咖啡豆"), make_product(name="奶泡杯")
    BoughtTogether.objects.create(product=main, other=often, orders=5, position=1)
    BoughtTogether.objects.create(product=main, other=once, orders=1, position=2)
    return main, often, once


def test_the_product_page_shows_bought_together_at_no_query_once_cached(client, pair, settings):
    settings.PAGE_CACHE_ENABLED = False
    main, often, _once = pair
    client.get(main.get_absolute_url())  # warm per-process lookups
    html, warm = queries_of(client, main.get_absolute_url())
    shown = block(html, "bought-together")
    assert shown.index("咖啡豆") < shown.index("奶泡杯")
    assert warm == 1  # unchanged: prices and stock, live

    from django.core.cache import caches

    caches["pages"].delete(f"bought-together:{main.pk}")
    _html, with_list = queries_of(client, main.get_absolute_url())
    assert with_list == warm + 1  # the list, read once and kept with the page's parts
    html, _n = queries_of(client, often.get_absolute_url())
    assert not block(html, "bought-together")  # a product without a list shows no block


def test_the_signed_in_product_page_costs_one_query_more(client, pair, settings, monkeypatch):
    settings.PAGE_CACHE_ENABLED = False
    main, _often, _once = pair
    client.force_login(factories.UserFactory())
    client.get(main.get_absolute_url())
    monkeypatch.setattr(selectors, "is_favourite", lambda **kwargs: False)
    _html, without = queries_of(client, main.get_absolute_url())
    monkeypatch.undo()
    _html, signed_in = queries_of(client, main.get_absolute_url())
    assert signed_in == without + 1  # is it a favourite? (the recently viewed list is in Redis)


def test_the_cart_shows_what_is_bought_with_its_products_for_one_query(client, monkeypatch):
    in_cart, other_in_cart = stocked_variant(), stocked_variant()
    with_both, with_one = factories.ProductFactory(name="滤纸"), factories.ProductFactory(name="量勺")
    BoughtTogether.objects.create(product=in_cart.product, other=with_both, orders=2, position=1)
    BoughtTogether.objects.create(product=other_in_cart.product, other=with_both, orders=2, position=1)
    BoughtTogether.objects.create(product=in_cart.product, other=with_one, orders=3, position=2)
    # Each is bought with the other: neither is offered, it is in the cart already.
    BoughtTogether.objects.create(product=in_cart.product, other=other_in_cart.product, orders=9, position=3)
    user, _address, _cart = buyer_with_cart([(in_cart, 1), (other_in_cart, 1)])
    client.force_login(user)
    client.get("/cart/")

    from cart.templatetags import cart_recommendations

    html, with_block = queries_of(client, "/cart/")
    names = re.findall(r'<span class="name">(.*?)</span>', block(html, "bought-together"))
    assert names == ["滤纸", "量勺"]  # 4 orders behind 滤纸, 3 behind 量勺
    monkeypatch.setattr(cart_recommendations, "bought_together_with_any", lambda **kwargs: [])
    _html, without = queries_of(client, "/cart/")
    assert with_block == without + 1


def test_an_empty_cart_asks_nothing(client):
    html, _n = queries_of(client, "/cart/")
    assert not block(html, "bought-together")


def test_home_shows_for_you_to_its_customer_for_one_query(client, make_product, monkeypatch, settings):
    settings.PAGE_CACHE_ENABLED = False
    picked = make_product(name="为你挑的茶具")
    customer = factories.UserFactory()
    Recommendation.objects.create(customer=customer, product=picked, position=1)
    client.force_login(customer)
    client.get("/")
    html, with_list = queries_of(client, "/")
    assert "为你挑的茶具" in block(html, "for-you")

    import shop.views

    monkeypatch.setattr(shop.views, "for_you", lambda **kwargs: [])
    html, without = queries_of(client, "/")
    assert with_list == without + 1
    assert not block(html, "for-you")


def test_without_history_home_shows_best_sellers_and_no_for_you(client, make_product):
    make_product(name="畅销品", sales_count=99)
    client.force_login(factories.UserFactory())
    html = client.get("/").content.decode()
    assert not block(html, "for-you")
    assert "畅销品" in html  # the best sellers section


def test_for_you_is_never_cached_for_others(client, make_product, settings, monkeypatch):
    settings.PAGE_CACHE_ENABLED = True
    picked = make_product(name="私人推荐")
    customer = factories.UserFactory()
    Recommendation.objects.create(customer=customer, product=picked, position=1)

    from django.test import Client

    anonymous = Client()
    first = anonymous.get("/")
    assert first["X-Page-Cache"] == "miss" and not block(first.content.decode(), "for-you")
    client.force_login(customer)
    signed_in = client.get("/")
    assert "X-Page-Cache" not in signed_in  # a session: the cache neither serves nor stores
    assert "私人推荐" in block(signed_in.content.decode(), "for-you")
    again = Client().get("/")
    assert again["X-Page-Cache"] == "hit" and not block(again.content.decode(), "for-you")

    import shop.views

    def not_for_anonymous(**kwargs):
        raise AssertionError("for_you read for a visitor without a customer")

    monkeypatch.setattr(shop.views, "for_you", not_for_anonymous)
    settings.PAGE_CACHE_ENABLED = False
    assert Client().get("/").status_code == 200
