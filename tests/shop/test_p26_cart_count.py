"""A signed-in customer's cart count (shop.context_processors) comes from a statement compiled
once per process, still read on every page: the same count as the ORM's aggregate, one
statement, no queryset built."""

from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Sum
from django.db.models.sql.compiler import SQLCompiler
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from cart.models import Cart, CartLine
from shop.context_processors import shop
from tests import factories


def _request(user):
    request = RequestFactory().get("/", HTTP_COOKIE=f"{settings.SESSION_COOKIE_NAME}=x")
    request.user = user
    request.session = {}
    return request


def _cart(user, state, *quantities):
    cart = Cart.objects.create(user=user, state=state)
    for quantity in quantities:
        CartLine.objects.create(
            cart=cart, variant=factories.VariantFactory(), quantity=quantity, price_seen=Decimal("1.00")
        )


def _aggregate(user) -> int:
    lines = CartLine.objects.filter(cart__state="open", cart__user=user)
    return lines.aggregate(n=Sum("quantity"))["n"] or 0


@pytest.mark.django_db
def test_the_count_is_the_aggregates():
    empty, buyer, other = factories.UserFactory(), factories.UserFactory(), factories.UserFactory()
    _cart(buyer, Cart.State.OPEN, 2, 3)
    _cart(buyer, Cart.State.ORDERED, 7)  # an earlier cart, ordered: not counted
    _cart(other, Cart.State.OPEN, 11)  # another customer's
    _cart(None, Cart.State.OPEN, 13)  # a guest's
    counts = {user: shop(_request(user))["cart_count"] for user in (empty, buyer, other)}
    assert counts == {empty: 0, buyer: 5, other: 11}
    assert counts == {user: _aggregate(user) for user in counts}


@pytest.mark.django_db
def test_one_statement_and_no_queryset_built(monkeypatch):
    buyer = factories.UserFactory()
    _cart(buyer, Cart.State.OPEN, 4)
    shop(_request(buyer))  # the first compiles it
    compiled = []
    original = SQLCompiler.as_sql
    monkeypatch.setattr(SQLCompiler, "as_sql", lambda self, *a, **k: compiled.append(1) or original(self, *a, **k))
    with CaptureQueriesContext(connection) as queries:
        assert shop(_request(buyer))["cart_count"] == 4
    assert compiled == [] and len(queries) == 1


@pytest.mark.django_db(transaction=True)  # autocommit, as in production: bound on the server
def test_in_autocommit_too():
    buyer = factories.UserFactory()
    _cart(buyer, Cart.State.OPEN, 1, 1, 1)
    for _ in range(settings.DB_PREPARE_THRESHOLD + 2):
        assert shop(_request(buyer))["cart_count"] == 3
