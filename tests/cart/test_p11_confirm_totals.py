"""The confirm page writes its totals with a tag (cart/templatetags/checkout_page.py totals_list)
instead of including orders/partials/totals.html, which the cart page and the order page still
include: the same HTML byte for byte, in both languages, for every combination of rows."""

import itertools
import re
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.template import engines
from django.urls import reverse
from django.utils import translation

from cart import services as cart_services
from tests.purchase import buyer_with_cart, place_form, stocked_variant

INCLUDED = '{% include "orders/partials/totals.html" with t=totals %}'
TAG = "{% load checkout_page %}{% totals_list totals %}"
TOTALS = re.compile(r'<dl class="totals">.*?</dl>\n', re.S)


def _render(source: str, totals) -> str:
    return engines["django"].from_string(source).render({"totals": totals})


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_tag_writes_what_the_template_writes(language):
    amounts = [Decimal("0"), Decimal("0.00"), Decimal("5.50"), Decimal("1234567.89")]
    with translation.override(language):
        for discount, insurance, shipping, total in itertools.product(amounts, repeat=4):
            totals = SimpleNamespace(subtotal=Decimal("129.00"), discount=discount, shipping_fee=shipping)
            totals.insurance_fee, totals.total = insurance, total
            assert _render(TAG, totals) == _render(INCLUDED, totals), (discount, insurance, shipping, total)


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_confirm_pages_totals_are_the_partials_without_including_it(client, language):
    variant = stocked_variant(price="1299.00")
    user, address, cart = buyer_with_cart([(variant, 2)])
    client.force_login(user)
    client.cookies["django_language"] = language

    shown = client.get(reverse("cart:checkout"))
    # Insured: one row more (the discount row's blank line is the unit test's); cash on delivery,
    # as the buyer's wallet is empty.
    form = {**place_form(cart, address), "insured": "1", "payment_method": "cod"}
    insured = client.post(reverse("cart:checkout"), form)

    summary = cart_services.cart_summary(cart=cart)
    for response, insure in ((shown, False), (insured, True)):
        assert response.status_code == 200
        names = [t.name for t in response.templates]
        assert "cart/checkout.html" in names and "orders/partials/totals.html" not in names
        totals = cart_services.checkout_totals(
            summary=summary, province=address.province, shipping_method="standard", insured=insure, customer=user
        )
        with translation.override(language):
            expected = _render(INCLUDED, totals)
        assert TOTALS.findall(response.content.decode()) == [expected]
    assert 'id="t-insurance"' in insured.content.decode() and 'id="t-insurance"' not in shown.content.decode()
