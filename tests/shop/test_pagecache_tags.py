"""The page cache invalidated by tag: a write misses what shows the change, everything else stays
warm; a warm hit is one Redis round trip, view counted; it fails open without Redis."""

from decimal import Decimal

import pytest
import time_machine
from django.core.cache import caches
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse
from redis.connection import AbstractConnection

from catalog.models import BoughtTogether
from catalog.services import VIEW_COUNTER, product_refresh_prices, product_views_flush
from fulfillment.models import Stock
from fulfillment.services import product_stock_flags_refresh
from shop.core import pagecache
from shop.core.counters import counter_take
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)  # invalidation runs on commit


@pytest.fixture
def shop(make_product):
    kitchen = factories.CategoryFactory(name="厨具", name_en="Kitchen", slug="kitchen")
    pans = factories.CategoryFactory(parent=kitchen, name="锅", name_en="Pans", slug="pans")
    garden = factories.CategoryFactory(name="园艺", name_en="Garden", slug="garden")
    return {
        "kitchen": kitchen,
        "pans": pans,
        "garden": garden,
        "pan": make_product(name="铸铁平底锅", name_en="Iron pan", price="100.00", category=pans),
        "hose": make_product(name="花园水管", name_en="Garden hose", price="50.00", category=garden),
    }


@pytest.fixture
def staff_client(admin_user) -> Client:
    staff = Client(HTTP_ACCEPT_LANGUAGE="en")
    staff.force_login(admin_user)
    return staff


def cache_state(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.get("X-Page-Cache", "")


def reprice(product, price: str) -> None:
    """What the admin does when a variant's price is saved."""
    variant = product.variants.get()
    variant.price = Decimal(price)
    variant.save()
    product_refresh_prices(product_ids=[product.pk])


def test_a_price_change_shows_at_once_wherever_the_product_is_shown(client, shop):
    pan = shop["pan"]
    urls = [pan.get_absolute_url(), "/c/pans/", "/c/kitchen/", "/products/", "/search/?q=铸铁", "/"]
    for url in urls:
        client.get(url)
        assert cache_state(client, url) == "hit"
    reprice(pan, "88.00")
    for url in urls:
        response = client.get(url)
        assert response["X-Page-Cache"] == "miss", url
        assert "¥88.00" in response.content.decode() and "¥100.00" not in response.content.decode(), url


def test_a_title_change_shows_at_once(client, shop):
    pan = shop["pan"]
    urls = [pan.get_absolute_url(), "/c/kitchen/", "/products/", "/"]
    for url in urls:
        client.get(url)
    pan.name = "珐琅平底锅"
    pan.save()
    for url in urls:
        body = client.get(url).content.decode()
        assert "珐琅平底锅" in body and "铸铁平底锅" not in body, url


def test_an_unrelated_categorys_pages_stay_cached(client, shop):
    """The point of tags: a write in one category leaves the other's pages and the other
    products' pages warm (the old clear-everything made all of them misses)."""
    hose = shop["hose"]
    warm = [hose.get_absolute_url(), "/c/garden/"]
    for url in warm:
        client.get(url)
    reprice(shop["pan"], "88.00")
    shop["pan"].save()  # a staff save of the product itself, too
    for url in warm:
        assert cache_state(client, url) == "hit", url
    assert cache_state(client, "/c/pans/") == "miss"


def test_the_home_page_survives_writes_to_products_it_does_not_show(client, shop):
    with time_machine.travel("2020-01-01"):  # oldest, never sold nor viewed: on no home list
        unseen = factories.ProductFactory(name="陈年旧货", category=shop["garden"])
    shown = [factories.ProductFactory(category=shop["garden"], sales_count=5, view_count=5) for _ in range(8)]
    assert "陈年旧货" not in client.get("/").content.decode()
    assert cache_state(client, "/") == "hit"
    product_refresh_prices(product_ids=[unseen.pk])
    assert cache_state(client, "/") == "hit"
    unseen.is_active = False  # leaving the shop may change the lists
    unseen.save()
    assert cache_state(client, "/") == "miss"
    client.get("/")
    product_refresh_prices(product_ids=[shown[0].pk])
    assert cache_state(client, "/") == "miss"


def test_a_bought_together_cards_price_change_misses_the_page_showing_it(client, shop):
    pan, hose = shop["pan"], shop["hose"]
    BoughtTogether.objects.create(product=pan, other=hose, orders=3, position=1)
    url = pan.get_absolute_url()
    client.get(url)
    assert cache_state(client, url) == "hit"
    reprice(hose, "45.00")
    response = client.get(url)
    assert response["X-Page-Cache"] == "miss" and "¥45.00" in response.content.decode()


def test_a_moved_product_leaves_its_old_category_at_once(client, shop):
    pan = shop["pan"]
    client.get("/c/pans/")
    pan.category = shop["garden"]
    pan.save()
    left = client.get("/c/pans/")
    assert left["X-Page-Cache"] == "miss" and not left.context["products"]
    assert "铸铁平底锅" in client.get("/c/garden/").content.decode()


def test_hiding_a_product_misses_its_category_and_the_home_page(client, shop, staff_client):
    pan = shop["pan"]
    for url in ("/", "/c/kitchen/", "/c/garden/"):
        client.get(url)
    response = staff_client.post(
        reverse("admin:catalog_product_changelist"), {"action": "make_inactive", "_selected_action": [pan.pk]}
    )
    assert response.status_code == 302
    assert "铸铁平底锅" not in client.get("/").content.decode()
    assert "铸铁平底锅" not in client.get("/c/kitchen/").content.decode()
    assert cache_state(client, "/c/garden/") == "hit"


def test_a_taxonomy_write_misses_everything(client, shop):
    url = shop["hose"].get_absolute_url()
    client.get(url)
    shop["kitchen"].name = "厨房"
    shop["kitchen"].save()
    assert cache_state(client, url) == "miss"


def test_stock_shows_within_a_minute_and_a_sold_out_flag_at_once(client, shop, settings):
    """Stock counts do not invalidate (every entry lives PAGE_CACHE_SECONDS); a product
    selling out or coming back does, for its own listings."""
    assert settings.PAGE_CACHE_SECONDS <= 60
    pan = shop["pan"]
    url = pan.get_absolute_url()
    client.get(url)
    client.get("/c/garden/")
    redis = caches["pages"]._cache.get_client()
    assert all(0 < redis.ttl(key) <= 60 for key in redis.keys("*page:*") + redis.keys("*product-body:*"))
    Stock.objects.filter(product=pan).update(on_hand=0)
    product_stock_flags_refresh(product_ids=[pan.pk])
    body = client.get(url).content.decode()
    assert 'class="status out"' in body
    assert cache_state(client, "/c/garden/") == "hit"


def test_the_embedded_default_hits_invalidates_and_expires(client, make_product, settings):
    """Local memory (make run): hits, tags and expiry work without Redis."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "t-default"},
        "pages": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "t-pages"},
    }
    product = make_product(stock=5)
    other = make_product()
    url = product.get_absolute_url()
    with time_machine.travel("2030-01-01 00:00:00", tick=False) as traveller:
        client.get(url)
        client.get(other.get_absolute_url())
        assert cache_state(client, url) == "hit"
        Stock.objects.filter(product=product).update(on_hand=0)
        assert cache_state(client, url) == "hit"  # stock alone: not at once
        traveller.shift(settings.PAGE_CACHE_SECONDS + 1)
        assert 'class="status out"' in client.get(url).content.decode()
        client.get(other.get_absolute_url())
        reprice(product, "77.00")
        assert "¥77.00" in client.get(url).content.decode()
        assert cache_state(client, other.get_absolute_url()) == "hit"
        counter_take(VIEW_COUNTER)
        client.get(url)
        assert counter_take(VIEW_COUNTER) == {product.pk: 1}  # a hit counted in local memory


def test_pages_serve_when_redis_is_down(client, make_product, settings):
    product = make_product(name="断线")
    settings.CACHES = {
        alias: {
            "BACKEND": "shop.core.cache.ResilientRedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
        for alias in ("default", "pages")
    }
    for _ in range(2):
        response = client.get(product.get_absolute_url())
        assert response.status_code == 200 and "断线" in response.content.decode()
        assert "X-Page-Cache" not in response
    reprice(product, "10.00")  # invalidation cannot reach Redis: the save still succeeds
    assert "¥10.00" in client.get(product.get_absolute_url()).content.decode()


def test_a_warm_hit_is_one_redis_round_trip_and_counts_the_view(client, shop, monkeypatch):
    url = shop["pan"].get_absolute_url()
    client.get(url)
    counter_take(VIEW_COUNTER)
    sent = []
    original = AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        sent.append(command)
        return original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    assert cache_state(client, url) == "hit"
    monkeypatch.undo()
    assert len(sent) == 1
    assert counter_take(VIEW_COUNTER) == {shop["pan"].pk: 1}
    for _ in range(3):
        client.get(url)
    assert product_views_flush() == 1
    shop["pan"].refresh_from_db()
    assert shop["pan"].view_count == 3


def test_a_page_rendered_across_a_write_is_not_stored(shop):
    """The render may have read the rows before the write committed: storing it would serve
    the old price for a minute."""
    middleware = pagecache.AnonymousPageCacheMiddleware(lambda request: render(request))

    def render(request):
        pagecache.page_tag(pagecache.product_tag(shop["pan"].pk))
        if request.GET.get("write"):
            pagecache.page_cache_invalidate(["product:999999"])  # any write, mid-render
        response = HttpResponse("page")
        setattr(response, pagecache._ATTR, {})
        return response

    factory = RequestFactory()
    assert middleware(factory.get("/products/", {"write": 1}))["X-Page-Cache"] == "miss"
    assert middleware(factory.get("/products/", {"write": 1}))["X-Page-Cache"] == "miss"  # not stored
    middleware(factory.get("/products/"))
    assert middleware(factory.get("/products/"))["X-Page-Cache"] == "hit"


def test_a_fragment_computed_across_a_write_is_stamped_stale(shop):
    key, tag = "frag-test", pagecache.product_tag(shop["pan"].pk)
    fragments = pagecache.Fragments({key: [tag]})
    assert fragments.get(key) is None
    pagecache.page_cache_invalidate([tag])  # commits while the fragment is being computed
    fragments.set(key, "old rows", 60)
    assert pagecache.Fragments({key: [tag]}).get(key) is None
    pagecache.fragment_cached(key, lambda: "new rows", tags=[tag], timeout=60)
    assert pagecache.Fragments({key: [tag]}).get(key) == "new rows"
