"""The product page with the page cache off (issue 12, third session): the frame around the body
rendered once per process and language for visitors without a session, with the same bytes as
the template; the view counted in the same Redis round trip as the page's cached parts."""

import logging

import pytest
from django.core.cache import caches
from django.template import engines

import catalog.views
from catalog import product_shell
from catalog.services import VIEW_COUNTER
from shop.core.counters import counter_incr_get_many, counter_take
from tests import factories

NASTY = "<b>杯子</b> & \"引号\" 'x'"


def _pages(client, url: str, monkeypatch) -> tuple:
    """The page from the frame, then rendered by the template: (fast, slow)."""
    client.get(url)  # renders and caches the body, related cards and reviews block
    client.get(url)  # the frame, once per process and language
    fast = client.get(url)
    with monkeypatch.context() as patch:
        patch.setattr(catalog.views, "product_frame_render", lambda *args, **kwargs: None)
        slow = client.get(url)
    return fast, slow


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_frame_rendered_once_gives_the_bytes_the_template_gives(
    client, make_product, monkeypatch, settings, language
):
    settings.PAGE_CACHE_ENABLED = False
    if language == "en":
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    products = [
        make_product(name=NASTY, name_en=NASTY, summary="长" * 300, summary_en="long " * 60),  # the longest
        make_product(name="无简介", stock=0),  # the description falls back to name and price; sold out
        make_product(name="普通", summary="<script>alert(1)</script>", summary_en="<i>brief</i>"),
    ]
    for product in products:
        url = product.get_absolute_url() + "?utm_source=<x>&q=%E4%B8%AD&a=\"'"
        fast, slow = _pages(client, url, monkeypatch)
        assert fast.status_code == slow.status_code == 200
        # The frame was not rendered by the template for this request; the other one was.
        assert fast.templates == [] and "catalog/product_detail.html" in [t.name for t in slow.templates]
        assert fast.content == slow.content
        assert dict(fast.headers) == dict(slow.headers)
    page = fast.content.decode()
    assert "<script>alert(1)" not in page and "<i>brief" not in page  # escaped as the template does
    assert "?next=/p/" in page and "utm_source%3D%253Cx%253E" in page  # the switch keeps the visitor's path


def test_visitors_with_a_session_or_signed_in_get_the_template(client, make_product, settings):
    """Their cart count, messages and account link are their own: the frame is not used."""
    settings.PAGE_CACHE_ENABLED = False
    product = make_product(name="购物车里的")
    url = product.get_absolute_url()
    client.get(url)
    variant = product.variants.get()
    client.post("/cart/add/", {"variant": variant.pk, "quantity": 2, "next": url})
    page = client.get(url)
    assert "catalog/product_detail.html" in [t.name for t in page.templates]
    html = page.content.decode()
    assert '<span class="count">2</span>' in html and 'class="messages"' in html
    client.force_login(factories.UserFactory())
    signed_in = client.get(url)
    assert "catalog/product_detail.html" in [t.name for t in signed_in.templates]
    assert "/account/login/" not in signed_in.content.decode()


def test_a_frame_whose_placeholders_come_out_changed_is_not_used(caplog, rf):
    """A filter on one of the values in the template: the page is rendered as before."""
    from django.contrib.auth.models import AnonymousUser

    request = rf.get("/p/x/")
    request.user = AnonymousUser()
    changed = engines["django"].from_string("{{ title|lower }}{{ body }}{{ request.get_full_path }}")
    with caplog.at_level(logging.WARNING, logger="catalog.product_shell"):
        assert product_shell._build(request, changed) is None
    assert "placeholders came out changed" in caplog.text


def test_a_frame_that_shows_a_csrf_token_is_not_kept(caplog, rf):
    from django.contrib.auth.models import AnonymousUser

    request = rf.get("/p/x/")
    request.user = AnonymousUser()
    fields = "{{ title }}{{ canonical_url }}{{ meta_description }}{{ structured_data }}{{ body }}{{ reviews }}"
    frame = engines["django"].from_string(fields + "{{ request.get_full_path|urlencode }}")
    assert product_shell._build(request, frame) is not None
    with_token = engines["django"].from_string("{% csrf_token %}" + fields + "{{ request.get_full_path|urlencode }}")
    with caplog.at_level(logging.WARNING, logger="catalog.product_shell"):
        assert product_shell._build(request, with_token) is None
    assert "CSRF token" in caplog.text


def test_the_frame_is_rendered_again_when_a_setting_changes(client, make_product, settings):
    settings.PAGE_CACHE_ENABLED = False
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    url = make_product(name="设置").get_absolute_url()
    client.get(url)
    assert f"Prices in {settings.SHOP_CURRENCY} include" in client.get(url).content.decode()
    settings.SHOP_CURRENCY = "EUR"  # in base.html's footer
    assert "Prices in EUR include" in client.get(url).content.decode()


def _round_trips(monkeypatch) -> list:
    from redis.connection import AbstractConnection

    sent = []
    real = AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        sent.append(command)
        return real(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    return sent


def test_a_product_page_is_one_redis_round_trip_and_counts_its_view(client, make_product, monkeypatch, settings):
    """The view count and the cached parts (body, related cards, bought together, reviews and
    their tags' generations) go in one round trip; the view is still counted."""
    if not hasattr(caches["pages"], "_cache"):
        pytest.skip("needs the Redis cache started by bin/test")
    settings.PAGE_CACHE_ENABLED = False
    settings.CELERY_TASK_ALWAYS_EAGER = True
    product = make_product(name="计数")
    url = product.get_absolute_url()
    client.get(url)
    client.get(url)
    sent = _round_trips(monkeypatch)
    assert client.get(url).status_code == 200
    assert len(sent) == 1  # was 2: the counter's HINCRBY+HLEN, then the parts' MGET
    assert counter_take(VIEW_COUNTER) == {product.pk: 3}
    # A flush is asked for once enough products have views pending.
    settings.CATALOG_VIEW_FLUSH_EVERY = 1
    flushed = []
    monkeypatch.setattr(catalog.views, "enqueue", lambda name, *a, **k: flushed.append(name))
    client.get(url)
    assert flushed == ["catalog.tasks.flush_view_counts"]


def test_counting_and_reading_elsewhere_than_redis_takes_two_calls(settings):
    """The embedded default (local memory): the same result through the cache API."""
    settings.CACHES = {
        **settings.CACHES,
        "pages": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "p15"},
    }
    cache = caches["pages"]
    cache.set("a", {"x": 1})
    counter_take(VIEW_COUNTER)
    found, pending = counter_incr_get_many(VIEW_COUNTER, 7, cache=cache, keys=["a", "b"])
    assert found == {"a": {"x": 1}} and pending == 1  # the first product with a view pending
    counter_take(VIEW_COUNTER)


def test_redis_down_reads_nothing_and_counts_nothing(monkeypatch):
    cache = caches["pages"]
    if not hasattr(cache, "_cache"):
        pytest.skip("needs the Redis cache started by bin/test")
    from redis.connection import AbstractConnection
    from redis.exceptions import ConnectionError as RedisConnectionError

    def down(*args, **kwargs):
        raise RedisConnectionError("down")

    monkeypatch.setattr(AbstractConnection, "send_packed_command", down)
    assert counter_incr_get_many(VIEW_COUNTER, 7, cache=cache, keys=["a"]) == ({}, 0)


def test_a_page_whose_reviews_block_is_not_cached_is_rendered_by_the_template(rf):
    request = rf.get("/p/x/")
    assert product_shell.product_frame_render(request, {"reviews": None}) is None
