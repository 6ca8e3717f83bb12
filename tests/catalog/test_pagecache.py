"""The anonymous page cache: one GET serves a page, and it never serves stale prices or titles."""

from decimal import Decimal

import pytest
from django.core.cache import caches

from catalog.services import VIEW_COUNTER, product_refresh_prices, product_views_flush
from shop.core.counters import counter_take
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)  # on_commit invalidation must really run


def test_anonymous_pages_are_served_from_cache(client, make_product):
    product = make_product(name="缓存测试")
    first = client.get(product.get_absolute_url())
    second = client.get(product.get_absolute_url())
    assert first["X-Page-Cache"] == "miss"
    assert second["X-Page-Cache"] == "hit"
    assert first.content == second.content


def test_cache_is_per_language(client, make_product):
    product = make_product(name="中文名", name_en="English name")
    zh = client.get(product.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="zh-hans")
    en = client.get(product.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en")
    assert en["X-Page-Cache"] == "miss"
    assert "English name" in en.content.decode() and "English name" not in zh.content.decode().split("<h1>")[1]


def test_price_change_shows_at_once(client, make_product):
    product = make_product(name="改价商品", price="100.00")
    assert "¥100.00" in client.get(product.get_absolute_url()).content.decode()
    variant = product.variants.get()
    variant.price = Decimal("88.00")
    variant.save()
    product_refresh_prices(product_ids=[product.pk])
    response = client.get(product.get_absolute_url())
    assert response["X-Page-Cache"] == "miss"
    assert "¥88.00" in response.content.decode()
    assert "¥88.00" in client.get("/products/").content.decode()


def test_title_change_shows_at_once(client, make_product):
    product = make_product(name="旧标题")
    client.get("/products/")
    product.name = "新标题"
    product.save()
    assert "新标题" in client.get("/products/").content.decode()


def test_signed_in_and_session_visitors_bypass_the_cache(client, make_product):
    product = make_product()
    client.get(product.get_absolute_url())
    client.cookies["sessionid"] = "anything"
    response = client.get(product.get_absolute_url())
    assert "X-Page-Cache" not in response


def test_errors_are_not_cached(client):
    client.get("/p/nope/")
    response = client.get("/p/nope/")
    assert response.status_code == 404
    assert "X-Page-Cache" not in response


def test_cached_product_views_are_still_counted(client, make_product):
    product = make_product()
    counter_take(VIEW_COUNTER)
    for _ in range(5):
        client.get(product.get_absolute_url())
    assert product_views_flush() == 1
    product.refresh_from_db()
    assert product.view_count == 5


def test_cached_pages_expire_within_a_minute_so_stock_status_follows(settings, client, make_product):
    """Stock changes do not clear the cache; every entry expires within PAGE_CACHE_SECONDS."""
    assert settings.PAGE_CACHE_SECONDS <= 60
    product = make_product(stock=5)
    client.get(product.get_absolute_url())
    redis = caches["pages"]._cache.get_client()
    keys = redis.keys("*page:*")
    assert keys
    assert all(0 < redis.ttl(key) <= 60 for key in keys)
    stock = product.stocks.get()
    stock.on_hand = 0
    stock.save()
    caches["pages"].clear()  # what expiry does within the minute
    body = client.get(product.get_absolute_url()).content.decode()
    assert 'class="status out"' in body


def test_switching_language_uses_cookie_not_cache(client, make_product):
    product = make_product(name="中文", name_en="English")
    client.get(product.get_absolute_url())
    client.get("/lang/en/")
    assert "English" in client.get(product.get_absolute_url()).content.decode()
    factories.BrandFactory()  # any catalogue write clears the cache
    assert client.get(product.get_absolute_url())["X-Page-Cache"] == "miss"


def test_views_that_do_not_opt_in_skip_the_cache(client):
    from shop.core.pagecache import _opted_in

    assert _opted_in("/products/") and _opted_in("/p/anything/") and _opted_in("/")
    assert not _opted_in("/bench/ceiling/") and not _opted_in("/cart/") and not _opted_in("/nowhere/")
    assert "X-Page-Cache" not in client.get("/bench/ceiling/")
