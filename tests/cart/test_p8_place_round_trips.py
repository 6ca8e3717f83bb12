"""The place step's cart read with its address (one statement, the cart locked) and the cart
marked ordered by the order's INSERT (one statement): the same outcomes as the two lookups and
cart.save() they replace, including a replay, another customer's address and a failed placement
that leaves the cart open."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cart.exceptions import CartError, CartErrorCode
from cart.models import Cart
from orders.models import Order
from payments.services import wallet_top_up
from tests import factories
from tests.purchase import buyer_with_cart, place, stocked_variant

pytestmark = pytest.mark.django_db


def _wallet_buyer(units: int = 1, on_hand: int = 10):
    variant = stocked_variant(on_hand=on_hand)
    user, address, cart = buyer_with_cart([(variant, units)])
    wallet_top_up(user=user, amount=Decimal("1000.00"), reference=f"top-up-{user.pk}")
    return user, address, cart


def test_placing_reads_cart_and_address_together_and_marks_the_cart_with_the_order():
    user, address, cart = _wallet_buyer()

    with CaptureQueriesContext(connection) as queries:
        order = place(user, address, cart, payment_method="wallet")

    sqls = [q["sql"] for q in queries]
    assert order.status == Order.Status.PAID
    cart.refresh_from_db()
    assert cart.state == Cart.State.ORDERED
    # No UPDATE of the cart on its own, no read of the address on its own: both ride along.
    assert not [s for s in sqls if s.startswith('UPDATE "cart_cart"')], sqls
    assert not [s for s in sqls if s.startswith('SELECT "shop_address"')], sqls
    (insert,) = [s for s in sqls if 'INSERT INTO "orders_order"' in s]
    # The order's INSERT is the first of the placement's one statement (rows_together, P12).
    assert insert.startswith('WITH a0 AS (UPDATE "cart_cart"')
    (lookup,) = [s for s in sqls if 'FROM "cart_cart"' in s]
    assert 'LEFT JOIN "shop_address"' in lookup and 'FOR UPDATE OF "cart_cart"' in lookup


def test_a_replayed_placement_returns_the_same_order():
    user, address, cart = _wallet_buyer()
    first = place(user, address, cart, payment_method="wallet")

    again = place(user, address, cart, payment_method="wallet")

    assert again.pk == first.pk and Order.objects.filter(customer=user).count() == 1


def test_another_customers_address_is_refused_and_the_cart_stays_open():
    user, _address, cart = _wallet_buyer()
    theirs = factories.AddressFactory(user=factories.UserFactory())

    with pytest.raises(CartError) as raised:
        place(user, theirs, cart, payment_method="wallet")

    assert raised.value.code == CartErrorCode.NO_ADDRESS
    cart.refresh_from_db()
    assert cart.state == Cart.State.OPEN and not Order.objects.filter(customer=user).exists()


def test_another_customers_cart_is_stale():
    _user, address, cart = _wallet_buyer()
    other = factories.UserFactory()

    with pytest.raises(CartError) as raised:
        place(other, address, cart, payment_method="wallet")

    assert raised.value.code == CartErrorCode.STALE
    cart.refresh_from_db()
    assert cart.state == Cart.State.OPEN


def test_a_placement_refused_for_stock_leaves_the_cart_open():
    # The cart's UPDATE rides with the order's INSERT, before the stock is reserved: a shortage
    # found then rolls both back.
    user, address, cart = _wallet_buyer(units=3, on_hand=2)

    with pytest.raises(CartError) as raised:
        place(user, address, cart, payment_method="wallet")

    assert raised.value.code == CartErrorCode.OUT_OF_STOCK
    cart.refresh_from_db()
    assert cart.state == Cart.State.OPEN and not Order.objects.filter(customer=user).exists()
