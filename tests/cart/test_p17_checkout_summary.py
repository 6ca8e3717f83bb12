"""The confirm page's lines carry the customer's address book and wallet balance (one statement,
cart.services.checkout_summary): the same addresses, in the same order, with the same values,
and the same balance as checkout_addresses reads on its own."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cart import services
from payments.models import Wallet
from payments.services import wallet_top_up
from tests import factories
from tests.purchase import buyer_with_cart, stocked_variant

pytestmark = pytest.mark.django_db


def _values(addresses):
    return [[getattr(a, f) for f in services._BOOK_FIELDS] for a in addresses]


def test_the_book_and_balance_are_checkout_addresses_in_one_statement():
    user, _default, _cart = buyer_with_cart([(stocked_variant(), 1), (stocked_variant(price="9.90"), 2)])
    factories.AddressFactory(user=user, is_default=False, recipient="李四 <&>", province="火星", city="", district="")
    factories.AddressFactory(user=user, is_default=False, province_code="", city_code="")
    wallet_top_up(user=user, amount=Decimal("123.45"), reference="T")
    with CaptureQueriesContext(connection) as queries:
        summary, addresses, balance = services.checkout_summary(user=user, session={})
    assert len(queries) == 1 and len(summary.lines) == 2
    expected, expected_balance = services.checkout_addresses(user=user)
    assert [a.pk for a in addresses] == [a.pk for a in expected] and addresses[0].is_default
    assert _values(addresses) == _values(expected) and len(addresses) == 3
    assert [a.needs_place for a in addresses] == [a.needs_place for a in expected]
    assert balance == expected_balance == Decimal("123.45")
    assert addresses[0].created_at == expected[0].created_at  # deferred: read on access


def test_no_wallet_no_address_no_line():
    user, address, _cart = buyer_with_cart([(stocked_variant(), 1)])
    Wallet.objects.filter(user=user).delete()
    _summary, addresses, balance = services.checkout_summary(user=user, session={})
    assert [a.pk for a in addresses] == [address.pk] and balance is None
    address.delete()
    wallet_top_up(user=user, amount=Decimal("5.00"), reference="T")
    summary, addresses, balance = services.checkout_summary(user=user, session={})
    assert len(summary.lines) == 1 and (addresses, balance) == services.checkout_addresses(user=user) == ([], None)
    empty = factories.UserFactory()
    factories.AddressFactory(user=empty)
    summary, addresses, balance = services.checkout_summary(user=empty, session={})
    assert summary.cart is None and not summary.lines and addresses == [] and balance is None
