"""Quantities typed by customers, as a property: whatever arrives, a whole number from 1 to
CART_MAX_LINE_QUANTITY is taken, and anything else is refused with a message and changes nothing.

Valid means ASCII or full-width digits (a Chinese input method in full-width mode types "５"; the
shop's one rule for digits, shop.core.text, as for postcodes), optionally padded with whitespace
(a browser's number field may send " 3"), whose value is in range. Everything else is invalid:
zero, negatives, huge numbers, decimals, exponents, signs, words, empty or blank, Arabic-Indic
or other scripts' digits ("٣"), superscripts, None."""

import re
import string

import pytest
from django.conf import settings
from django.test import Client
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from cart.exceptions import CartError, CartErrorCode
from cart.models import Cart, CartLine
from cart.services import parse_quantity
from tests import factories
from tests.purchase import english, messages_of, stocked_variant

MAX = 99  # settings.CART_MAX_LINE_QUANTITY, checked below
REFUSED = f"Quantity must be a whole number from 1 to {MAX}."
ASCII_WHITESPACE = " \t\n\r\x0b\x0c"


def expected(raw) -> int | None:
    """The oracle: the quantity `raw` stands for, or None when it must be refused."""
    if raw is None:
        return None
    text = raw.strip().translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    if not re.fullmatch(r"[0-9]+", text):
        return None
    value = int(text)
    return value if 1 <= value <= MAX else None


padding = st.text(alphabet=ASCII_WHITESPACE, max_size=2)
in_range = st.integers(1, MAX).map(str)
quantities = st.one_of(
    in_range,
    st.builds(lambda before, n, after: before + n + after, padding, in_range, padding),
    st.integers(-(10**30), 10**30).map(str),  # zero, negative, huge
    st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str),  # "1.50", "-0.01"
    st.floats(allow_nan=True, allow_infinity=True).map(str),  # "1e+100", "nan", "inf", "3.0"
    st.text(alphabet=string.digits + "+-.,eE _", max_size=6),  # near misses: "+3", "1_0", "3 4"
    st.text(alphabet=ASCII_WHITESPACE, max_size=4),  # empty and blank
    st.text(alphabet="0123456789０１２３４５６７８９٠١٢٣٤٥٦٧٨٩²³¹½一二三", min_size=1, max_size=3),
    st.text(max_size=5),  # anything at all
    st.none(),
)

# Examples that must always be tried, whatever hypothesis draws.
ALWAYS = [
    "1", "99", " 7 ", "\t42\n", "07", "５", "１２", "9９",  # valid
    "0", "00", "-1", "100", "1000000000000000000000", "1.5", "2.0", "1e2", "+3", "0x10", "3 4",
    "", " ", "\t", "abc", "\x0b5", "5\x0c", "\x005",
    "五", "٣", "１٢", "０", "１００", "²", "½", "NaN", "None", "3_0",  # invalid
    None,
]  # fmt: skip


def refused_at_the_door(raw) -> bool:
    """Control characters other than tab, CR and LF never reach a view: the middleware
    (shop.core.middleware) answers 400 and nothing changes."""
    return raw is not None and any((ord(c) < 32 and c not in "\t\n\r") or ord(c) == 127 for c in raw)


def with_examples(test):
    for value in reversed(ALWAYS):
        test = example(raw=value)(test)
    return test


def test_the_limit_is_the_settings():
    assert settings.CART_MAX_LINE_QUANTITY == MAX


@hypothesis_settings(max_examples=400, deadline=None)
@with_examples
@given(raw=quantities)
def test_parse_quantity(raw):
    want = expected(raw)
    if want is None:
        with pytest.raises(CartError) as error:
            parse_quantity(raw)
        assert error.value.code == CartErrorCode.BAD_QUANTITY
    else:
        assert parse_quantity(raw) == want


class QuantityPagesTest(TestCase):
    """The same values posted to the cart's pages. Hypothesis' Django TestCase runs every
    example in its own transaction, rolled back afterwards."""

    @classmethod
    def setUpTestData(cls):
        cls.variant = stocked_variant(on_hand=500, price="10.00")
        cls.customer = factories.UserFactory()
        # One client for every example: building a client's middleware stack takes a while.
        cls.browser = Client()

    def fresh_browser(self) -> Client:
        """The shared client with no cookies left from the last example: a new visitor."""
        self.browser.cookies.clear()
        return english(self.browser)

    def post(self, client, url, raw):
        # A None from a form is a field that was not sent at all.
        data = {"variant": str(self.variant.pk)} if url == "/cart/add/" else {}
        if raw is not None:
            data["quantity"] = raw
        return client.post(url, data)

    @hypothesis_settings(max_examples=80, deadline=None)
    @with_examples
    @given(raw=quantities)
    def test_adding_to_the_cart(self, raw):
        client = self.fresh_browser()
        response = self.post(client, "/cart/add/", raw)

        if refused_at_the_door(raw):
            assert response.status_code == 400
            assert not Cart.objects.exists()
            return
        assert response.status_code == 302
        want = expected(raw)
        if raw is None:
            want = 1  # the product page's button without a quantity box adds one
        lines = list(CartLine.objects.values_list("variant_id", "quantity"))
        if want is None:
            assert messages_of(response) == [REFUSED]
            assert lines == []
            assert not Cart.objects.exists()  # not even an empty cart was opened
        else:
            assert messages_of(response) == ["Added to your cart."]
            assert lines == [(self.variant.pk, want)]

    @hypothesis_settings(max_examples=80, deadline=None)
    @with_examples
    @given(raw=quantities)
    def test_changing_a_line(self, raw):
        client = self.fresh_browser()
        client.force_login(self.customer)
        cart = Cart.objects.create(user=self.customer)
        line = cart.lines.create(variant=self.variant, quantity=3, price_seen=self.variant.price)

        response = self.post(client, f"/cart/line/{line.pk}/", raw)

        line.refresh_from_db()
        if refused_at_the_door(raw):
            assert response.status_code == 400
            assert line.quantity == 3
            return
        assert response.status_code == 302
        want = expected(raw)
        if want is None:
            assert messages_of(response) == [REFUSED]
            assert line.quantity == 3
        else:
            assert messages_of(response) == []
            assert line.quantity == want
        assert CartLine.objects.count() == 1
