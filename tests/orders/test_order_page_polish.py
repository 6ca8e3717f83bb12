"""Issue 11: the confirm page shows every choice (shipping, payment, coupon, note); the order page
shows the note; cancelling and confirming receipt ask first (data-confirm + a static script)."""

import re

import pytest
from django.utils.html import escape

from orders.models import Order
from tests import factories
from tests.purchase import buyer_with_cart, english, place, stocked_variant

pytestmark = pytest.mark.django_db

NOTE = 'Leave it at the <b>door</b> & "ring"'


def test_the_review_lists_shipping_payment_coupon_and_the_note(client):
    coupon = factories.CouponFactory(code="SPRING10")
    user, address, _cart = buyer_with_cart([(stocked_variant(price="80.00"), 1)], coupon=coupon.code)
    english(client).force_login(user)
    review = client.post(
        "/checkout/",
        {"address": address.pk, "shipping_method": "standard", "payment_method": "sandbox", "note": NOTE},
    )
    assert review.status_code == 200
    page = review.content.decode()
    shipping_label = next(q.label for q in review.context["quotes"] if q.method == "standard")
    assert f'<dd id="review-shipping">{escape(shipping_label)}</dd>' in page
    assert f'<dd id="review-payment">{escape(Order.PaymentMethod("sandbox").label)}</dd>' in page
    assert '<dd id="review-coupon">SPRING10</dd>' in page
    assert f'<dd id="review-note">{escape(NOTE)}</dd>' in page
    assert "<b>door</b>" not in page  # the note is text, not markup


def test_the_order_page_shows_the_note_as_text(client):
    user, address, cart = buyer_with_cart([(stocked_variant(), 1)])
    order = place(user, address, cart, note=NOTE)
    english(client).force_login(user)
    page = client.get(f"/orders/{order.number}/").content.decode()
    assert f"Note to the shop: {escape(NOTE)}" in page
    assert "<b>door</b>" not in page


def test_cancel_and_confirm_receipt_ask_first(client):
    user, address, cart = buyer_with_cart([(stocked_variant(), 1)])
    order = place(user, address, cart)
    english(client).force_login(user)
    page = client.get(f"/orders/{order.number}/").content.decode()
    assert f'action="/orders/{order.number}/cancel/" class="inline" data-confirm="Cancel this order?"' in page
    assert re.search(r'<script src="[^"]*shop/confirm[^"]*\.js" defer></script>', page)

    Order.objects.filter(pk=order.pk).update(status="shipped")
    page = client.get(f"/orders/{order.number}/").content.decode()
    assert (
        f'action="/orders/{order.number}/confirm-receipt/" class="inline" '
        'data-confirm="Confirm that you have received the goods?"'
    ) in page
    assert "shop/confirm." in page
