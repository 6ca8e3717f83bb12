"""The total the customer saw is the total charged: the confirm page posts the total it showed
with its place form, and an order is placed at that total or not at all (a line or quantity
changed in another tab, a coupon gone meanwhile: the page again, with the new total). And an
order whose total is 0 needs no payment: it is paid as it is placed, with no payment row, no
ledger entry and no gateway."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from cart import services
from cart.exceptions import CartError, CartErrorCode
from cart.models import Cart, CartLine
from fulfillment.models import Shipment
from orders.models import Coupon, Notification, Order
from payments.models import Payment, Wallet, WalletEntry
from payments.services import wallet_top_up
from tests import factories
from tests.purchase import buyer_with_cart, english, last_message, place, shown_total, stocked_variant

pytestmark = pytest.mark.django_db
D = Decimal
CHECKOUT = reverse("cart:checkout")
PLACE = reverse("cart:place")


def hidden(page: str, name: str) -> str:
    return re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', page).group(1)


def checked(page: str, name: str) -> str | None:
    found = re.search(rf'<input type="radio" name="{name}" value="([^"]*)" checked', page)
    return found.group(1) if found else None


def page_form(page: str) -> dict:
    """The place form as the confirm page fills it."""
    return {
        "cart": hidden(page, "cart"),
        "shown": hidden(page, "shown"),
        "total": hidden(page, "total"),
        "address": checked(page, "address"),
        "shipping_method": checked(page, "shipping_method"),
        "payment_method": checked(page, "payment_method"),
        "note": "",
    }


@pytest.fixture
def buyer(client):
    """A signed-in customer (English pages) whose cart holds ¥60.00 × 2 (¥120.00, standard
    shipping free over ¥99), with ¥500.00 in the wallet."""
    user, address, cart = buyer_with_cart([(stocked_variant(price="60.00"), 2)])
    english(client).force_login(user)
    wallet_top_up(user=user, amount=D("500.00"), reference="T")
    return user, address, cart


def test_a_quantity_changed_in_another_tab_shows_the_new_total_and_places_nothing(client, buyer):
    user, _address, cart = buyer
    page = client.get(CHECKOUT).content.decode()
    form = page_form(page)
    assert form["total"] == "120.00"
    CartLine.objects.filter(cart=cart).update(quantity=3)  # another tab: ¥180.00 now

    response = client.post(PLACE, form)

    assert response.status_code == 200 and response.context["totals"].total == D("180.00")
    assert "The total changed from ¥120.00 to ¥180.00: check the order again." in response.content.decode()
    assert not Order.objects.filter(customer=user).exists()
    assert Cart.objects.get(pk=cart.pk).state == Cart.State.OPEN
    assert Wallet.objects.get(user=user).balance == D("500.00")
    assert not WalletEntry.objects.filter(wallet__user=user, reason=WalletEntry.Reason.PAYMENT).exists()

    again = client.post(PLACE, page_form(response.content.decode()))  # the page shown now: placed
    order = Order.objects.get(customer=user)
    assert again["Location"] == order.get_absolute_url()
    assert (order.total, order.status) == (D("180.00"), Order.Status.PAID)


def test_a_missing_or_garbled_total_is_refused_and_the_page_shown_again(client, buyer):
    user, _address, cart = buyer
    form = page_form(client.get(CHECKOUT).content.decode())

    for total in (None, "", "abc", "1.2e2", "-120.00", "120", "120.000", "NaN", "１２０.００"):
        posted = {k: v for k, v in form.items() if k != "total"}
        if total is not None:
            posted["total"] = total
        response = client.post(PLACE, posted)
        assert response.status_code == 200, total
        assert "Check the order total below, then place the order." in response.content.decode(), total

    assert not Order.objects.filter(customer=user).exists()
    assert Cart.objects.get(pk=cart.pk).state == Cart.State.OPEN


def test_a_coupon_removed_meanwhile_is_refused_by_the_service_before_anything_is_written(buyer):
    user, address, cart = buyer
    cart.coupon_code = factories.CouponFactory(code="TEN", value=D("10.00")).code
    cart.save(update_fields=["coupon_code"])
    shown = D(shown_total(cart, address))
    assert shown == D("110.00")
    services.cart_clear_coupon(cart=cart)  # in another tab, after the page showed ¥110.00

    with pytest.raises(CartError) as error:
        place(user, address, cart, payment_method="wallet", expected_total=shown)

    assert error.value.code == CartErrorCode.TOTAL_CHANGED
    assert not Order.objects.exists() and Wallet.objects.get(user=user).balance == D("500.00")
    with pytest.raises(CartError) as error:
        place(user, address, cart, payment_method="wallet", expected_total=None)
    assert error.value.code == CartErrorCode.TOTAL_NOT_SHOWN


def test_a_replay_of_a_placed_order_returns_it_whatever_the_total_posted(client, buyer):
    user, _address, cart = buyer
    form = page_form(client.get(CHECKOUT).content.decode())
    first = client.post(PLACE, form)
    order = Order.objects.get(customer=user)
    CartLine.objects.filter(cart=cart).update(quantity=5)  # the ordered cart, changed by hand

    again = client.post(PLACE, form)

    assert first["Location"] == again["Location"] == order.get_absolute_url()
    assert Order.objects.filter(customer=user).count() == 1
    assert Payment.objects.filter(order=order).count() == 1


# -- an order of ¥0 ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["wallet", "sandbox", "cod"])
def test_an_order_a_coupon_covers_is_paid_as_it_is_placed_with_no_payment(client, method):
    """¥120.00 of goods (standard shipping free over ¥99) and a coupon of 100%: ¥0.00. The wallet
    (empty: it is not asked for anything), a gateway or cash on delivery: none is needed."""
    Coupon.objects.create(code="ALL", kind=Coupon.Kind.PERCENT, value=D("100"))
    user, _address, _cart = buyer_with_cart([(stocked_variant(price="60.00"), 2)], coupon="ALL")
    english(client).force_login(user)
    page = client.get(CHECKOUT).content.decode()
    assert hidden(page, "total") == "0.00"
    assert "Placing the order completes it: there is nothing to pay." in page

    form = page_form(page)
    form["shown"] = form["shown"].replace(":wallet", f":{method}")  # as if its totals were shown for it
    response = client.post(PLACE, {**form, "payment_method": method})

    order = Order.objects.get(customer=user)
    assert response["Location"] == order.get_absolute_url()
    assert last_message(response) == f"Order {order.number} placed: there is nothing to pay. Thank you!"
    assert (order.total, order.discount, order.status) == (D("0.00"), D("120.00"), Order.Status.PAID)
    assert order.paid_at is not None
    assert not Payment.objects.filter(order=order).exists()
    assert not WalletEntry.objects.filter(wallet__user=user).exists()
    parcel = Shipment.objects.get(order=order)
    assert parcel.cod_amount == D("0.00")  # nothing for a courier to collect
    assert list(Notification.objects.filter(order=order).values_list("kind", flat=True)) == ["order_paid"]


def test_an_order_of_0_placed_by_a_script_is_paid_too():
    Coupon.objects.create(code="ALL", kind=Coupon.Kind.PERCENT, value=D("100"))
    user, address, cart = buyer_with_cart([(stocked_variant(price="60.00"), 2)], coupon="ALL")
    assert shown_total(cart, address) == "0.00"

    order = place(user, address, cart, payment_method="wallet")

    assert order.status == Order.Status.PAID
    assert services.checkout_complete_order(order=order, customer=user) is None
    assert not Payment.objects.filter(order=order).exists()
