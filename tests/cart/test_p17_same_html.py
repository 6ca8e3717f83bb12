"""The confirm page's HTML, byte for byte, is what its template wrote before its per-request
parts were written by tags (cart/templatetags/checkout_page.py): every page the view renders is
rendered a second time, from the same context, by the template as it was
(tests/cart/p17_checkout_before.html, templates/cart/checkout.html at 8db66b6), and the two must
be equal but for the CSRF token (masked afresh on each render). Carts of one line and of many,
with options and photos, a coupon (valid or not), several addresses, insurance, cash on delivery
offered or not, the wallet short or not, a price changed since the add, an address to choose
again, a choice changed before "place order", form errors, escaping, in both languages."""

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.template import engines
from django.test import override_settings
from django.urls import reverse

import cart.views
from cart.forms import CheckoutForm
from cart.models import Cart
from payments.services import wallet_top_up
from tests import factories
from tests.purchase import buyer_with_cart, place_form, stocked_variant

pytestmark = pytest.mark.django_db
D = Decimal
CHECKOUT = reverse("cart:checkout")
PLACE = reverse("cart:place")
BEFORE = (Path(__file__).parent / "p17_checkout_before.html").read_text()
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


@pytest.fixture
def compared(monkeypatch):
    """Every confirm page rendered by the view is rendered again by the old template; the list
    of (new, old) pages, CSRF tokens masked."""
    pages = []
    render = cart.views.render

    def both(request, name, context):
        response = render(request, name, context)
        if name == "cart/checkout.html":
            if not isinstance(context["form"], CheckoutForm):
                # A GET shows the choices offered with no form (P20); the old template read
                # the unbound form the view built then from the same choices.
                context = {**context, "form": CheckoutForm(None, offered=context["form"])}
            old = engines["django"].from_string(BEFORE).render(context, request)
            pages.append((CSRF.sub("CSRF", response.content.decode()), CSRF.sub("CSRF", old)))
        return response

    monkeypatch.setattr(cart.views, "render", both)
    return pages


def _visit(client, user, address, cart, language, *posts):
    client.force_login(user)
    client.cookies["django_language"] = language
    assert client.get(CHECKOUT).status_code == 200
    for url, form in posts:
        assert client.post(url, form).status_code == 200


def _assert_same(pages, at_least):
    assert len(pages) >= at_least
    for new, old in pages:
        assert new == old
    return len(pages)


def _options_variant(price):
    variant = stocked_variant(price=price)
    colour = factories.AttributeFactory(code="colour", name="颜色", name_en="Colour")
    size = factories.AttributeFactory(code="size", name="尺码", name_en="Size")
    variant.options.add(
        factories.AttributeValueFactory(attribute=colour, value="红<色>", value_en="Red & <b>"),
        factories.AttributeValueFactory(attribute=size, value="大", value_en="L"),
    )
    return variant


LANGUAGES = ["zh-hans", "en"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_one_line_with_the_wallet_and_every_choice_posted_back(client, compared, language):
    user, address, cart = buyer_with_cart([(stocked_variant(price="60.00"), 2)])
    wallet_top_up(user=user, amount=D("500.00"), reference="T")
    base = place_form(cart, address)
    _visit(
        client, user, address, cart, language,
        (CHECKOUT, {**base, "shipping_method": "express"}),
        (CHECKOUT, {**base, "insured": "1", "payment_method": "cod", "note": 'Ring <twice> & "wait"'}),
        (CHECKOUT, {**base, "invoice": "1"}),
        (CHECKOUT, {**base, "shipping_method": "no-such-way", "address": "x"}),  # form errors
        (PLACE, {**base, "shown": "not-this-choice"}),  # changed before "place order"
    )  # fmt: skip
    # A wallet that covers the least total but not express: the form's payment refused after
    # it was cleaned (the choice then has no payment method).
    short, address2, cart2 = buyer_with_cart([(stocked_variant(price="60.00"), 2)])
    wallet_top_up(user=short, amount=D("125.00"), reference="T")
    express = {**place_form(cart2, address2), "shipping_method": "express", "note": "<"}
    _visit(client, short, address2, cart2, language, (CHECKOUT, express))
    _assert_same(compared, 8)


@pytest.mark.parametrize("language", LANGUAGES)
def test_many_lines_options_photos_a_changed_price_and_several_addresses(client, compared, language):
    plain = stocked_variant(price="19.90")
    photo = stocked_variant(price="1299.00", weight=2600)
    photo.product.card_image = "products/p17 <photo>.jpg"
    photo.product.save()
    changed = stocked_variant(price="35.50", name="Tee & <Co>")
    user, address, cart = buyer_with_cart([(plain, 1), (photo, 2), (_options_variant("88.00"), 3), (changed, 1)])
    cart.lines.filter(variant=changed).update(price_seen=D("30.00"))  # the price changed since the add
    other = factories.AddressFactory(
        user=user, is_default=False, recipient="李四 <&>", province="新疆维吾尔自治区", city="乌鲁木齐市",
        district="天山区",
    )  # fmt: skip
    base = place_form(cart, address)
    _visit(
        client, user, address, cart, language,
        (CHECKOUT, {**base, "address": str(other.pk)}),  # a remote province: its fees
        (CHECKOUT, {**base, "address": str(other.pk), "insured": "1", "payment_method": "cod"}),
        (CHECKOUT, {**base, "payment_method": "wallet"}),  # no wallet money: an error
    )  # fmt: skip
    _assert_same(compared, 4)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_coupon_valid_or_not(client, compared, language):
    factories.CouponFactory(code="SAVE10", value=D("10.00"))
    user, address, cart = buyer_with_cart([(stocked_variant(price="60.00"), 1)], coupon="SAVE10")
    wallet_top_up(user=user, amount=D("30.00"), reference="T")  # short for the least total
    _visit(client, user, address, cart, language, (CHECKOUT, {**place_form(cart, address), "insured": "1"}))
    stale, address2, cart2 = buyer_with_cart([(stocked_variant(price="60.00"), 1)], coupon="NO-SUCH")
    _visit(client, stale, address2, cart2, language)
    free = factories.CouponFactory(code="ALL", value=D("1000.00"))
    rich, address3, cart3 = buyer_with_cart([(stocked_variant(price="20.00"), 1)], coupon=free.code)
    _visit(client, rich, address3, cart3, language)  # nothing to pay, if the coupon covers it all
    _assert_same(compared, 4)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("providers", [["wallet", "cod"], ["wallet"], ["cod"], ["sandbox", "wallet", "cod"]])
def test_the_payment_methods_offered(client, compared, language, providers):
    with override_settings(PAYMENT_PROVIDERS=providers, SANDBOX_GATEWAY_ENABLED=True):
        user, address, cart = buyer_with_cart([(stocked_variant(price="60.00"), 1)])
        wallet_top_up(user=user, amount=D("100.00"), reference="T")
        express = {**place_form(cart, address), "shipping_method": "express"}
        first = {**place_form(cart, address), "payment_method": providers[0]}  # the sandbox: pay online next
        _visit(client, user, address, cart, language, (CHECKOUT, express), (CHECKOUT, first))
    _assert_same(compared, 3)


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_address_to_choose_again(client, compared, language):
    user = factories.UserFactory()
    factories.AddressFactory(user=user, province="火星", city="", district="")
    cart = Cart.objects.create(user=user)
    variant = stocked_variant(price="50.00")
    cart.lines.create(variant=variant, quantity=1, price_seen=variant.price)
    client.force_login(user)
    client.cookies["django_language"] = language
    assert client.get(CHECKOUT).status_code == 200
    _assert_same(compared, 1)
