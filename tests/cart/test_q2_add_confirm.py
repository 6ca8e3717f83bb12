"""The add to cart and the confirm page read through statements compiled once per process
(cart/services.py _Compiled): the same rules and figures as the ORM's querysets, a first add
opening the cart in the same transaction as its line, and lines in the order they were added."""

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cart import services
from cart.models import Cart, CartLine
from catalog.models import ProductVariant
from tests import factories
from tests.purchase import buyer_with_cart, stocked_variant

pytestmark = pytest.mark.django_db
ADD = reverse("cart:add")
# A customer's first add (no open cart): the user, and one statement that looks for the open
# cart, opens one, reads the variant with its stock and inserts the line (in a savepoint in a
# test): 4. It was 7 (those four statements apart, in one transaction), and 13 before: the cart
# opened in a transaction of its own, then locked again by its key and its (absent) line looked for.
FIRST_ADD_QUERIES = 4


def with_options(variant, *pairs):
    for code, position, value in pairs:
        attribute = factories.AttributeFactory(code=code, name=code, name_en=code.upper(), position=position)
        variant.options.add(factories.AttributeValueFactory(attribute=attribute, value=value, value_en=value + "-en"))
    return variant


def test_a_first_add_opens_the_cart_with_its_line_in_one_transaction(client):
    variant = stocked_variant(price="20.00", on_hand=5)
    user = factories.UserFactory()
    client.force_login(user)

    with CaptureQueriesContext(connection) as queries:
        response = client.post(ADD, {"variant": variant.pk, "quantity": "2"})

    assert response.status_code == 302
    cart = Cart.objects.get(user=user, state=Cart.State.OPEN)
    assert [(line.variant_id, line.quantity, line.price_seen) for line in cart.lines.all()] == [
        (variant.pk, 2, Decimal("20.00"))
    ]
    assert len(queries) <= FIRST_ADD_QUERIES, [q["sql"][:80] for q in queries]
    # The next adds find the cart and its line: 2 + 4 is more than the 5 in stock, 2 + 3 is not.
    client.post(ADD, {"variant": variant.pk, "quantity": "4"})
    assert cart.lines.get().quantity == 2
    client.post(ADD, {"variant": variant.pk, "quantity": "3"})
    assert cart.lines.get().quantity == 5
    assert Cart.objects.filter(user=user).count() == 1


def test_a_refused_first_add_leaves_no_empty_cart(client):
    sold_out = stocked_variant(on_hand=0)
    user = factories.UserFactory()
    client.force_login(user)

    client.post(ADD, {"variant": sold_out.pk, "quantity": "1"})

    assert not Cart.objects.filter(user=user).exists()
    client.logout()
    client.post(ADD, {"variant": sold_out.pk, "quantity": "1"})  # anonymous: no cart, no token
    assert not Cart.objects.exists() and "cart_token" not in client.session


def test_a_cart_opened_meanwhile_by_another_request_gets_the_line():
    variant = stocked_variant(on_hand=5)
    user, _address, cart = buyer_with_cart([])
    real = services._open_cart_locked
    calls = []

    def missed_once(*, user_id):  # the other request committed its cart just after our look
        calls.append(user_id)
        return None if len(calls) == 1 else real(user_id=user_id)

    # The rules' path (a refused one-statement add's, and SQLite's); the one statement's race:
    # test_p13_add_at_once.py.
    with (
        mock.patch.object(services, "_open_cart_locked", missed_once),
        mock.patch.object(services, "_customer_add_at_once", lambda **kwargs: None),
    ):
        line = services.cart_add_for(user=user, session={}, variant_id=variant.pk, quantity=2)

    assert len(calls) == 2 and line.cart_id == cart.pk
    assert Cart.objects.filter(user=user).count() == 1 and cart.lines.get().quantity == 2


def test_the_compiled_summary_is_the_querysets_summary():
    a = with_options(stocked_variant(price="60.00", on_hand=10), ("size", 2, "大"), ("colour", 1, "红"))
    short = stocked_variant(price="12.50", on_hand=1)
    changed = stocked_variant(price="7.30", on_hand=3, weight=1200)
    retired = stocked_variant(price="5.00", on_hand=9)
    user, _address, cart = buyer_with_cart([(a, 2), (short, 3), (changed, 1), (retired, 1)], coupon="X")
    second = factories.WarehouseFactory(code="bj", name="北京仓", province="北京", city="北京")
    factories.StockFactory(variant=a, warehouse=second, on_hand=4, reserved=3)
    cart.lines.filter(variant=changed).update(price_seen=Decimal("7.00"))
    ProductVariant.objects.filter(pk=retired.pk).update(is_active=False)

    compiled = services.cart_summary_for(user=user, session={})
    orm = services._summary(None, CartLine.objects.filter(cart=cart).select_related("cart"), availability=True)

    def figures(summary):
        return (
            summary.cart.pk, summary.cart.token, summary.cart.coupon_code, summary.subtotal,
            summary.weight_grams, summary.quantity,
            [
                (v.line.pk, v.variant.pk, v.variant.sku, v.variant.product.display_name, v.available, v.unit_price,
                 v.line_total, v.price_changed, v.short, [(o.pk, o.display_value) for o in v.options])
                for v in summary.lines
            ],
        )  # fmt: skip

    assert figures(compiled) == figures(orm)
    assert [v.available for v in compiled.lines] == [11, 1, 3, 0]
    assert [o.value for o in compiled.lines[0].options] == ["红", "大"]  # by the attribute's position
    assert services.cart_summary_for(user=factories.UserFactory(), session={}).cart is None


def test_the_confirm_page_lists_the_lines_in_the_order_they_were_added(client):
    first, second = stocked_variant(price="10.00"), stocked_variant(price="20.00")
    user, _address, cart = buyer_with_cart([(second, 1), (first, 1)])
    # The line written last was added first (e.g. merged in from the anonymous cart).
    CartLine.objects.filter(cart=cart, variant=first).update(added_at=timezone.now() - timedelta(hours=1))
    client.force_login(user)

    page = client.get(reverse("cart:checkout")).content.decode()

    assert page.index(first.sku) < page.index(second.sku)


def test_the_confirm_pages_tags_escape_what_they_write(client):
    variant = with_options(stocked_variant(price="10.00", name="<b>Tee</b> & co", name_en=""), ("fit", 1, "A&B"))
    user, _address, _cart = buyer_with_cart([(variant, 3)])
    client.force_login(user)

    page = client.get(reverse("cart:checkout")).content.decode()

    assert "&lt;b&gt;Tee&lt;/b&gt; &amp; co" in page and "<b>Tee" not in page
    assert f"A&amp;B-en · {variant.sku}" in page or f"A&amp;B · {variant.sku}" in page  # either language
    assert "¥10.00 × 3</span><strong>¥30.00</strong>" in page
    assert 'name="shipping_method" value="standard" checked>' in page
