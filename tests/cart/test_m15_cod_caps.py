"""Cash on delivery and the unpaid caps (issue 12, part M): a cash-on-delivery order is accepted
at once (待发货) and holds its stock, unpaid, until it ships, with no payment timeout. So its
units count towards the unit caps, and a customer with ORDER_MAX_COD_PER_CUSTOMER orders whose
cash is still to collect cannot take another on credit, at checkout or on an order's page."""

import pytest
from django.utils import translation

from cart import services
from cart.exceptions import CartError, CartErrorCode
from cart.models import Cart
from fulfillment.models import Stock
from orders.models import Order
from payments.models import Payment
from tests import factories
from tests.purchase import english, last_message, place, stocked_variant

pytestmark = pytest.mark.django_db


def new_cart(user, items) -> Cart:
    cart = Cart.objects.create(user=user)
    for variant, quantity in items:
        cart.lines.create(variant=variant, quantity=quantity, price_seen=variant.price)
    return cart


def place_cod(user, address, items) -> Order:
    order = place(user, address, new_cart(user, items), payment_method="cod")
    services.checkout_complete_order(order=order, customer=user)
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    return order


def test_the_default():
    from django.conf import settings

    assert settings.ORDER_MAX_COD_PER_CUSTOMER == 3


def test_units_of_a_cash_on_delivery_order_not_yet_shipped_count_towards_the_caps():
    scarce = stocked_variant(on_hand=300, price="9.00")
    user = factories.UserFactory()
    address = factories.AddressFactory(user=user)
    place_cod(user, address, [(scarce, 60)])

    cart = new_cart(user, [(scarce, 40)])
    with translation.override("en"), pytest.raises(CartError) as refused:
        place(user, address, cart)
    assert refused.value.code == CartErrorCode.TOO_MANY_HELD_OF_ONE
    with translation.override("en"):
        name = scarce.product.display_name
        assert refused.value.message == (
            f"Orders awaiting payment and cash-on-delivery orders not yet shipped may hold at most 99 of “{name}”; "
            "this one would bring yours to 100. Pay for an unpaid order first, or order fewer."
        )
    assert Stock.objects.get(variant=scarce).reserved == 60 and Order.objects.count() == 1

    cart.lines.update(quantity=39)
    assert place(user, address, cart).status == Order.Status.PENDING_PAYMENT


def test_units_in_all_count_cash_on_delivery_orders_not_yet_shipped(settings):
    settings.ORDER_MAX_UNPAID_UNITS_PER_CUSTOMER = 10
    variant = stocked_variant(on_hand=100, price="5.00")
    user = factories.UserFactory()
    address = factories.AddressFactory(user=user)
    place_cod(user, address, [(variant, 6)])
    cart = new_cart(user, [(variant, 5)])
    with pytest.raises(CartError) as refused:
        place(user, address, cart)
    assert refused.value.code == CartErrorCode.TOO_MANY_HELD_UNITS
    # Once its cash is no longer due (paid online meanwhile), it holds nothing unpaid.
    Payment.objects.filter(provider="cod").update(state=Payment.State.WITHDRAWN)
    assert place(user, address, cart).status == Order.Status.PENDING_PAYMENT


def test_a_fourth_cash_on_delivery_order_is_refused_at_checkout_and_nothing_is_written(client):
    variant = stocked_variant(on_hand=100, price="30.00")
    user = factories.UserFactory()
    address = factories.AddressFactory(user=user)
    for _ in range(3):
        place_cod(user, address, [(variant, 1)])

    fourth = new_cart(user, [(variant, 1)])
    client = english(client)
    client.force_login(user)
    response = client.post(
        "/checkout/place/",
        {"cart": str(fourth.token), "address": str(address.pk), "shipping_method": "standard", "payment_method": "cod"},
    )
    assert response.status_code == 302 and response.url == "/cart/"
    assert last_message(response) == (
        "You already have 3 cash-on-delivery orders whose cash has not been collected yet. Pay for this "
        "order online, or choose cash on delivery again once one of them has been delivered."
    )
    assert Order.objects.count() == 3 and Stock.objects.get(variant=variant).reserved == 3
    fourth.refresh_from_db()
    assert fourth.state == Cart.State.OPEN

    # Paying online is still open to them; and a fourth once one cash is collected.
    assert place(user, address, fourth).status == Order.Status.PENDING_PAYMENT
    first = Payment.objects.filter(provider="cod").order_by("pk").first()
    Payment.objects.filter(pk=first.pk).update(state=Payment.State.CAPTURED)
    assert place_cod(user, address, [(variant, 1)]).payment_method == "cod"


def test_the_same_cap_holds_when_an_order_is_turned_to_cash_on_delivery_on_its_page(client, settings):
    settings.ORDER_MAX_COD_PER_CUSTOMER = 1
    variant = stocked_variant(on_hand=100, price="30.00")
    user = factories.UserFactory()
    address = factories.AddressFactory(user=user)
    place_cod(user, address, [(variant, 1)])
    unpaid = place(user, address, new_cart(user, [(variant, 1)]))  # online payment, not yet paid

    client = english(client)
    client.force_login(user)
    response = client.post(f"/payments/pay/{unpaid.number}/", {"method": "cod"})
    assert response.status_code == 302
    assert last_message(response).startswith("You already have 1 cash-on-delivery orders")
    unpaid.refresh_from_db()
    assert unpaid.status == Order.Status.PENDING_PAYMENT
    assert not unpaid.payments.exists()
