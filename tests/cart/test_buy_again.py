"""Buy again: a finished order's lines back into the cart at today's prices; variants no longer
sold or out of stock left out with a message saying which; quantities cut to the stock and to
the cart's cap per line."""

from decimal import Decimal

import pytest

from cart import services
from cart.exceptions import CartError, CartErrorCode
from cart.models import Cart, CartLine
from fulfillment.models import Stock
from orders.models import Order
from tests import factories
from tests.purchase import buyer_with_cart, messages_of, place, stocked_variant

pytestmark = pytest.mark.django_db
S = Order.Status


def finished_order(items, status: str = S.COMPLETED) -> Order:
    user, address, cart = buyer_with_cart(items)
    order = place(user, address, cart)
    Order.objects.filter(pk=order.pk).update(status=status)
    return Order.objects.get(pk=order.pk)


def open_cart(user) -> Cart:
    return Cart.objects.get(user=user, state=Cart.State.OPEN)


def set_available(variant, units: int) -> None:
    """Stock such that `units` are free (whatever the order still holds reserved)."""
    stock = Stock.objects.get(variant=variant)
    Stock.objects.filter(pk=stock.pk).update(on_hand=stock.reserved + units)


@pytest.mark.parametrize("status", [S.COMPLETED, S.CANCELLED, S.CLOSED])
def test_the_lines_go_back_into_the_cart_at_todays_prices(client, status):
    tea, cup = stocked_variant(on_hand=20, price="30.00"), stocked_variant(on_hand=20, price="12.50")
    order = finished_order([(tea, 2), (cup, 3)], status=status)
    tea.price = Decimal("35.00")  # dearer since
    tea.save()
    client.force_login(order.customer)

    response = client.post(f"/cart/buy-again/{order.number}/")

    assert response.status_code == 302
    assert response.url == "/cart/"
    assert messages_of(response) == [f"The items of order {order.number} are in your cart, at today's prices."]
    lines = {line.variant_id: line for line in open_cart(order.customer).lines.all()}
    assert {v: (line.quantity, line.price_seen) for v, line in lines.items()} == {
        tea.pk: (2, Decimal("35.00")),
        cup.pk: (3, Decimal("12.50")),
    }
    summary = services.cart_summary(cart=open_cart(order.customer))
    assert summary.subtotal == Decimal("107.50")  # 2 × 35.00 + 3 × 12.50
    assert not summary.has_problems


def test_retired_and_sold_out_variants_are_left_out_and_named(client):
    kept = stocked_variant(on_hand=20, name="Green tea", name_en="Green tea")
    retired = stocked_variant(on_hand=20, name="Old mug", name_en="Old mug")
    sold_out = stocked_variant(on_hand=20, name="Teapot", name_en="Teapot")
    gone_product = stocked_variant(on_hand=20, name="Tray", name_en="Tray")
    order = finished_order([(kept, 1), (retired, 1), (sold_out, 2), (gone_product, 1)])
    retired.is_active = False
    retired.save()
    gone_product.product.is_active = False
    gone_product.product.save()
    set_available(sold_out, 0)
    client.force_login(order.customer)

    response = client.post(f"/cart/buy-again/{order.number}/")

    assert response.url == "/cart/"
    shown = messages_of(response)
    assert "No longer sold: Old mug, Tray." in shown or "No longer sold: Tray, Old mug." in shown
    assert "Out of stock: Teapot." in shown
    assert list(open_cart(order.customer).lines.values_list("variant_id", "quantity")) == [(kept.pk, 1)]


def test_quantities_are_cut_to_the_stock_and_to_the_carts_cap(client, settings):
    settings.CART_MAX_LINE_QUANTITY = 5
    scarce, plenty = (
        stocked_variant(on_hand=20, name="Scarce", name_en="Scarce"),
        stocked_variant(on_hand=50, name="Plenty", name_en="Plenty"),
    )
    order = finished_order([(scarce, 4), (plenty, 4)])
    set_available(scarce, 3)
    cart = Cart.objects.create(user=order.customer)
    cart.lines.create(variant=plenty, quantity=3, price_seen=plenty.price)  # already in the cart
    client.force_login(order.customer)

    response = client.post(f"/cart/buy-again/{order.number}/")

    fewer = [m for m in messages_of(response) if m.startswith("Fewer than ordered, as many as we have: ")]
    assert len(fewer) == 1
    assert sorted(fewer[0].removeprefix("Fewer than ordered, as many as we have: ").rstrip(".").split(", ")) == [
        "Plenty × 5",
        "Scarce × 3",
    ]
    lines = dict(open_cart(order.customer).lines.values_list("variant_id", "quantity"))
    assert lines == {scarce.pk: 3, plenty.pk: 5}


def test_nothing_available_leaves_the_cart_alone_and_says_so(client):
    retired = stocked_variant(on_hand=20, name="Old mug", name_en="Old mug")
    order = finished_order([(retired, 1)])
    retired.is_active = False
    retired.save()
    client.force_login(order.customer)

    response = client.post(f"/cart/buy-again/{order.number}/")

    assert response.url == f"/orders/{order.number}/"
    assert f"Nothing of order {order.number} could be put in your cart." in messages_of(response)
    assert not CartLine.objects.filter(cart__user=order.customer, cart__state="open").exists()


@pytest.mark.parametrize("status", [S.PENDING_PAYMENT, S.PAID, S.SHIPPED])
def test_an_order_under_way_is_not_bought_again(client, status):
    order = finished_order([(stocked_variant(on_hand=20), 1)], status=status)
    client.force_login(order.customer)

    response = client.post(f"/cart/buy-again/{order.number}/")

    assert response.url == f"/orders/{order.number}/"
    assert "An order can be bought again once it is completed" in messages_of(response)[-1]
    assert not CartLine.objects.filter(cart__user=order.customer, cart__state="open").exists()
    with pytest.raises(CartError) as caught:
        services.cart_buy_again(cart=Cart.objects.create(user=factories.UserFactory()), order=order)
    assert caught.value.code == CartErrorCode.NOT_FINISHED


def test_another_customers_order_answers_404_and_nothing_is_added(client):
    order = finished_order([(stocked_variant(on_hand=20), 1)])
    stranger = factories.UserFactory()
    client.force_login(stranger)

    assert client.post(f"/cart/buy-again/{order.number}/").status_code == 404
    assert client.post("/cart/buy-again/no-such-order/").status_code == 404
    assert not CartLine.objects.filter(cart__user=stranger, cart__state="open").exists()


def test_buy_again_is_post_only_and_needs_a_login(client):
    order = finished_order([(stocked_variant(on_hand=20), 1)])
    assert client.post(f"/cart/buy-again/{order.number}/").status_code == 302  # to the login page
    client.force_login(order.customer)
    assert client.get(f"/cart/buy-again/{order.number}/").status_code == 405
    assert not CartLine.objects.filter(cart__user=order.customer, cart__state="open").exists()
