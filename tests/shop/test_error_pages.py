"""Error pages in both languages with DEBUG off (bin/test runs with DEBUG=0): 404, 403, 429 and
500; the admin's "History" label against the order page's; the admin's favicon."""

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import path
from django.utils import timezone

from shop.urls import urlpatterns as shop_urlpatterns
from tests.purchase import buyer_with_cart, place, stocked_variant

pytestmark = pytest.mark.django_db

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def _boom(request):
    raise RuntimeError("a bug")


# The shop's URLs plus a view that fails, for the 500 test (@pytest.mark.urls names this module).
urlpatterns = [path("test-boom/", _boom), *shop_urlpatterns]


def test_debug_is_off():
    assert not settings.DEBUG  # otherwise Django shows its technical pages, not these


# -- 404 ---------------------------------------------------------------------------------------


def test_an_unknown_url_gets_the_404_page_in_chinese():
    response = Client().get("/no-such-page/", **ZH)

    page = response.content.decode()
    assert response.status_code == 404
    assert "抱歉，您访问的页面不存在。" in page
    assert 'href="/"' in page and "返回首页" in page
    assert "We could not find that page." not in page


def test_an_unknown_url_gets_the_404_page_in_english():
    response = Client().get("/no-such-page/", **EN)

    page = response.content.decode()
    assert response.status_code == 404
    assert "We could not find that page." in page
    assert 'href="/"' in page and "Back to the home page" in page


# -- 403 ---------------------------------------------------------------------------------------


def _staff_without_rights() -> Client:
    staff = get_user_model().objects.create_user(
        username="clerk@example.com", email="clerk@example.com", password="x", is_staff=True
    )
    client = Client()
    client.force_login(staff)
    return client


def test_an_admin_page_a_staff_member_may_not_open_is_the_403_page_in_english():
    response = _staff_without_rights().get("/admin/orders/order/", **EN)

    page = response.content.decode()
    assert response.status_code == 403  # Django's admin refuses (PermissionDenied), not a redirect
    assert "You may not open this page." in page
    assert 'href="/"' in page and "Back to the home page" in page


def test_the_403_page_is_translated():
    response = _staff_without_rights().get("/admin/orders/order/", **ZH)

    page = response.content.decode()
    assert response.status_code == 403
    assert '<html lang="zh-hans">' in page
    assert "返回首页" in page
    assert "Back to the home page" not in page


# -- 429 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "title", "home"),
    [(EN, "Too many requests", "Back to the home page"), (ZH, "请求过于频繁", "返回首页")],
)
def test_a_rate_limited_request_gets_the_429_page(settings, headers, title, home):
    settings.RATELIMIT_PASSWORD_RESET_PER_ADDRESS = "1/h"  # read per request (a callable rate)
    client = Client()
    with time_machine.travel(timezone.now(), tick=False):  # the window must not end mid-test
        first = client.post("/account/password/reset/", {"email": "someone@example.com"}, **headers)
        refused = client.post("/account/password/reset/", {"email": "someone@example.com"}, **headers)

    page = refused.content.decode()
    assert first.status_code == 302
    assert refused.status_code == 429
    assert title in page
    assert 'href="/"' in page and home in page


# -- 500 ---------------------------------------------------------------------------------------


@pytest.mark.urls(__name__)
def test_a_failing_view_gets_the_standalone_500_page():
    client = Client(raise_request_exception=False)

    response = client.get("/test-boom/", **ZH)

    page = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong · 出错了" in page  # both languages: it needs no request context
    assert 'href="/"' in page
    assert "/static/shop/error.css" in page


# -- the admin's "History" and the order page's ------------------------------------------------


def test_the_admin_change_page_shows_djangos_history_label_in_chinese(admin_client):
    user = get_user_model().objects.get(is_superuser=True)

    response = admin_client.get(f"/admin/shop/user/{user.pk}/change/", **ZH)

    page = response.content.decode()
    assert response.status_code == 200
    assert f'href="/admin/shop/user/{user.pk}/history/"' in page
    assert ">历史</a>" in page
    assert "订单跟踪" not in page


def test_the_order_page_still_calls_its_timeline_order_tracking_in_chinese():
    user, address, cart = buyer_with_cart([(stocked_variant(), 1)])
    order = place(user, address, cart)
    client = Client()
    client.force_login(user)

    response = client.get(f"/orders/{order.number}/", **ZH)

    assert response.status_code == 200
    assert "<h2>订单跟踪</h2>" in response.content.decode()


# -- the admin's favicon -----------------------------------------------------------------------


def test_the_admin_login_page_has_the_shops_icon():
    response = Client().get("/admin/login/", **EN)

    page = response.content.decode()
    assert response.status_code == 200
    assert '<link rel="icon" href="/static/shop/favicon.' in page  # hashed by the manifest storage
    assert 'type="image/svg+xml"' in page
