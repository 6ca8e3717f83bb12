"""Attacker's view of the cash-on-delivery cap (ORDER_MAX_COD_PER_CUSTOMER): checkout and the
order page (payments' cod_accept) must count the same orders, or a customer refused on one
takes the other."""

import pytest

from cart.exceptions import CartError, CartErrorCode
from cart.services import checkout_check_unpaid_caps
from orders.models import Order
from payments.exceptions import PaymentError
from payments.models import Payment
from payments.services import cod_accept
from tests import factories
from tests.cart.test_m15_cod_caps import new_cart, place_cod
from tests.purchase import place, stocked_variant

pytestmark = pytest.mark.django_db


def _caps_at_checkout(user, variant) -> bool:
    """Whether checkout would take another cash-on-delivery order from `user`."""
    from cart.services import cart_summary

    cart = new_cart(user, [(variant, 1)])
    try:
        checkout_check_unpaid_caps(customer=user, summary=cart_summary(cart=cart), payment_method="cod")
    except CartError as exc:
        assert exc.code == CartErrorCode.TOO_MANY_COD
        return False
    finally:
        cart.delete()
    return True


@pytest.mark.parametrize("delivered", [False, True])
def test_checkout_and_the_order_page_count_the_same_orders(settings, delivered):
    settings.ORDER_MAX_COD_PER_CUSTOMER = 1
    variant = stocked_variant(on_hand=100, price="30.00")
    user = factories.UserFactory()
    address = factories.AddressFactory(user=user)
    first = place_cod(user, address, [(variant, 1)])
    if delivered:
        # Delivered, the courier's collection not matching what was due: left for staff, the
        # payment still awaiting collection (payments.services.cod_collect).
        Order.objects.filter(pk=first.pk).update(status=Order.Status.COMPLETED)
        assert Payment.objects.get(order=first, provider="cod").state == Payment.State.AWAITING_COLLECTION
    at_checkout = _caps_at_checkout(user, variant)
    unpaid = place(user, address, new_cart(user, [(variant, 1)]))
    try:
        cod_accept(order_id=unpaid.pk, user=user)
    except PaymentError:
        on_the_page = False
    else:
        on_the_page = True
    assert at_checkout == on_the_page == delivered
