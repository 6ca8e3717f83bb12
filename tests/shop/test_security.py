"""Who may touch what: one customer cannot see or change another's orders, payments or
addresses (404, as if they did not exist); anonymous visitors are sent to log in; every
state-changing form needs its CSRF token except the gateways' signed notifications; ?next=
never leads off the site."""

import pytest
from django.forms.models import model_to_dict
from django.test import Client

from fulfillment.models import Stock
from orders.models import Notification, Order, OrderEvent
from payments.models import Payment, Wallet
from payments.sandbox_gateway import notification_for
from payments.services import payment_start, wallet_top_up
from shop.models import Address
from tests import factories
from tests.purchase import buyer_with_cart, place, stocked_variant

pytestmark = pytest.mark.django_db

ADDRESS = {
    "recipient": "王五",
    "phone": "13700137000",
    "province": "440000",  # 广东省 深圳市 南山区 (division codes: shop.core.divisions)
    "city": "440300",
    "district": "440305",
    "street": "科技园 9 号",
    "postcode": "518000",
    "is_default": "on",
}


@pytest.fixture
def alice():
    """Customer A: an unpaid order with a started payment, two addresses and some money."""
    variant = stocked_variant(on_hand=10, price="88.00")
    user, address, cart = buyer_with_cart([(variant, 2)], email="alice@example.com")
    factories.AddressFactory(user=user, is_default=False, street="second street")
    order = place(user, address, cart, payment_method="sandbox")
    payment_start(order=order, provider="sandbox", return_url="http://testserver/r", notify_url="http://testserver/n")
    wallet_top_up(user=user, amount=order.total * 3, reference="T-alice")
    return {"user": user, "order": order, "address": address, "payment": Payment.objects.get(order=order)}


@pytest.fixture
def bob():
    """Customer B, with an order and an address of his own."""
    user, address, cart = buyer_with_cart([(stocked_variant(on_hand=10), 1)], email="bob@example.com")
    order = place(user, address, cart)
    return {"user": user, "order": order, "address": address}


def snapshot(user) -> dict:
    """Everything of a customer's that a request could change."""
    return {
        "orders": [model_to_dict(o) for o in Order.objects.filter(customer=user).order_by("pk")],
        "events": OrderEvent.objects.filter(order__customer=user).count(),
        "notifications": Notification.objects.filter(user=user).count(),
        "payments": [model_to_dict(p) for p in Payment.objects.filter(order__customer=user).order_by("pk")],
        "addresses": [model_to_dict(a) for a in Address.objects.filter(user=user).order_by("pk")],
        "wallet": Wallet.objects.get(user=user).balance if Wallet.objects.filter(user=user).exists() else None,
        "stock": sorted(Stock.objects.values_list("pk", "on_hand", "reserved")),
    }


# (method, url built from A's objects, form data)
FOREIGN = [
    pytest.param("get", lambda a: f"/orders/{a['order'].number}/", {}, id="order-detail"),
    pytest.param("post", lambda a: f"/orders/{a['order'].number}/cancel/", {}, id="order-cancel"),
    pytest.param("post", lambda a: f"/payments/pay/{a['order'].number}/", {"method": "wallet"}, id="pay-wallet"),
    pytest.param("post", lambda a: f"/payments/pay/{a['order'].number}/", {"method": "cod"}, id="pay-cod"),
    pytest.param("post", lambda a: f"/payments/pay/{a['order'].number}/", {"method": "sandbox"}, id="pay-sandbox"),
    pytest.param("get", lambda a: f"/account/addresses/{a['address'].pk}/", {}, id="address-edit-get"),
    pytest.param("post", lambda a: f"/account/addresses/{a['address'].pk}/", ADDRESS, id="address-edit-post"),
    pytest.param("post", lambda a: f"/account/addresses/{a['address'].pk}/delete/", {}, id="address-delete"),
    pytest.param("get", lambda a: f"/payments/return/?out_trade_no={a['payment'].reference}", {}, id="payment-return"),
    # Guesses by database id rather than by number.
    pytest.param("get", lambda a: f"/orders/{a['order'].pk}/", {}, id="order-by-pk"),
    pytest.param("post", lambda a: f"/orders/{a['order'].pk}/cancel/", {}, id="order-cancel-by-pk"),
    pytest.param("post", lambda a: f"/payments/pay/{a['order'].pk}/", {"method": "wallet"}, id="pay-by-pk"),
    pytest.param("get", lambda a: f"/payments/return/?out_trade_no={a['payment'].pk}", {}, id="return-by-pk"),
]


@pytest.mark.parametrize(("method", "url", "data"), FOREIGN)
def test_another_customer_gets_404_and_changes_nothing(alice, bob, method, url, data):
    before = snapshot(alice["user"])
    bobs_before = snapshot(bob["user"])
    client = Client()
    client.force_login(bob["user"])

    response = getattr(client, method)(url(alice), data)

    assert response.status_code == 404
    assert snapshot(alice["user"]) == before
    assert snapshot(bob["user"]) == bobs_before  # nor was anything of A's moved to B


@pytest.mark.parametrize(("method", "url", "data"), [p for p in FOREIGN if "by-pk" not in p.id and "-by-" not in p.id])
def test_the_owner_reaches_the_same_urls(alice, method, url, data):
    """The control for the test above: these URLs exist, and answer their owner."""
    client = Client()
    client.force_login(alice["user"])
    response = getattr(client, method)(url(alice), data)
    assert response.status_code in (200, 302)


def test_ids_of_the_guessers_own_objects_work_for_him(bob):
    client = Client()
    client.force_login(bob["user"])
    assert client.get(f"/orders/{bob['order'].number}/").status_code == 200
    assert client.get(f"/account/addresses/{bob['address'].pk}/").status_code == 200


def test_anothers_order_never_shows_in_my_list_or_overview(alice, bob):
    client = Client()
    client.force_login(bob["user"])
    for url in ("/orders/", "/account/"):
        page = client.get(url).content.decode()
        assert alice["order"].number not in page
        assert bob["order"].number in page
    assert "second street" not in client.get("/account/addresses/").content.decode()


@pytest.mark.parametrize(
    "url",
    [
        "/account/",
        "/account/profile/",
        "/account/password/",
        "/account/addresses/",
        "/account/addresses/new/",
        "/orders/",
        "/checkout/",
    ],
)
def test_anonymous_visitors_are_sent_to_log_in(url):
    response = Client().get(url)
    assert response.status_code == 302
    assert response.url == f"/account/login/?next={url}"


def test_anonymous_visitors_are_sent_to_log_in_for_an_order_and_change_nothing(alice):
    before = snapshot(alice["user"])
    client = Client()
    number = alice["order"].number
    for method, url in [
        ("get", f"/orders/{number}/"),
        ("post", f"/orders/{number}/cancel/"),
        ("post", f"/payments/pay/{number}/"),
        ("get", f"/payments/return/?out_trade_no={alice['payment'].reference}"),
        ("get", f"/account/addresses/{alice['address'].pk}/"),
        ("post", f"/account/addresses/{alice['address'].pk}/delete/"),
        ("post", "/checkout/place/"),
    ]:
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response.url.startswith("/account/login/?next="), url
    assert snapshot(alice["user"]) == before


# -- CSRF -----------------------------------------------------------------------------------


def csrf_token(client) -> str:
    return client.get("/cart/csrf/").json()["token"]


@pytest.fixture
def strict(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice["user"])
    return client


def forms(alice) -> list[tuple[str, dict]]:
    order, address = alice["order"], alice["address"]
    variant_id = order.lines.get().variant_id
    return [
        ("/cart/add/", {"variant": variant_id, "quantity": "1"}),
        (
            "/checkout/place/",
            {"cart": "00000000-0000-0000-0000-000000000000", "address": address.pk, "payment_method": "sandbox"},
        ),
        (f"/orders/{order.number}/cancel/", {}),
        ("/account/addresses/new/", ADDRESS),
        ("/account/logout/", {}),
    ]


@pytest.mark.parametrize("index", range(5), ids=["cart-add", "checkout-place", "order-cancel", "address-new", "logout"])
def test_state_changing_posts_without_a_csrf_token_are_refused(alice, strict, index):
    url, data = forms(alice)[index]
    before = snapshot(alice["user"])
    lines_before = list(alice["user"].carts.values_list("lines__quantity", flat=True))

    response = strict.post(url, data)

    assert response.status_code == 403
    assert snapshot(alice["user"]) == before
    assert list(alice["user"].carts.values_list("lines__quantity", flat=True)) == lines_before
    assert strict.session.get("_auth_user_id") == str(alice["user"].pk)  # not logged out either

    # The control: with the token the same request goes through.
    with_token = strict.post(url, {**data, "csrfmiddlewaretoken": csrf_token(strict)})
    assert with_token.status_code == 302


def test_a_token_from_another_session_is_refused(alice, strict):
    csrf_token(strict)  # this browser has its own CSRF cookie
    foreign_token = csrf_token(Client(enforce_csrf_checks=True))
    response = strict.post("/account/addresses/new/", {**ADDRESS, "csrfmiddlewaretoken": foreign_token})
    assert response.status_code == 403
    assert Address.objects.filter(user=alice["user"]).count() == 2


def test_the_gateway_notification_is_exempt_and_authenticated_by_its_signature(alice):
    gateway = Client(enforce_csrf_checks=True)  # a server, with no cookie and no token
    unsigned = {
        "app_id": "sandbox-merchant",
        "out_trade_no": alice["payment"].reference,
        "trade_no": "SBX1",
        "total_amount": f"{alice['payment'].amount:.2f}",
        "currency": "CNY",
        "trade_status": "TRADE_SUCCESS",
        "notify_time": "2025-01-01 00:00:00",
    }
    refused = gateway.post("/payments/notify/sandbox/", unsigned)
    assert (refused.status_code, refused.content) == (400, b"fail")
    assert Order.objects.get(pk=alice["order"].pk).status == Order.Status.PENDING_PAYMENT

    signed = notification_for(reference=alice["payment"].reference, outcome="pay")
    accepted = gateway.post("/payments/notify/sandbox/", signed)
    assert (accepted.status_code, accepted.content) == (200, b"success")
    assert Order.objects.get(pk=alice["order"].pk).status == Order.Status.PAID


# -- redirects ------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "http://testserver.evil.example/"])
def test_next_never_leads_off_the_site(target):
    client = Client()
    registered = client.post(
        f"/account/register/?next={target}",
        {"email": "new@example.com", "password1": "plum blossom 2024", "password2": "plum blossom 2024"},
    )
    assert registered.status_code == 302 and registered.url == "/account/"
    saved = client.post(f"/account/addresses/new/?next={target}", ADDRESS)
    assert saved.status_code == 302 and saved.url == "/account/addresses/"


def test_next_within_the_site_is_followed():
    client = Client()
    client.post(
        "/account/register/?next=/checkout/",
        {"email": "new@example.com", "password1": "plum blossom 2024", "password2": "plum blossom 2024"},
    )
    saved = client.post("/account/addresses/new/?next=/checkout/", ADDRESS)
    assert saved.url == "/checkout/"
