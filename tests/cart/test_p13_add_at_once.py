"""A customer's add to cart in one statement (cart/services.py _customer_add_at_once): the open
cart found and locked or opened, the variant read with its units in stock, the line inserted or
added to, with no transaction of its own. The same outcome as the rules of _customer_cart_add in
every case, which still say why an add is refused; a race for the cart or the line settled by
PostgreSQL."""

import threading
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from cart import services
from cart.exceptions import CartError, CartErrorCode
from cart.models import Cart, CartLine
from catalog.models import Product, ProductVariant
from fulfillment.models import Stock
from tests import factories
from tests.orders.test_concurrency import run_at_once
from tests.purchase import buyer_with_cart, stocked_variant


def _statements(queries) -> list[str]:
    return [q["sql"] for q in queries if not q["sql"].upper().startswith(("SAVEPOINT", "RELEASE"))]


def _outcome(user, run) -> tuple:
    """The error (or None), the customer's carts and lines after `run`, and its statements."""
    with CaptureQueriesContext(connection) as queries:
        try:
            run()
            error = None
        except CartError as exc:
            error = (exc.code, exc.message)
    carts = list(Cart.objects.filter(user=user).order_by("pk"))
    lines = [
        (line.cart_id, line.variant_id, line.quantity, line.price_seen)
        for line in CartLine.objects.filter(cart__user=user).order_by("pk")
    ]
    return error, [(c.pk, c.state) for c in carts], lines, _statements(queries)


# (the line already in the cart or None, no cart at all, units on hand, reserved, quantity added, what
# is changed on the variant)
CASES = {
    "first add": (None, True, 5, 0, 2, ""),
    "first add, all there is": (None, True, 5, 0, 5, ""),
    "first add, more than there is": (None, True, 5, 0, 6, ""),
    "first add, sold out": (None, True, 0, 0, 1, ""),
    "first add, all reserved": (None, True, 5, 5, 1, ""),
    "first add, some reserved": (None, True, 5, 4, 2, ""),
    "variant no longer sold": (None, True, 5, 0, 1, "variant"),
    "product no longer sold": (None, True, 5, 0, 1, "product"),
    "no such variant": (None, True, 5, 0, 1, "missing"),
    "cart without the line": (None, False, 5, 0, 1, ""),
    "added to the line, price changed": (2, False, 5, 0, 3, "price"),
    "added to the line, too many for the stock": (2, False, 5, 0, 4, ""),
    "added to the line, the maximum": (97, False, 1000, 0, 2, ""),
    "added to the line, over the maximum": (98, False, 1000, 0, 2, ""),
    "line over the stock already, one more": (6, False, 5, 0, 1, ""),
    "line of a sold-out variant": (1, False, 0, 0, 1, ""),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES)
def test_one_statement_adds_as_the_rules_say(case):
    existing, no_cart, on_hand, reserved, quantity, change = CASES[case]
    variant = stocked_variant(on_hand=on_hand, price="20.00")
    Stock.objects.filter(variant=variant).update(reserved=reserved)
    # A second warehouse's row, all of it reserved: summed with the first, adding nothing.
    second = factories.WarehouseFactory(code="bj", name="北京仓", province="北京", city="北京")
    factories.StockFactory(variant=variant, product=variant.product, warehouse=second, on_hand=1, reserved=1)
    other = stocked_variant(on_hand=3)
    user, _address, cart = buyer_with_cart([(other, 1)] + ([(variant, existing)] if existing else []))
    if no_cart:
        cart.delete()
    if change == "price":
        CartLine.objects.filter(variant=variant).update(price_seen=Decimal("18.00"))
    elif change == "variant":
        ProductVariant.objects.filter(pk=variant.pk).update(is_active=False)
    elif change == "product":
        Product.objects.filter(pk=variant.product_id).update(is_active=False)
    variant_id = variant.pk + 10_000 if change == "missing" else variant.pk

    def rules():
        with transaction.atomic():
            services._customer_cart_add(user=user, variant_id=variant_id, quantity=quantity)

    def at_once():
        services.cart_add_for(user=user, session={}, variant_id=variant_id, quantity=quantity)

    outcomes = []
    for run in (rules, at_once):
        sid = transaction.savepoint()
        outcomes.append(_outcome(user, run))
        transaction.savepoint_rollback(sid)
    (rules_error, rules_carts, rules_lines, _), (error, carts, lines, statements) = outcomes
    assert error == rules_error
    assert len(carts) == len(rules_carts) and [s for _, s in carts] == [s for _, s in rules_carts]
    assert [line[1:] for line in lines] == [line[1:] for line in rules_lines]
    if no_cart and error is not None:
        assert carts == []  # a refused first add opens no cart
    if error is None:
        # The whole add is one statement (was 3-4 and the transaction's BEGIN and COMMIT).
        assert len(statements) == 1, statements


@pytest.mark.django_db
def test_a_first_add_keeps_the_carts_defaults_and_the_line_its_price():
    variant = stocked_variant(on_hand=5, price="33.30")
    user = factories.UserFactory()

    line = services.cart_add_for(user=user, session={}, variant_id=variant.pk, quantity=2)

    cart = Cart.objects.get(user=user)
    assert (cart.state, cart.coupon_code, cart.token is not None) == (Cart.State.OPEN, "", True)
    assert cart.created_at is not None and cart.updated_at is not None
    stored = CartLine.objects.get(cart=cart)
    assert (line.pk, line.cart_id, line.variant_id, line.quantity, line.price_seen) == (
        stored.pk, cart.pk, variant.pk, 2, Decimal("33.30")
    )  # fmt: skip
    added_at = stored.added_at
    services.cart_add_for(user=user, session={}, variant_id=variant.pk, quantity=1)
    stored.refresh_from_db()
    assert (stored.quantity, stored.added_at) == (3, added_at)  # added to, its place in the cart kept


@pytest.mark.django_db(transaction=True)
def test_a_cart_opened_by_a_parallel_request_gets_the_line():
    """The other request opens the cart after this add looked for one and before it commits: the
    add's insert waits on cart_one_open_per_user, fails once the other commits, and is run again,
    adding to that cart (without the retry: an IntegrityError, a 500)."""
    variant = stocked_variant(on_hand=5)
    user = factories.UserFactory()
    opened, release = threading.Event(), threading.Event()
    theirs: list[Cart] = []

    def other_request():
        try:
            with transaction.atomic():
                theirs.append(Cart.objects.create(user=user))
                opened.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_request)
    thread.start()
    assert opened.wait(timeout=30)
    # Released while this add waits on the unique index (its statement already ran its look).
    threading.Timer(0.5, release.set).start()
    line = services.cart_add_for(user=user, session={}, variant_id=variant.pk, quantity=2)
    thread.join(timeout=30)

    assert line.cart_id == theirs[0].pk
    assert Cart.objects.filter(user=user).count() == 1
    assert CartLine.objects.get(cart=theirs[0]).quantity == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first_add", [True, False])
def test_parallel_adds_of_one_customer_add_up_within_the_stock(first_add):
    variant = stocked_variant(on_hand=7)
    user, _address, cart = buyer_with_cart([])
    if first_add:
        cart.delete()

    results = run_at_once([lambda: services.cart_add_for(user=user, session={}, variant_id=variant.pk, quantity=3)] * 3)

    added = [r for r in results if isinstance(r, CartLine)]
    refused = [r for r in results if not isinstance(r, CartLine)]
    assert len(added) == 2, results
    assert [(type(e), e.code) for e in refused] == [(CartError, CartErrorCode.NOT_ENOUGH)]
    [open_cart] = Cart.objects.filter(user=user)
    assert CartLine.objects.get(cart=open_cart).quantity == 6
