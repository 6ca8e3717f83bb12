"""The product page's cold path (issue 12): the live read compiled once and prepared once per
connection, the shared frame of base.html rendered once per process, one Redis client per
cache. Each test here fails without its change; the page's own behaviour is in test_pages.py."""

import select
from decimal import Decimal

import pytest
from django.core.cache import caches
from django.db import connection, connections
from django.template import engines
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from catalog import selectors
from catalog.models import Product, StockStatus
from tests import factories


def _orm_product_live(slug: str) -> selectors.ProductLive:
    """What product_live returned when it ran its queryset through the ORM each time."""
    rows = list(selectors._product_live_queryset(slug))
    if not rows:
        raise Product.DoesNotExist(slug)
    variants = [
        selectors.LiveVariant(id=r[5], price=r[6], compare_at_price=r[7], status=selectors.stock_status(r[11], r[8]))
        for r in rows
        if r[5] is not None
    ]
    return selectors.ProductLive(*rows[0][:5], variants, *rows[0][9:11])


@pytest.fixture
def catalogue(db):
    product = factories.ProductFactory(name="现货", price=Decimal("59.00"))
    second = factories.VariantFactory(product=product, price=Decimal("69.00"), position=2, low_stock_threshold=5)
    first = factories.VariantFactory(
        product=product, price=Decimal("59.00"), position=1, compare_at_price=Decimal("80")
    )
    hidden = factories.VariantFactory(product=product, price=Decimal("99.00"), position=0, is_active=False)
    factories.StockFactory(variant=first, product=product, on_hand=30, reserved=2)
    factories.StockFactory(variant=second, product=product, on_hand=3)
    factories.StockFactory(variant=hidden, product=product, on_hand=9)
    bare = factories.ProductFactory(name="无规格", price=Decimal("12.00"))
    inactive = factories.ProductFactory(name="下架", is_active=False)
    return {"product": product, "first": first, "second": second, "bare": bare, "inactive": inactive}


def _check_live(catalogue) -> None:
    product = catalogue["product"]
    live = selectors.product_live(slug=product.slug)
    assert live == _orm_product_live(product.slug)
    assert [(v.id, v.price, v.status) for v in live.variants] == [
        (catalogue["first"].pk, Decimal("59.00"), StockStatus.IN_STOCK),
        (catalogue["second"].pk, Decimal("69.00"), StockStatus.LOW),
    ]
    assert live.variants[0].compare_at_price == Decimal("80") and live.updated_at == product.updated_at
    bare = selectors.product_live(slug=catalogue["bare"].slug)
    assert bare == _orm_product_live(catalogue["bare"].slug) and bare.variants == []
    for slug in (catalogue["inactive"].slug, "no-such-product"):
        with pytest.raises(Product.DoesNotExist):
            selectors.product_live(slug=slug)


def test_product_live_compiled_once_reads_what_the_orm_read(catalogue):
    """Inside a transaction (as here) the compiled SQL runs unprepared."""
    _check_live(catalogue)


@pytest.mark.django_db(transaction=True)
def test_product_live_is_prepared_once_per_connection_and_survives_a_session_reset(catalogue):
    _check_live(catalogue)  # the first run on this connection prepares the statement
    slug = catalogue["product"].slug
    with CaptureQueriesContext(connection) as queries:
        selectors.product_live(slug=slug)
    assert len(queries) == 1 and queries[0]["sql"].startswith("EXECUTE shop_product_live_")
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # what a pooler's session reset does
    assert selectors.product_live(slug=slug) == _orm_product_live(slug)
    # A price change shows at once: the statement reads live rows, it caches nothing.
    type(catalogue["first"]).objects.filter(pk=catalogue["first"].pk).update(price=Decimal("49.00"))
    assert selectors.product_live(slug=slug).variants[0].price == Decimal("49.00")


def test_one_redis_client_per_cache_not_one_per_call():
    cache = caches["pages"]
    if not hasattr(cache, "_cache"):
        pytest.skip("needs the Redis cache started by bin/test")
    assert cache._cache.get_client(write=True) is cache._cache.get_client(write=True)
    cache.set("speed-probe", 1, 5)
    assert cache.get("speed-probe") == 1


def _frame(user) -> str:
    request = RequestFactory().get("/p/x/?a=1")
    request.user = user
    template = engines["django"].from_string('{% extends "base.html" %}{% block content %}[body]{% endblock %}')
    return template.render({"messages": []}, request)


def test_base_frame_is_rendered_once_per_language_and_sign_in_state(monkeypatch):
    import django.urls
    from django.contrib.auth.models import AnonymousUser

    reversed_names = []
    real_reverse = django.urls.reverse

    def counting(name, *args, **kwargs):
        reversed_names.append(name)
        return real_reverse(name, *args, **kwargs)

    monkeypatch.setattr(django.urls, "reverse", counting)  # what {% url %} calls
    customer = factories.UserFactory.build()
    with translation.override("zh-hans"):
        first = _frame(AnonymousUser())
        reversed_names.clear()
        assert _frame(AnonymousUser()) == first
        assert reversed_names == []  # every link of the frame came from the memo
        signed_in = _frame(customer)
    with translation.override("en"):
        english = _frame(AnonymousUser())
    # Per state and language, and what varies per request stays live.
    assert "/account/login/" in first and "/account/login/" not in signed_in
    assert ">Log in<" in english and "全部商品" in first and "All products" in english
    assert "?next=/p/x/%3Fa%3D1" in first and "[body]" in first


def test_memo_regions_are_dropped_when_a_setting_changes(settings):
    template = engines["django"].from_string("{% load memo %}{% memo %}{{ value }}{% endmemo %}")
    assert template.render({"value": "one"}) == "one"
    assert template.render({"value": "two"}) == "one"  # kept: such regions take no page values
    settings.SHOP_CURRENCY = "EUR"
    assert template.render({"value": "two"}) == "two"


def test_anonymous_favourite_button_comes_with_the_cached_body(client, make_product, monkeypatch, settings):
    """Rendered once with the body for every anonymous visitor; a signed-in customer still gets
    their own form (and token) on every request."""
    import catalog.views

    settings.PAGE_CACHE_ENABLED = False
    product = make_product(name="收藏按钮")
    url = product.get_absolute_url()
    first = client.get(url).content.decode()
    rendered = []
    real = catalog.views.render_to_string

    def spy(name, *args, **kwargs):
        rendered.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(catalog.views, "render_to_string", spy)
    again = client.get(url).content.decode()
    assert again == first and "catalog/partials/favourite_button.html" not in rendered
    assert f'href="/account/login/?next={url}"' in again
    client.force_login(factories.UserFactory())
    signed_in = client.get(url).content.decode()
    assert "catalog/partials/favourite_button.html" in rendered
    assert f"/account/favourites/{product.pk}/add/" in signed_in and "csrfmiddlewaretoken" in signed_in


@pytest.mark.django_db(transaction=True)
def test_health_check_costs_no_round_trip_yet_replaces_a_connection_the_server_closed(monkeypatch):
    """A persistent connection is checked before a request's first query: with nothing from the
    server on an idle connection, no SELECT 1; after the server terminated it, a new one."""
    db = connections["default"]
    if not db.settings_dict["CONN_HEALTH_CHECKS"] or db.vendor != "postgresql":
        pytest.skip("PostgreSQL with health checks")
    full_checks = []
    real_is_usable = type(db).is_usable
    monkeypatch.setattr(type(db), "is_usable", lambda self: full_checks.append(1) or real_is_usable(self))

    def pid() -> int:
        with db.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return cursor.fetchone()[0]

    first = pid()
    db.close_if_unusable_or_obsolete()  # a request ends, the next one checks again
    assert pid() == first and full_checks == []
    other = db.get_new_connection(db.get_connection_params())
    try:
        other.execute("SELECT pg_terminate_backend(%s)", [first])
    finally:
        other.close()
    # The backend exits asynchronously: wait (at most 10 s) until its goodbye reaches our socket.
    waiting = select.poll()
    waiting.register(db.connection.pgconn.socket, select.POLLIN)
    assert waiting.poll(10_000)
    db.close_if_unusable_or_obsolete()
    assert pid() != first  # the next request's first query found it closed and reconnected
    assert full_checks == [1]
