"""The purchase's statements are bound on the server and prepared once they have run
DB_PREPARE_THRESHOLD times on a connection (shop/core/postgresql, bind_on_server); nothing else
is prepared that way (a prepared search would get a generic plan)."""

from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orders.models import Order
from payments.services import wallet_top_up
from shop.core.postgresql.base import bind_on_server
from tests import factories
from tests.purchase import buyer_with_cart, shown_total, stocked_variant

pytestmark = pytest.mark.django_db


def prepared(fragment: str) -> int:
    """Statements prepared on this connection whose text has `fragment`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", [f"%{fragment}%"])
        return cursor.fetchone()[0]


def test_a_statement_run_often_inside_bind_on_server_is_prepared_and_outside_never():
    assert settings.DATABASES["default"]["OPTIONS"]["prepare_threshold"] == settings.DB_PREPARE_THRESHOLD >= 1
    user = factories.UserFactory()
    for _ in range(settings.DB_PREPARE_THRESHOLD + 1):
        assert Order.objects.filter(customer=user, cart_token=None).count() == 0  # client binding
    assert prepared('FROM "orders_order"') == 0
    with bind_on_server():
        for _ in range(settings.DB_PREPARE_THRESHOLD + 1):
            assert Order.objects.filter(customer=user, cart_token=None).count() == 0
    assert prepared('FROM "orders_order"') == 1


def wallet_place_form(cart, address) -> dict:
    """What the confirm page posts to place the cart's order, paid from the wallet."""
    return {
        "cart": str(cart.token),
        "address": address.pk,
        "shipping_method": "standard",
        "payment_method": "wallet",
        "total": shown_total(cart, address),
    }


def test_placing_orders_through_the_pages_prepares_their_statements(client):
    for n in range(settings.DB_PREPARE_THRESHOLD + 1):
        user, address, cart = buyer_with_cart([(stocked_variant(price="30.00"), 1)])
        wallet_top_up(user=user, amount=Decimal("100.00"), reference=f"K15-{n}")
        client.force_login(user)
        assert client.get(reverse("cart:checkout")).status_code == 200
        response = client.post(reverse("cart:place"), wallet_place_form(cart, address))
        assert response.status_code == 302 and "/orders/" in response.url, response
    assert Order.objects.filter(status=Order.Status.PAID).count() == settings.DB_PREPARE_THRESHOLD + 1
    assert prepared('INSERT INTO "orders_order"') == 1
    assert prepared('INSERT INTO "orders_orderline"') == 1


def test_placing_looks_up_the_cart_address_and_customer_without_an_order_by(client):
    """Lookups by a key find one row: first()'s ORDER BY cost more Python to compile than the
    statement took in PostgreSQL (docs/benchmark.md, "Issue 12, third session: checkout")."""
    user, address, cart = buyer_with_cart([(stocked_variant(price="30.00"), 1)])
    wallet_top_up(user=user, amount=Decimal("100.00"), reference="K15")
    client.force_login(user)
    with CaptureQueriesContext(connection) as queries:
        response = client.post(reverse("cart:place"), wallet_place_form(cart, address))
    assert response.status_code == 302 and "/orders/" in response.url, response
    lookups = [
        q["sql"]
        for q in queries
        if q["sql"].startswith("SELECT") and any(f'FROM "{t}"' in q["sql"] for t in ("cart_cart", "shop_address"))
    ]
    lookups += [q["sql"] for q in queries if "FOR NO KEY UPDATE" in q["sql"]]
    # The cart and its address by one statement (P8), the customer's lock by another.
    assert len(lookups) == 2, lookups
    assert not [sql for sql in lookups if "ORDER BY" in sql], lookups
