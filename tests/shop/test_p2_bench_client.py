"""The checkout benchmark's own client (bench/checkout.py) runs on the cores of the shop it
measures, so it is light: raw sockets, cookies in a dict, the place form read by a scanner. What it
proves must not change: the scanner reads every confirm page as HTMLParser (PlaceForm, the
reference) does, the hand-read response keeps cookies as a browser does (the flash message tells
whether placing paid), and a short drive against a live server places and pays with the form the
page filled, reporting the client's CPU per order."""

import importlib.util
import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.messages import constants
from django.contrib.messages.storage.base import Message
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import reverse

from orders.models import Order
from payments.models import Wallet
from payments.services import wallet_top_up
from tests import factories
from tests.purchase import buyer_with_cart, english, stocked_variant

_spec = importlib.util.spec_from_file_location(
    "bench_checkout", Path(__file__).resolve().parents[2] / "bench" / "checkout.py"
)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

D = Decimal
CHECKOUT = reverse("cart:checkout")


@pytest.fixture
def buyer(db, client):
    """A signed-in customer whose cart holds ¥60.00 × 2, with ¥500.00 in the wallet."""
    user, address, cart = buyer_with_cart([(stocked_variant(price="60.00"), 2)])
    client.force_login(user)
    wallet_top_up(user=user, amount=D("500.00"), reference="T")
    return user, address, cart


def pages(client, user, address) -> dict[str, str]:
    """The confirm page in the states a buyer meets, rendered by the shop (both languages)."""
    found = {"default (Chinese)": client.get(CHECKOUT).content.decode()}
    english(client)
    found["default (English)"] = client.get(CHECKOUT).content.decode()
    found["posted back: express, insured, cod, a note to escape, an invoice"] = client.post(
        CHECKOUT,
        {"address": address.pk, "shipping_method": "express", "insured": "1", "payment_method": "cod",
         "note": 'Tom & "Jerry" <b>it\'s</b> 送到门口', "invoice": "1"},
    ).content.decode()  # fmt: skip
    Wallet.objects.filter(user=user).update(balance=D("125.00"))  # the ¥120.00, not express's ¥138.00
    found["the wallet short: place order disabled"] = client.post(
        CHECKOUT, {"address": address.pk, "shipping_method": "express", "payment_method": "wallet"}
    ).content.decode()
    found["the cart page: no confirm form"] = client.get(reverse("cart:detail")).content.decode()
    return found


def test_the_scanner_reads_every_confirm_page_as_htmlparser_does(client, buyer):
    user, address, cart = buyer
    found = pages(client, user, address)

    for state, page in found.items():
        assert bench.place_form(page) == bench.PlaceForm.of(page), state
    default = bench.place_form(found["default (Chinese)"])
    assert default is not None
    assert set(default) == {
        "csrfmiddlewaretoken", "address", "shipping_method", "payment_method", "note", "cart", "shown", "total"
    }  # fmt: skip
    assert (default["cart"], default["payment_method"], default["address"]) == (
        str(cart.token),
        "wallet",
        str(address.pk),
    )
    posted = bench.place_form(found["posted back: express, insured, cod, a note to escape, an invoice"])
    assert posted["note"] == 'Tom & "Jerry" <b>it\'s</b> 送到门口'  # unescaped, as HTMLParser does
    assert (posted["insured"], posted["invoice"], posted["shipping_method"]) == ("1", "1", "express")
    assert bench.place_form(found["the wallet short: place order disabled"]) is None
    assert bench.place_form(found["the cart page: no confirm form"]) is None


class Canned(bench.Buyer):
    """A buyer whose requests get canned responses instead of going over a socket."""

    def __init__(self, responses) -> None:
        super().__init__("http://127.0.0.1:9", "nobody@bench.example")
        self.responses = list(responses)

    def request(self, path, data=None, timeout=30):
        return self.responses.pop(0)


def test_a_confirm_page_the_scanner_reads_otherwise_is_an_error_outcome(client, buyer, monkeypatch):
    page = client.get(CHECKOUT).content.decode()
    assert Canned([(302, "", "/cart/"), (200, page, "")]).to_confirm(1)[0] == "ok"

    monkeypatch.setattr(bench, "place_form", lambda page: {"cart": "x", "payment_method": "wallet"})
    outcome, form = Canned([(302, "", "/cart/"), (200, page, "")]).to_confirm(1)
    assert form is None and outcome == "checkout:the form scanner read the page otherwise than HTMLParser"
    unchecked = Canned([(302, "", "/cart/"), (200, page, "")])
    unchecked.verify = False  # later pages are the scanner's alone
    assert unchecked.to_confirm(1) == ("ok", {"cart": "x", "payment_method": "wallet"})


def test_a_response_read_by_hand_keeps_cookies_as_a_browser_does():
    buyer = bench.Buyer("http://127.0.0.1:9", "nobody@bench.example")
    response = HttpResponse()  # a messages cookie as the shop signs it
    message = Message(constants.SUCCESS, "Order 1 placed and paid from your wallet. Thank you!")
    CookieStorage(HttpRequest())._store([message], response)
    signed = response.cookies["messages"].OutputString()

    status, location, body = buyer.response(
        b"HTTP/1.1 302 Found\r\nServer: gunicorn\r\nLocation: /orders/2026/\r\nContent-Length: 0\r\n"
        b"Set-Cookie: " + signed.encode() + b"\r\n"
        b"set-cookie: csrftoken=abc123; expires=Sun, 28 Nov 2027 21:49:58 GMT; Max-Age=31449600; Path=/\r\n\r\n"
    )
    assert (status, location, body) == (302, "/orders/2026/", b"")
    assert buyer.csrf() == "abc123"
    assert buyer.flash() == [(25, "Order 1 placed and paid from your wallet. Thank you!")]
    assert not buyer.placed_unpaid()

    # A page that shows the message deletes the cookie (an empty value, Max-Age=0); a chunked body.
    status, location, body = buyer.response(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
        b'Set-Cookie: messages=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; SameSite=Lax\r\n\r\n'
        b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n"
    )
    assert (status, location, body) == (200, "", b"hello, world")
    assert "messages" not in buyer.cookies and buyer.flash() == []
    assert buyer.placed_unpaid()  # no message to tell: the pay request decides
    assert buyer.cookies == {"csrftoken": "abc123"}


@pytest.mark.django_db(transaction=True)
def test_a_short_drive_against_a_live_server_places_and_pays_and_states_its_cpu(live_server, monkeypatch):
    variant = stocked_variant(on_hand=1000, price="20.00")
    sessions = {}
    for i in range(4):
        user = factories.UserFactory(email=f"buyer{i}@bench.example")
        factories.AddressFactory(user=user)
        wallet_top_up(user=user, amount=D("100000.00"), reference=f"T{i}")
        client = Client()
        client.force_login(user)
        sessions[user.email] = client.cookies[settings.SESSION_COOKIE_NAME].value
    monkeypatch.setattr(bench, "SESSIONS", sessions)
    checked = []
    reference = bench.PlaceForm.of
    monkeypatch.setattr(bench.PlaceForm, "of", classmethod(lambda cls, page: checked.append(1) or reference(page)))

    result = bench.drive(live_server.url, buyers=4, seconds=1.0, threads=2, variants=[variant.pk])

    paid = result["outcomes"].get("paid", 0)
    assert paid >= 1 and result["outcomes"] == {"paid": paid}, result["outcomes"]  # paid by placing: no pay request
    assert result["errors"] == 0 and result["requests_per_order"] == 3.0
    assert Order.objects.filter(status=Order.Status.PAID).count() == paid
    assert len(checked) == 2  # each thread's first confirm page, read by HTMLParser too
    assert result["client_cpu_ms_per_order"] > 0 and result["client_cpu_cores"] > 0
    json.dumps(result)  # as bin/bench-checkout writes it
