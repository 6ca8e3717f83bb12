"""Caps on what one customer may hold in unpaid orders (issue 8, "Abuse"): an unpaid order
reserves its units for ORDER_PAYMENT_MINUTES, so without caps one customer could hold all the
stock of a variant (99 units a line, 30 orders a minute). Checked where the order is placed,
with the customer's row locked, so that simultaneous placements cannot overshoot."""

import threading

import pytest
from django.conf import settings
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from cart import services
from cart.exceptions import CartError, CartErrorCode
from cart.models import Cart
from fulfillment.models import Reservation, Stock
from orders.models import Coupon, Order
from orders.services import order_cancel, order_mark_paid
from tests import factories
from tests.purchase import english, last_message, place, stocked_variant

pytestmark = pytest.mark.django_db


def test_the_defaults():
    assert settings.ORDER_MAX_UNPAID_PER_CUSTOMER == 5
    assert settings.ORDER_MAX_UNPAID_UNITS_PER_CUSTOMER == 200
    assert settings.ORDER_MAX_UNPAID_UNITS_PER_VARIANT == settings.CART_MAX_LINE_QUANTITY == 99


def new_cart(user, items, coupon: str = "") -> Cart:
    """The customer's next open cart (the previous one became an order) holding `items`."""
    cart = Cart.objects.create(user=user, coupon_code=coupon)
    for variant, quantity in items:
        cart.lines.create(variant=variant, quantity=quantity, price_seen=variant.price)
    return cart


def reserved(variant) -> int:
    return Stock.objects.get(variant=variant).reserved


def test_the_sixth_unpaid_order_is_refused_with_a_message_and_changes_nothing(client):
    variant = stocked_variant(on_hand=1000, price="20.00")
    user = factories.UserFactory()
    address = factories.AddressFactory(user=user)
    factories.CouponFactory(code="SPRING", kind="fixed", value="5.00", usage_limit=10)
    orders = [place(user, address, new_cart(user, [(variant, 2)])) for _ in range(5)]
    assert Order.objects.filter(customer=user, status="pending_payment").count() == 5
    assert reserved(variant) == 10

    sixth = new_cart(user, [(variant, 1)], coupon="SPRING")
    client = english(client)
    client.force_login(user)
    response = client.post(
        "/checkout/place/",
        {
            "cart": str(sixth.token),
            "address": str(address.pk),
            "shipping_method": "standard",
            "payment_method": "wallet",
        },
    )

    assert response.status_code == 302 and response.url == "/cart/"
    assert last_message(response) == (
        "You already have 5 orders awaiting payment. Pay for or cancel one of them before placing another."
    )
    assert client.get(response.url).status_code == 200  # the cart page shows it
    assert Order.objects.count() == 5
    assert reserved(variant) == 10
    assert Reservation.objects.count() == 5
    assert Coupon.objects.get(code="SPRING").used_count == 0
    sixth.refresh_from_db()
    assert sixth.state == Cart.State.OPEN  # the customer can come back to it

    # Paying one frees a slot; so does cancelling one.
    order_mark_paid(order_id=orders[0].pk, amount=orders[0].total, reference="PAY-1")
    sixth_order = place(user, address, sixth)
    assert sixth_order.status == Order.Status.PENDING_PAYMENT
    assert reserved(variant) == 11

    seventh = new_cart(user, [(variant, 1)])
    with pytest.raises(CartError) as refused:
        place(user, address, seventh)
    assert refused.value.code == CartErrorCode.TOO_MANY_UNPAID
    order_cancel(order_id=orders[1].pk, actor=user, actor_kind="customer", reason="changed my mind")
    assert place(user, address, seventh).status == Order.Status.PENDING_PAYMENT

    # A replayed "place order" for a cart already ordered still answers its order.
    assert place(user, address, sixth) == sixth_order


def test_other_customers_are_not_limited_by_one_customers_unpaid_orders():
    variant = stocked_variant(on_hand=1000)
    hoarder = factories.UserFactory()
    hoarder_address = factories.AddressFactory(user=hoarder)
    for _ in range(5):
        place(hoarder, hoarder_address, new_cart(hoarder, [(variant, 1)]))
    other = factories.UserFactory()
    assert place(other, factories.AddressFactory(user=other), new_cart(other, [(variant, 1)]))


def test_units_waiting_in_unpaid_orders_are_capped_in_all():
    variants = [stocked_variant(on_hand=500, price="1.00") for _ in range(3)]
    user = factories.UserFactory()
    address = factories.AddressFactory(user=user)
    place(user, address, new_cart(user, [(variants[0], 99)]))
    place(user, address, new_cart(user, [(variants[1], 99)]))  # 198 units waiting

    too_many = new_cart(user, [(variants[2], 3)])
    with translation.override("en"), pytest.raises(CartError) as refused:
        place(user, address, too_many)
    assert refused.value.code == CartErrorCode.TOO_MANY_UNPAID_UNITS
    assert refused.value.message == (
        "Orders awaiting payment may hold at most 200 items in all; this one would bring yours to 201. "
        "Pay for or cancel an unpaid order first, or order fewer."
    )
    assert reserved(variants[2]) == 0 and Order.objects.count() == 2

    too_many.lines.update(quantity=2)  # exactly 200
    assert place(user, address, too_many).status == Order.Status.PENDING_PAYMENT
    assert sum(reserved(v) for v in variants) == 200


def test_units_of_one_variant_waiting_in_unpaid_orders_are_capped():
    scarce = stocked_variant(on_hand=300, price="9.00")
    other = stocked_variant(on_hand=300, price="9.00")
    user = factories.UserFactory()
    address = factories.AddressFactory(user=user)
    place(user, address, new_cart(user, [(scarce, 60)]))

    cart = new_cart(user, [(other, 1), (scarce, 40)])
    with translation.override("en"), pytest.raises(CartError) as refused:
        place(user, address, cart)
    assert refused.value.code == CartErrorCode.TOO_MANY_UNPAID_OF_ONE
    with translation.override("en"):
        name = scarce.product.display_name
    assert refused.value.message == (
        f"Orders awaiting payment may hold at most 99 of “{name}”; this one would bring yours to 100. "
        "Pay for or cancel an unpaid order first, or order fewer."
    )
    assert (reserved(scarce), reserved(other)) == (60, 0)

    cart.lines.filter(variant=scarce).update(quantity=39)
    place(user, address, cart)
    assert (reserved(scarce), reserved(other)) == (99, 1)


def test_cancelled_and_paid_orders_do_not_count(settings):
    settings.ORDER_MAX_UNPAID_PER_CUSTOMER = 1
    variant = stocked_variant(on_hand=100)
    user = factories.UserFactory()
    address = factories.AddressFactory(user=user)
    first = place(user, address, new_cart(user, [(variant, 1)]))
    order_cancel(order_id=first.pk, actor=user, actor_kind="customer", reason="oops")
    second = place(user, address, new_cart(user, [(variant, 1)]))
    order_mark_paid(order_id=second.pk, amount=second.total, reference="PAY-2")
    assert place(user, address, new_cart(user, [(variant, 1)])).status == Order.Status.PENDING_PAYMENT
    with pytest.raises(CartError):
        place(user, address, new_cart(user, [(variant, 1)]))


def test_the_customer_row_is_locked_before_counting():
    """Without the lock two placements could both count the same free slot."""
    variant = stocked_variant(on_hand=10)
    user = factories.UserFactory()
    address = factories.AddressFactory(user=user)
    cart = new_cart(user, [(variant, 1)])
    with CaptureQueriesContext(connection) as queries:
        place(user, address, cart)
    sql = [q["sql"] for q in queries.captured_queries]
    user_table = user._meta.db_table
    # Locked by a statement of its own, or (PostgreSQL) by the cart's statement, FOR NO KEY UPDATE OF it.
    lock = next(i for i, q in enumerate(sql) if f'"{user_table}"' in q and "FOR NO KEY UPDATE" in q)
    count = next(i for i, q in enumerate(sql) if "COUNT(" in q and '"orders_order"' in q)
    assert lock < count


@pytest.mark.django_db(transaction=True)
def test_simultaneous_placements_never_exceed_the_caps(settings):
    """Eight browsers of one customer keep opening a cart, adding a unit and placing it, all at
    once: however they interleave, no more than the cap of orders is left unpaid and every
    reserved unit belongs to one of them."""
    settings.ORDER_MAX_UNPAID_PER_CUSTOMER = 3
    variant = stocked_variant(on_hand=100, price="10.00")
    user = factories.UserFactory()
    address = factories.AddressFactory(user=user)
    threads_count, attempts = 8, 6
    barrier = threading.Barrier(threads_count)
    results: list = []
    lock = threading.Lock()

    def browse():
        try:
            barrier.wait(timeout=30)
            for _ in range(attempts):
                try:
                    cart = services.cart_open(user=user, session={})
                    services.cart_add(cart=cart, variant_id=variant.pk, quantity=1)
                    outcome = place(user, address, cart)
                except CartError as exc:
                    outcome = exc.code
                except Cart.DoesNotExist:
                    # cart_open lost a race: its open cart was ordered between its failed insert
                    # and its read. Not what this test is about; the browser simply tries again.
                    outcome = "retry"
                with lock:
                    results.append(outcome)
        except Exception as exc:  # collected and asserted on below
            with lock:
                results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=browse) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert CartErrorCode.TOO_MANY_UNPAID in results  # the cap was reached and held
    assert len({r.pk for r in results if isinstance(r, Order)}) == 3
    unpaid = Order.objects.filter(customer=user, status=Order.Status.PENDING_PAYMENT)
    assert unpaid.count() == 3
    held = sum(line.quantity for order in unpaid for line in order.lines.all())
    assert reserved(variant) == held
    assert Reservation.objects.filter(state=Reservation.State.HELD).count() == 3
