"""The one-page confirm (确认订单): GET /checkout/ shows the default address, the cheapest
shipping, no insurance and the payment method already chosen, with the lines, the totals of that
choice and "place order"; another choice posts the page back and it shows that choice's totals.
What the separate review step checked is still checked: the wallet short for the chosen total,
an address whose places must be chosen again, a cart already checked out, and (new) a choice
changed after its totals were shown is shown again rather than placed."""

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cart.models import Cart
from cart.views import choice_key
from orders.models import Order
from payments.models import Wallet
from payments.services import wallet_top_up
from tests import factories
from tests.purchase import buyer_with_cart, english, last_message, stocked_variant

pytestmark = pytest.mark.django_db
D = Decimal
CHECKOUT = reverse("cart:checkout")
PLACE = reverse("cart:place")
# GET /checkout/ through the test client, whatever the number of lines: 2 since the lines carry
# the address book and the wallet's balance (checkout_summary), 3 since they carry their options
# (a JSON column), 4 since the addresses are read with the wallet's balance, 5 since the cart is
# read with its lines (cart_summary_for), 6 before.
CONFIRM_QUERIES = 2


def checked(page: str, name: str) -> str | None:
    found = re.search(rf'<input type="radio" name="{name}" value="([^"]*)" checked', page)
    return found.group(1) if found else None


def hidden(page: str, name: str) -> str:
    return re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', page).group(1)


@pytest.fixture
def buyer(client):
    """A signed-in customer (English pages) whose cart holds ¥60.00 × 2 (¥120.00: standard
    shipping free, express ¥18.00), with ¥500.00 in the wallet."""
    user, address, cart = buyer_with_cart([(stocked_variant(price="60.00"), 2)])
    english(client).force_login(user)
    wallet_top_up(user=user, amount=D("500.00"), reference="T")
    return user, address, cart


def test_the_page_opens_with_everything_chosen_and_the_totals_of_that_choice(client, buyer):
    _user, address, cart = buyer
    response = client.get(CHECKOUT)
    page = response.content.decode()

    assert response.status_code == 200 and response.templates[0].name == "cart/checkout.html"
    assert checked(page, "address") == str(address.pk)
    assert checked(page, "shipping_method") == "standard"
    # The wallet covers the order: chosen first, though the sandbox gateway comes first in the list.
    assert checked(page, "payment_method") == "wallet"
    assert 'name="insured" value="1" id="id_insured">' in page  # offered, not chosen
    totals = response.context["totals"]
    assert (totals.subtotal, totals.shipping_fee, totals.total) == (D("120.00"), D("0.00"), D("120.00"))
    assert '<dd class="grand price" id="t-total">¥120.00</dd>' in page
    assert "Placing the order completes it: ¥120.00 is paid from your wallet at once." in page
    assert hidden(page, "cart") == str(cart.token)
    assert hidden(page, "shown") == choice_key(
        address=address.pk, shipping_method="standard", insured=False, payment_method="wallet"
    )
    assert re.search(r'<button type="submit" class="primary block" id="place-order">', page)  # enabled
    assert 'action="/checkout/place/"' in page and 'formaction="/checkout/"' in page
    assert "shop/checkout" in page and "<script>" not in page  # a static file, no inline script


def test_a_wallet_short_for_the_least_total_is_not_chosen(client, buyer):
    user, _address, _cart = buyer
    Wallet.objects.filter(user=user).update(balance=D("100.00"))
    page = client.get(CHECKOUT).content.decode()
    assert checked(page, "payment_method") == "sandbox"  # the first method offered
    assert re.search(r'value="wallet" disabled> Wallet balance \(¥100.00\): not enough', page)


def test_the_page_posted_back_with_another_choice_shows_its_totals(client, buyer):
    _user, address, _cart = buyer
    choice = {"address": address.pk, "shipping_method": "express", "insured": "1", "payment_method": "cod"}
    response = client.post(CHECKOUT, {**choice, "note": "ring twice", "invoice": "1"})
    page = response.content.decode()

    assert response.status_code == 200
    totals = response.context["totals"]
    assert (totals.shipping_fee, totals.insurance_fee) == (D("18.00"), D("1.00"))
    assert totals.total == D("139.00")
    assert checked(page, "shipping_method") == "express" and checked(page, "payment_method") == "cod"
    assert 'name="insured" value="1" id="id_insured" checked>' in page
    assert 'id="id_note" value="ring twice"' in page and 'id="want-invoice" checked>' in page
    assert hidden(page, "shown") == choice_key(
        address=address.pk, shipping_method="express", insured=True, payment_method="cod"
    )
    assert "you pay the courier in cash when the parcel arrives" in page
    assert not Order.objects.exists()


def test_a_wallet_short_for_the_chosen_total_disables_place_order_and_says_why(client, buyer):
    user, address, _cart = buyer
    Wallet.objects.filter(user=user).update(balance=D("125.00"))  # the ¥120.00, not express's ¥138.00
    response = client.post(CHECKOUT, {"address": address.pk, "shipping_method": "express", "payment_method": "wallet"})
    page = response.content.decode()
    assert "Your wallet balance (¥125.00) is less than the order total (¥138.00)." in page
    assert re.search(r'id="place-order" disabled>', page)
    assert hidden(page, "shown") == ""


def test_place_order_after_a_choice_changed_without_its_totals_places_nothing(client, buyer):
    """Without JavaScript: express chosen, then "place order" pressed at once. The totals shown
    were standard's; the order is not placed, the page shows express's totals to place."""
    user, address, cart = buyer
    page = client.get(CHECKOUT).content.decode()
    form = {
        "cart": hidden(page, "cart"),
        "shown": hidden(page, "shown"),
        "address": str(address.pk),
        "shipping_method": "express",  # changed; the page still showed standard's total
        "payment_method": "wallet",
        "note": "",
    }

    response = client.post(PLACE, form)

    assert not Order.objects.filter(customer=user).exists()
    assert Cart.objects.get(pk=cart.pk).state == Cart.State.OPEN
    assert Wallet.objects.get(user=user).balance == D("500.00")
    assert response.status_code == 200 and response.context["totals"].total == D("138.00")
    assert "You changed your choices: check the total below, then place the order." in response.content.decode()

    shown = response.content.decode()
    again = client.post(PLACE, {**form, "shown": hidden(shown, "shown"), "total": hidden(shown, "total")})
    order = Order.objects.get(customer=user)
    assert again["Location"] == order.get_absolute_url()
    assert (order.shipping_method, order.total, order.status) == ("express", D("138.00"), Order.Status.PAID)


def test_the_form_as_the_page_fills_it_places_and_pays_in_one_request(client, buyer):
    user, _address, _cart = buyer
    page = client.get(CHECKOUT).content.decode()
    form = {
        "cart": hidden(page, "cart"),
        "shown": hidden(page, "shown"),
        "total": hidden(page, "total"),
        "address": checked(page, "address"),
        "shipping_method": checked(page, "shipping_method"),
        "payment_method": checked(page, "payment_method"),
        "note": "",
    }
    response = client.post(PLACE, form)
    order = Order.objects.get(customer=user)
    assert response["Location"] == order.get_absolute_url()
    assert last_message(response) == f"Order {order.number} placed and paid from your wallet. Thank you!"
    assert order.status == Order.Status.PAID and order.total == D("120.00")
    assert Wallet.objects.get(user=user).balance == D("380.00")


def test_an_address_to_choose_again_is_named_on_the_page_and_placing_sends_to_it(client):
    user = factories.UserFactory()
    mars = factories.AddressFactory(user=user, province="火星", city="", district="")
    cart = Cart.objects.create(user=user)
    variant = stocked_variant(price="50.00")
    cart.lines.create(variant=variant, quantity=1, price_seen=variant.price)
    english(client).force_login(user)

    page = client.get(CHECKOUT).content.decode()
    assert 'id="address-needs-place"' in page

    response = client.post(
        PLACE,
        {"cart": str(cart.token), "address": mars.pk, "shipping_method": "standard", "payment_method": "cod"},
    )
    assert response.status_code == 302 and response.url.startswith(reverse("accounts:address_edit", args=[mars.pk]))
    assert not Order.objects.exists()


def test_the_page_costs_the_same_statements_for_one_line_or_five_and_no_cart_count_query(client):
    counts = []
    for n in (1, 5):
        user, _address, _cart = buyer_with_cart([(stocked_variant(price="30.00"), 2) for _ in range(n)])
        wallet_top_up(user=user, amount=D("500.00"), reference=f"T{n}")
        client.force_login(user)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(CHECKOUT)
        assert response.status_code == 200
        assert f'<span class="count">{2 * n}</span>' in response.content.decode()  # the header's count
        # The header's count comes from the lines the page read, not from a query of its own.
        assert not [q for q in queries if 'SUM("cart_cartline"."quantity")' in q["sql"]]
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    # The user; the cart's lines with the cart, their stock, their options, the addresses and the
    # wallet's balance (checkout and review were 7 each, with the header's count).
    assert counts[0] <= CONFIRM_QUERIES, [q["sql"][:80] for q in queries]
