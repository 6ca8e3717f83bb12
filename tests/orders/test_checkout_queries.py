"""Query-count guards for the purchase's hot path: placing an order (which pays it from the wallet
in the same request) and paying one from the wallet, each a fixed number of statements whatever
the number of lines; and what the fewer statements must still do (reserve every line with its
movement, flag a product sold out by its last unit, write each mail once)."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.models import Product
from fulfillment.models import Reservation, Stock, StockMovement
from fulfillment.services import stock_movement_totals
from orders.models import Notification, Order
from payments.models import Payment
from payments.services import wallet_pay, wallet_top_up
from tests import factories
from tests.purchase import buyer_with_cart, place, place_form

pytestmark = pytest.mark.django_db
PLACE = reverse("cart:place")

# What placing an order and paying it from the wallet costs in one request, as measured here when
# these guards were written (the test client's session and savepoints included), whatever the
# number of lines: 10 since the unpaid-order caps' counts are read with the cart's lines, and the
# sales rollup's rows sent with the parcels' statement (shop.core.inserts.rows_along); 12 since
# the cart's lines are read with their options (a JSON column); 13 since the cart's statement
# locks the customer and takes the order's key, and the order's rows (order, lines, events, mail,
# payment) are one statement and its parcel with its lines another
# (shop.core.inserts.rows_together); 19 since the cart is read with the address and marked ordered
# by the order's INSERT (one statement each); 21 since an order the wallet pays is inserted paid
# (no UPDATE of it, its two events one statement) and its units are reserved with their movements
# by one statement; 25 since the parcels are made from the reservations just made (not read back);
# 26 since the wallet pays in the placing transaction (no second transaction, no second lock of
# the order, no read of its payments or lines, one mail; its debit and ledger entry one statement)
# and paying writes the sales rollup in one statement and reads the parcels with the reservations;
# 36 before that, and 57 with one line, three more per line (69 with five), before issue 12.
PLACE_QUERIES = 10
# Paying from the wallet (the service alone: the order was placed for a gateway first): 17 (was
# 19, and 30 before issue 12).
PAY_QUERIES = 17


# Adding a unit to a customer's open cart (the test client's session and savepoints included):
# 4 since the whole add is one statement (cart/services.py _customer_add_at_once: the user, and
# it in a savepoint); 7 since the cart is found and locked by one statement (cart_add_for), 8
# since the variant and its units in stock are read in one statement (9 before).
ADD_QUERIES = 4


def variants(n: int, *, on_hand: int = 10):
    """`n` variants of `n` products, all stocked in one warehouse (so one parcel)."""
    warehouse = factories.WarehouseFactory()
    made = []
    for _ in range(n):
        product = factories.ProductFactory(price=Decimal("30.00"))
        variant = factories.VariantFactory(product=product, price=Decimal("30.00"))
        factories.StockFactory(variant=variant, product=product, warehouse=warehouse, on_hand=on_hand)
        made.append(variant)
    return made


def place_with_wallet(client, lines: int) -> tuple[Order, int]:
    user, address, cart = buyer_with_cart([(v, 1) for v in variants(lines)])
    wallet_top_up(user=user, amount=Decimal("1000.00"), reference=f"top-up-{lines}")
    client.force_login(user)
    form = place_form(cart, address)
    with CaptureQueriesContext(connection) as queries:
        response = client.post(PLACE, form)
    order = Order.objects.get(customer=user)
    assert response.status_code == 302 and response["Location"] == order.get_absolute_url()
    return order, len(queries)


def test_placing_and_paying_from_the_wallet_costs_the_same_for_one_line_or_five(client):
    one, with_one = place_with_wallet(client, 1)
    five, with_five = place_with_wallet(client, 5)

    assert one.status == five.status == Order.Status.PAID
    assert five.lines.count() == 5 and Reservation.objects.filter(order=five).count() == 5
    assert with_five == with_one, f"{with_one} statements for one line, {with_five} for five"
    assert with_one <= PLACE_QUERIES, with_one


def test_adding_to_the_cart_reads_the_variant_with_its_stock(client):
    (variant,) = variants(1, on_hand=3)
    user, _address, cart = buyer_with_cart([])
    client.force_login(user)

    with CaptureQueriesContext(connection) as queries:
        response = client.post(reverse("cart:add"), {"variant": variant.pk, "quantity": "2"})

    assert response.status_code == 302
    assert cart.lines.get().quantity == 2
    assert len(queries) <= ADD_QUERIES, [q["sql"][:90] for q in queries]
    # The units in stock still decide: 2 in the cart and 3 on hand, so 2 more are refused.
    client.post(reverse("cart:add"), {"variant": variant.pk, "quantity": "2"})
    assert cart.lines.get().quantity == 2


def test_paying_from_the_wallet_costs_the_same_for_one_line_or_five():
    counts = []
    for n in (1, 5):
        user, address, cart = buyer_with_cart([(v, 1) for v in variants(n)])
        wallet_top_up(user=user, amount=Decimal("1000.00"), reference=f"top-up-{n}")
        order = place(user, address, cart)  # for the sandbox gateway: still to pay
        with CaptureQueriesContext(connection) as queries:
            payment = wallet_pay(order_id=order.pk, user=user)
        order.refresh_from_db()
        assert order.status == Order.Status.PAID and payment.state == Payment.State.CAPTURED
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    assert counts[0] <= PAY_QUERIES, counts


def test_one_reservation_statement_still_writes_each_row_and_its_movement():
    warehouse = factories.WarehouseFactory()
    a, b = variants(2, on_hand=4)
    user, address, cart = buyer_with_cart([(a, 3), (b, 1)])

    order = place(user, address, cart)

    for variant, units in ((a, 3), (b, 1)):
        stock = Stock.objects.get(variant=variant, warehouse=warehouse)
        assert (stock.on_hand, stock.reserved) == (4, units)
        movement = StockMovement.objects.get(stock=stock, reason=StockMovement.Reason.RESERVE)
        assert (movement.reserved_delta, movement.on_hand_after, movement.reserved_after) == (units, 4, units)
        assert movement.reference == order.number and movement.variant_id == variant.pk
    # reserved is still the sum of its movements (the factory counted on_hand without one).
    totals = stock_movement_totals()
    for stock in Stock.objects.filter(variant__in=[a, b]):
        assert totals[stock.pk][1] == stock.reserved


def test_the_last_unit_reserved_flags_its_product_sold_out_and_one_left_does_not(
    django_capture_on_commit_callbacks,
):
    last, spare = variants(2, on_hand=2)
    for variant in (last, spare):
        Product.objects.filter(pk=variant.product_id).update(in_stock=True)
    user, address, cart = buyer_with_cart([(last, 2), (spare, 1)])

    with django_capture_on_commit_callbacks(execute=True):
        place(user, address, cart)

    assert Product.objects.get(pk=last.product_id).in_stock is False
    assert Product.objects.get(pk=spare.product_id).in_stock is True


def test_placing_and_paying_writes_each_mail_once_and_queues_each_once(django_capture_on_commit_callbacks):
    user, address, cart = buyer_with_cart([(v, 1) for v in variants(2)])
    wallet_top_up(user=user, amount=Decimal("1000.00"), reference="top-up")

    with django_capture_on_commit_callbacks() as callbacks:
        # Placed for a gateway, then paid from the wallet on its payment page (checkout's one step
        # for the wallet writes one mail: tests/cart/test_place_and_pay.py).
        order = place(user, address, cart, payment_method="sandbox")
        wallet_pay(order_id=order.pk, user=user)
        wallet_pay(order_id=order.pk, user=user)  # a replay takes nothing and owes no mail

    mails = Notification.objects.filter(order=order)
    assert sorted(mails.values_list("kind", flat=True)) == ["order_paid", "order_placed"]
    placed = mails.get(kind="order_placed")
    assert [line["quantity"] for line in placed.context["lines"]] == [1, 1]  # the lines just written
    sends = [c for c in callbacks if c.__qualname__.startswith("notification_queue.")]
    assert len(sends) == 2, callbacks
