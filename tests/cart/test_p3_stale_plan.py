"""The purchase's statements are prepared on the connection (bind_on_server, DB_PREPARE_THRESHOLD).
A migration that changes the type of a column one of them returns makes PostgreSQL refuse it
("cached plan must not change result type"); inside the placing (or adding) transaction that
aborted the transaction, and the first purchase on each long-lived connection failed with a 500.
The service now runs its transaction again, once, with the statements prepared afresh."""

from decimal import Decimal

import pytest
from django.conf import settings
from django.db import NotSupportedError, connection, transaction
from django.urls import reverse

from orders.models import Order
from payments.services import wallet_top_up
from shop.core.postgresql.base import stale_plan_retried
from tests.purchase import buyer_with_cart, place_form, stocked_variant

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = settings.DB_PREPARE_THRESHOLD + 1  # the statements are prepared by then


@pytest.fixture
def widen_coupon_code():
    """Returns a function that changes the type of a column every cart statement returns, as a
    migration run by another process would (varchar(40) -> varchar(60)); put back afterwards,
    and this connection closed so no statement prepared meanwhile outlives the test."""
    changed = []

    def widen():
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE cart_cart ALTER COLUMN coupon_code TYPE varchar(60)")
        changed.append(True)

    yield widen
    if changed:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE cart_cart ALTER COLUMN coupon_code TYPE varchar(40)")
    connection.close()


def _prepared_on_this_connection() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%cart_cart%"])
        return cursor.fetchone()[0]


def test_placing_after_a_migration_changed_a_returned_column_s_type_places_the_order(client, widen_coupon_code):
    variant = stocked_variant(on_hand=50, price="20.00")
    buyers = [buyer_with_cart([(variant, 1)]) for _ in range(ROUNDS + 1)]
    for user, _address, _cart in buyers:
        wallet_top_up(user=user, amount=Decimal("100.00"), reference=f"P3-{user.pk}")
    for user, address, cart in buyers[:ROUNDS]:
        client.force_login(user)
        assert client.post(reverse("cart:place"), place_form(cart, address)).status_code == 302
    assert _prepared_on_this_connection()  # the cart's statements are prepared on this connection

    widen_coupon_code()
    user, address, cart = buyers[ROUNDS]
    client.force_login(user)
    response = client.post(reverse("cart:place"), place_form(cart, address))  # was: NotSupportedError, a 500

    order = Order.objects.get(customer=user)
    assert response.status_code == 302 and response["Location"] == order.get_absolute_url()
    assert order.status == Order.Status.PAID
    assert Order.objects.count() == ROUNDS + 1  # placed once, not twice


def test_adding_after_a_migration_changed_a_returned_column_s_type_adds_the_line(client, widen_coupon_code):
    variant = stocked_variant(on_hand=50, price="20.00")
    user, _address, cart = buyer_with_cart([])
    client.force_login(user)
    for _ in range(ROUNDS):
        client.post(reverse("cart:add"), {"variant": variant.pk, "quantity": "1"})
    assert _prepared_on_this_connection()

    widen_coupon_code()
    response = client.post(reverse("cart:add"), {"variant": variant.pk, "quantity": "1"})  # was: a 500

    assert response.status_code == 302
    assert cart.lines.get().quantity == ROUNDS + 1


def test_inside_a_caller_s_transaction_the_error_goes_to_the_caller(widen_coupon_code):
    from cart.models import Cart
    from shop.core.postgresql.base import bind_on_server

    runs = []

    @stale_plan_retried
    def read():
        runs.append(1)
        with bind_on_server(), connection.cursor() as cursor:
            cursor.execute("SELECT coupon_code FROM cart_cart WHERE id = %s", [0])
            return cursor.fetchall()

    Cart.objects.create()
    for _ in range(ROUNDS):
        with transaction.atomic():
            assert read() == []
    widen_coupon_code()
    with pytest.raises(NotSupportedError), transaction.atomic():
        read()  # no second run inside the caller's aborted transaction
    assert len(runs) == ROUNDS + 1
    with transaction.atomic():
        assert read() == []  # the caller's rollback dropped the statements


def test_a_read_prepared_in_sql_recovers_after_a_migration_changed_a_returned_column_s_type(widen_coupon_code):
    """shop.core.prepared's CompiledRead (PREPARE and EXECUTE in SQL, in autocommit): its EXECUTE
    was refused on this connection for as long as it lived."""
    from cart.models import Cart
    from shop.core.prepared import CompiledRead

    read = CompiledRead("p3_stale", lambda marker: Cart.objects.filter(coupon_code=marker).values_list("coupon_code"))
    Cart.objects.create(coupon_code="P3")
    assert read.rows("P3", using="default") == [("P3",)]
    widen_coupon_code()
    assert read.rows("P3", using="default") == [("P3",)]  # was: NotSupportedError
    assert read.rows("P3", using="default") == [("P3",)]
