"""The confirm page's per-request parts are written by tags (cart/templatetags/checkout_page.py),
not by the template's variable lookups, {% if %}s and {% blocktranslate %}s one at a time: a
guard on the variables its render resolves (the frame's and the page's holes' together)."""

from decimal import Decimal

import pytest
from django.template.base import FilterExpression
from django.urls import reverse

from payments.services import wallet_top_up
from tests.purchase import buyer_with_cart, place_form, stocked_variant

pytestmark = pytest.mark.django_db
# Variables resolved rendering GET /checkout/ (base.html's frame and the page; the memo's kept
# text resolves none): 53 when the holes were template code, 24 since. The page posted back with
# another choice resolves as many.
CONFIRM_LOOKUPS = 24


@pytest.fixture
def lookups(monkeypatch):
    count = [0]
    resolve = FilterExpression.resolve

    def counted(self, context, ignore_failures=False):
        count[0] += 1
        return resolve(self, context, ignore_failures)

    monkeypatch.setattr(FilterExpression, "resolve", counted)
    return count


def test_the_confirm_page_resolves_few_template_variables(client, lookups):
    user, address, cart = buyer_with_cart([(stocked_variant(price="60.00"), 2), (stocked_variant(), 1)])
    wallet_top_up(user=user, amount=Decimal("500.00"), reference="T")
    client.force_login(user)
    assert client.get(reverse("cart:checkout")).status_code == 200  # the memo's first render
    counts = []
    for form in (None, {**place_form(cart, address), "shipping_method": "express", "insured": "1"}):
        lookups[0] = 0
        url = reverse("cart:checkout")
        response = client.get(url) if form is None else client.post(url, form)
        assert response.status_code == 200
        counts.append(lookups[0])
    assert max(counts) <= CONFIRM_LOOKUPS, counts
