"""Favourites (收藏) and recently viewed: the product page's button (POST, CSRF, no JavaScript
needed; anonymous visitors log in and come back), the favourites page, the account page, and
the recently viewed list kept in the cache (no database write per product page)."""

import re

import pytest
from django.test import Client

from catalog import selectors, services
from catalog.models import Favourite, ProductView
from shop.core.recent import recent_get
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(client):
    user = factories.UserFactory()
    client.force_login(user)
    return user


def test_add_and_remove_from_the_product_page(client, customer, make_product):
    product = make_product(name="保温杯")
    page = client.get(product.get_absolute_url()).content.decode()
    add = f"/account/favourites/{product.pk}/add/"
    assert f'action="{add}"' in page and 'aria-pressed="false"' in page

    response = client.post(add, {"next": product.get_absolute_url()})
    assert response.status_code == 302 and response["Location"] == product.get_absolute_url()
    assert Favourite.objects.filter(customer=customer, product=product).count() == 1
    client.post(add, {"next": product.get_absolute_url()})  # twice: still one
    assert Favourite.objects.filter(customer=customer, product=product).count() == 1

    page = client.get(product.get_absolute_url()).content.decode()
    remove = f"/account/favourites/{product.pk}/remove/"
    assert f'action="{remove}"' in page and 'aria-pressed="true"' in page
    client.post(remove, {"next": product.get_absolute_url()})
    assert not Favourite.objects.filter(customer=customer).exists()


def test_the_button_posts_with_a_csrf_token_and_without_one_is_refused(customer, make_product):
    product = make_product()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(customer)
    page = strict.get(product.get_absolute_url()).content.decode()
    form = re.search(r'<div class="favourite" id="favourite">(.*?)</div>', page, re.S).group(1)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    url = f"/account/favourites/{product.pk}/add/"
    assert strict.post(url).status_code == 403
    assert strict.post(url, {"csrfmiddlewaretoken": token}).status_code == 302
    assert Favourite.objects.filter(customer=customer, product=product).exists()
    assert strict.get(url).status_code == 405  # never by a link


def test_anonymous_visitors_log_in_and_come_back_to_the_product(client, make_product):
    product = make_product()
    page = client.get(product.get_absolute_url()).content.decode()
    assert f'href="/account/login/?next=/p/{product.slug}/"' in page
    assert "csrfmiddlewaretoken" not in re.search(r'<div class="favourite".*?</div>', page, re.S).group(0)
    # A stale signed-in page posting after a logout: to the login page, then the product.
    response = Client().post(f"/account/favourites/{product.pk}/add/", {"next": product.get_absolute_url()})
    assert response.status_code == 302
    assert response["Location"] == f"/account/login/?next=/p/{product.slug}/"
    assert not Favourite.objects.exists()


def test_anonymous_product_pages_stay_cached_without_a_token(client, make_product, settings):
    settings.PAGE_CACHE_ENABLED = True
    product = make_product()
    first = client.get(product.get_absolute_url())
    assert first["X-Page-Cache"] == "miss" and not first.cookies
    assert client.get(product.get_absolute_url())["X-Page-Cache"] == "hit"


def test_a_customer_touches_only_their_own_favourites(client, customer, make_product):
    product = make_product()
    other = factories.UserFactory()
    theirs = Favourite.objects.create(customer=other, product=product)
    client.post(f"/account/favourites/{product.pk}/remove/")
    assert Favourite.objects.filter(pk=theirs.pk).exists()
    page = client.get("/account/favourites/").content.decode()
    assert product.name not in page
    client.post(f"/account/favourites/{product.pk}/add/")
    assert Favourite.objects.filter(product=product).count() == 2


def test_unknown_or_hidden_products_cannot_be_added(client, customer, make_product):
    hidden = make_product(is_active=False)
    assert client.post(f"/account/favourites/{hidden.pk}/add/").status_code == 404
    assert client.post("/account/favourites/999999/add/").status_code == 404
    assert not Favourite.objects.exists()


def test_the_favourites_page_lists_the_latest_first_paginated_with_a_count(client, customer, make_product, monkeypatch):
    from shop.accounts import favourites

    monkeypatch.setattr(favourites, "PAGE_SIZE", 2)
    products = [make_product(name=f"收藏{i}") for i in range(3)]
    for product in products:
        services.favourite_add(customer=customer, product_id=product.pk)
    first = client.get("/account/favourites/")
    assert [p.name for p in first.context["page"].object_list] == ["收藏2", "收藏1"]
    assert "(3)" in first.content.decode()
    second = client.get("/account/favourites/", {"page": 2})
    assert [p.name for p in second.context["page"].object_list] == ["收藏0"]
    assert client.get("/account/favourites/", {"page": "x"}).status_code == 200
    remove = f'action="/account/favourites/{products[0].pk}/remove/"'
    assert remove in second.content.decode()


def test_the_favourites_page_needs_a_login(client):
    response = client.get("/account/favourites/")
    assert response.status_code == 302 and response["Location"].startswith("/account/login/")


def test_the_account_page_shows_favourites_with_a_count_and_recently_viewed(client, customer, make_product):
    kept, seen = make_product(name="收藏的杯子"), make_product(name="看过的水壶")
    services.favourite_add(customer=customer, product_id=kept.pk)
    client.get(seen.get_absolute_url())
    page = client.get("/account/").content.decode()
    favourites = re.search(r'<section class="account-favourites".*?</section>', page, re.S).group(0)
    recent = re.search(r'<section class="recently-viewed".*?</section>', page, re.S).group(0)
    # The count in the page's language: 我的收藏（1） has Chinese full-width brackets.
    assert "（1）" in favourites and "收藏的杯子" in favourites and "/account/favourites/" in favourites
    assert "看过的水壶" in recent


def test_recently_viewed_keeps_the_latest_first_without_repeats_and_at_most_20(customer):
    products = [factories.ProductFactory() for _ in range(25)]
    for product in products:
        services.product_recently_viewed_record(customer_id=customer.pk, product_id=product.pk)
    services.product_recently_viewed_record(customer_id=customer.pk, product_id=products[10].pk)  # again
    shown = [p.pk for p in selectors.recently_viewed(customer_id=customer.pk)]
    expected = [products[10].pk, *[p.pk for p in reversed(products[5:]) if p != products[10]][:19]]
    assert shown == expected
    assert len(shown) == services.RECENTLY_VIEWED_SIZE == 20


def test_viewing_a_product_writes_nothing_to_the_database(client, customer, make_product):
    product = make_product()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        client.get(product.get_absolute_url())
    writes = [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert writes == []
    assert recent_get(selectors.RECENTLY_VIEWED, customer.pk) == [product.pk]


def test_the_list_is_copied_to_the_database_and_completed_from_it_when_the_cache_lost_it(customer, make_product):
    from django.core.cache import caches

    a, b, c = make_product(name="甲"), make_product(name="乙"), make_product(name="丙")
    for product in (a, b):
        services.product_recently_viewed_record(customer_id=customer.pk, product_id=product.pk)
    assert services.product_views_persist() == 1
    assert services.product_views_persist() == 0  # nothing changed since
    assert list(ProductView.objects.order_by("position").values_list("product", flat=True)) == [b.pk, a.pk]
    caches["default"].clear()  # an eviction, or a restart of the embedded default
    assert [p.name for p in selectors.recently_viewed(customer_id=customer.pk)] == ["乙", "甲"]
    services.product_recently_viewed_record(customer_id=customer.pk, product_id=c.pk)
    assert [p.name for p in selectors.recently_viewed(customer_id=customer.pk)] == ["丙", "乙", "甲"]
    services.product_views_persist()
    assert list(ProductView.objects.order_by("position").values_list("product", flat=True)) == [c.pk, b.pk, a.pk]
