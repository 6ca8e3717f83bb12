"""Memo regions with {% live %} holes (the page frame, base.html, and the confirm page's content)
render byte for byte as the same templates rendered afresh: every page below is fetched once as
the shop serves it, then once with every {% memo %} region rendered in full each time (nothing
kept), and the two must be equal. (When the frame became one region, 85e6c1c, the same pages were
compared with base.html and cart/checkout.html as they were before, and matched.) The pages cover
signed out, signed in and staff; Simplified Chinese and English; empty and filled carts; flash
messages; a search query in the search box; the script prefix of a shop mounted under a path.

The kept pages are all fetched first, in one process, one after the other: a frame part kept
from one request (another customer's cart count, name or messages, the other language) would
show up in a later page and differ from the fresh rendering, which keeps nothing."""

import re
from unittest import mock

import pytest
from django.conf import settings
from django.contrib import messages
from django.contrib.messages.storage.base import Message
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpRequest
from django.template import Context, engines
from django.test import Client
from django.urls import reverse, set_script_prefix

from catalog import services as catalog_services
from shop.templatetags.memo import MemoNode
from tests import factories
from tests.purchase import buyer_with_cart, place, stocked_variant

pytestmark = pytest.mark.django_db
CSRF = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]+"')


def _rendered_afresh(node: MemoNode, context) -> str:
    """A memo region rendered in full, as if it were not there: its holes render their content
    (they write a marker only while their region captures its kept text)."""
    return node.nodelist.render(context)


def _message_cookie() -> str:
    return CookieStorage(HttpRequest())._encode(
        [Message(messages.SUCCESS, "Added to your cart."), Message(messages.ERROR, "<b>&\"'", extra_tags="x y")]
    )


@pytest.fixture
def pages(settings):
    """The clients and their visits (who, language, path, True for flash messages or a form to
    post): the same visits for the kept and the fresh rendering."""
    settings.PAGE_CACHE_ENABLED = False
    variant = stocked_variant(price="60.00", name="纯棉 T恤 <tee>")
    catalog_services.product_after_save(product_id=variant.product_id)
    product_path = variant.product.get_absolute_url()
    category = factories.CategoryFactory()

    buyer, address, cart = buyer_with_cart([(variant, 3)])
    # An order of the buyer's own (the cart is placed), then a second cart that stays open.
    order = place(buyer, address, cart)
    cart.__class__.objects.create(user=buyer).lines.create(variant=variant, quantity=2, price_seen=variant.price)
    empty = factories.UserFactory()
    staff = factories.UserFactory(is_staff=True, is_superuser=True)

    clients = {name: Client() for name in ("anonymous", "anonymous cart", "buyer", "empty", "staff")}
    clients["buyer"].force_login(buyer)
    clients["empty"].force_login(empty)
    clients["staff"].force_login(staff)
    clients["anonymous cart"].post(reverse("cart:add"), {"variant": variant.pk, "quantity": "4"})
    clients["anonymous cart"].get(reverse("cart:detail"))  # shows (and drops) the "added" message

    public = ["/", "/products/", category.get_absolute_url(), product_path, "/search/?q=%E7%BA%AF%E6%A3%89&x=<'\">",
              "/cart/", "/nothing-here/", reverse("accounts:login")]  # fmt: skip
    private = [reverse("cart:checkout"), reverse("accounts:overview"), reverse("accounts:addresses"),
               reverse("orders:list"), reverse("orders:detail", args=[order.number])]  # fmt: skip
    visits = []
    for language in ("zh-hans", "en"):
        for who in clients:
            for path in public + (private if who in ("buyer", "empty", "staff") else []):
                visits.append((who, language, path, False))
        visits.append(("buyer", language, "/cart/", True))
        visits.append(("anonymous", language, "/products/", True))
        # The confirm page posted back with another choice, and with a choice it refuses.
        choice = {"address": address.pk, "shipping_method": "express", "insured": "1", "payment_method": "sandbox"}
        visits.append(("buyer", language, reverse("cart:checkout"), choice | {"note": '<留言> & "x"'}))
        visits.append(("buyer", language, reverse("cart:checkout"), choice | {"shipping_method": "x", "address": "0"}))
    # Each client's last page shows what its visits left queued (the empty cart's confirm page
    # redirects with a message): the fresh run then starts from the same state.
    visits += [(who, "en", "/", False) for who in clients]
    return clients, visits


def _fetch(clients, visits) -> list[str]:
    out = []
    for who, language, path, with_messages_or_post in visits:
        client = clients[who]
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
        if with_messages_or_post is True:
            client.cookies[CookieStorage.cookie_name] = _message_cookie()
        if isinstance(with_messages_or_post, dict):
            response = client.post(path, with_messages_or_post)
        else:
            response = client.get(path)
        out.append(f"{who} {language} {path} {response.status_code}\n" + CSRF.sub(r"\1-", response.content.decode()))
    return out


def _compare(clients, visits) -> list[str]:
    new = _fetch(clients, visits)
    with mock.patch.object(MemoNode, "render", _rendered_afresh):
        old = _fetch(clients, visits)
    for new_page, old_page in zip(new, old, strict=True):
        assert new_page == old_page
    return new


def test_pages_render_as_rendered_afresh(pages):
    new = _compare(*pages)
    assert len(new) > 100
    confirm_pages = [page for page in new if page.startswith("buyer en /checkout/ 200\n")]
    assert len(confirm_pages) == 3 and len(set(confirm_pages)) == 3  # GET, another choice, a refused one


def test_pages_under_a_script_prefix_render_as_rendered_afresh(pages):
    # What WSGIHandler sets from SCRIPT_NAME on each request (the test client's handler does not).
    clients, visits = pages
    set_script_prefix("/shop/")
    try:
        new = _compare(clients, [visit for visit in visits if visit[2] in ("/", "/products/", "/checkout/")])
    finally:
        set_script_prefix("/")
    shown = [page for page in new if page.split("\n", 1)[0].endswith(" 200")]
    assert len(shown) > 20
    assert [page.split("\n", 1)[0] for page in shown if '<a class="logo" href="/shop/">' not in page] == []


def test_the_frame_shows_each_visitor_their_own(pages):
    """A cart count, the signed-in links and messages of one request never reach the next."""
    clients, _visits = pages
    buyer_page = clients["buyer"].get("/products/").content.decode()
    assert '<span class="count">2</span>' in buyer_page
    anonymous_page = clients["anonymous"].get("/products/").content.decode()
    assert 'class="count"' not in anonymous_page and reverse("accounts:login") in anonymous_page
    assert f'href="{reverse("accounts:overview")}"' not in anonymous_page
    assert 'class="messages"' not in anonymous_page


def test_a_memo_region_keeps_its_text_and_renders_its_holes_every_time():
    template = engines["django"].from_string(
        "{% load memo %}{% memo key %}<b>{{ fixed }}</b>{% live %}[{{ value }}]{% endlive %}"
        "{% if key %}<i>{{ fixed }}</i>{% live %}({{ value }}){% endlive %}{% endif %}{% endmemo %}"
    )
    assert template.render({"fixed": "a", "value": 1, "key": 0}) == "<b>a</b>[1]"
    assert template.render({"fixed": "b", "value": "<2>", "key": 0}) == "<b>a</b>[&lt;2&gt;]"
    assert template.render({"fixed": "c", "value": 3, "key": 1}) == "<b>c</b>[3]<i>c</i>(3)"
    assert template.render({"fixed": "d", "value": 4, "key": 1}) == "<b>c</b>[4]<i>c</i>(4)"


def test_blocks_in_a_memo_regions_holes_are_overridden_by_the_child():
    from django.template import Engine

    templates = {
        "parent.html": "{% load memo %}{% memo %}<h1>{{ fixed }}</h1>{% live %}{% block a %}A{% endblock %}"
        "{% endlive %}|{% live %}{% block b %}B{% endblock %}{% endlive %}{% endmemo %}",
        "child.html": '{% extends "parent.html" %}{% block b %}{{ value }}+{{ block.super }}{% endblock %}',
    }
    loaders = [("django.template.loaders.cached.Loader", [("django.template.loaders.locmem.Loader", templates)])]
    engine = Engine(loaders=loaders, libraries={"memo": "shop.templatetags.memo"})
    child, parent = engine.get_template("child.html"), engine.get_template("parent.html")
    assert child.render(Context({"fixed": 1, "value": "x"})) == "<h1>1</h1>A|x+B"
    assert child.render(Context({"fixed": 2, "value": "y"})) == "<h1>1</h1>A|y+B"
    assert parent.render(Context({"fixed": 3})) == "<h1>1</h1>A|B"
