"""The unpaid-order caps' counts read with the placing's cart lines (P19): on PostgreSQL the lines'
statement carries the customer's counts (waiting, cash due, cash due not yet shipped) from the
same queryset checkout_check_unpaid_caps counts with, read after the cart's statement locked the
customer; the place step sends no statement of its own for them. The same counts, and the caps
refuse as before."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cart.exceptions import CartError, CartErrorCode
from cart.services import _placing_summary, _unpaid_counts_statement
from orders.models import Order
from tests import factories
from tests.cart.test_m15_cod_caps import new_cart, place_cod
from tests.purchase import place, stocked_variant

pytestmark = pytest.mark.django_db


def _counted(user) -> tuple:
    sql, before, after = _unpaid_counts_statement()
    with connection.cursor() as cursor:
        cursor.execute(sql, (*before, user.pk, *after))
        return tuple(cursor.fetchone() or (0, 0, 0))


def test_the_lines_carry_the_same_counts_as_the_caps_statement():
    variant = stocked_variant(on_hand=100, price="30.00")
    user = factories.UserFactory()
    address = factories.AddressFactory(user=user)
    second = stocked_variant(on_hand=5, price="2.00")
    cart = new_cart(user, [(variant, 1), (second, 2)])
    assert _placing_summary(cart=cart)[1] == _counted(user) == (0, 0, 0)  # nothing held: no row
    cart.delete()

    place(user, address, new_cart(user, [(variant, 1)]))  # awaiting payment
    place(user, address, new_cart(user, [(variant, 1)]))
    place_cod(user, address, [(variant, 1)])  # paid by cash on delivery, its cash still due
    other = factories.UserFactory()  # another customer's orders count for them only
    place(other, factories.AddressFactory(user=other), new_cart(other, [(variant, 1)]))

    summary, counts = _placing_summary(cart=new_cart(user, [(variant, 1), (second, 2)]))
    assert len(summary.lines) == 2
    assert counts == _counted(user) == (2, 1, 1)
    assert _placing_summary(cart=new_cart(other, [(variant, 1)]))[1] == _counted(other) == (1, 0, 0)


def test_placing_sends_no_statement_of_its_own_for_the_counts():
    variant = stocked_variant(on_hand=100, price="30.00")
    user = factories.UserFactory()
    address = factories.AddressFactory(user=user)
    place(user, address, new_cart(user, [(variant, 1)]))  # compiles the statements (or earlier)

    with CaptureQueriesContext(connection) as queries:
        order = place(user, address, new_cart(user, [(variant, 2)]))

    assert order.status == Order.Status.PENDING_PAYMENT
    counting = [q["sql"] for q in queries if "FILTER (WHERE" in q["sql"]]
    (lines,) = [q["sql"] for q in queries if 'FROM "cart_cartline"' in q["sql"]]
    assert counting == [lines], counting


def test_the_caps_still_refuse_on_the_counts_read_with_the_lines(settings):
    settings.ORDER_MAX_UNPAID_PER_CUSTOMER = 2
    settings.ORDER_MAX_COD_PER_CUSTOMER = 1
    variant = stocked_variant(on_hand=100, price="30.00")
    user = factories.UserFactory()
    address = factories.AddressFactory(user=user)
    place_cod(user, address, [(variant, 1)])
    refused = new_cart(user, [(variant, 1)])
    with pytest.raises(CartError) as raised:
        place(user, address, refused, payment_method="cod")
    assert raised.value.code == CartErrorCode.TOO_MANY_COD
    refused.delete()

    place(user, address, new_cart(user, [(variant, 1)]))
    place(user, address, new_cart(user, [(variant, 1)]))
    with pytest.raises(CartError) as raised:
        place(user, address, new_cart(user, [(variant, 1)]))
    assert raised.value.code == CartErrorCode.TOO_MANY_UNPAID
    assert Order.objects.filter(customer=user).count() == 3
