"""Helpers for purchase-path tests: a customer with an address and a filled cart."""

from decimal import Decimal

from cart import services as cart_services
from cart.models import Cart
from tests import factories


def stocked_variant(*, on_hand: int = 10, price: str = "50.00", weight: int = 500, **product):
    product_obj = factories.ProductFactory(price=Decimal(price), **product)
    variant = factories.VariantFactory(product=product_obj, price=Decimal(price), weight_grams=weight)
    factories.StockFactory(variant=variant, product=product_obj, on_hand=on_hand)
    return variant


def buyer_with_cart(items: list[tuple], *, coupon: str = "", email: str | None = None):
    """A customer, their default address and an open cart holding `items` [(variant, qty)]."""
    user = factories.UserFactory(**({"email": email} if email else {}))
    address = factories.AddressFactory(user=user)
    cart = Cart.objects.create(user=user, coupon_code=coupon)
    for variant, quantity in items:
        cart.lines.create(variant=variant, quantity=quantity, price_seen=variant.price)
    return user, address, cart


def place(user, address, cart, **overrides):
    kwargs = {
        "cart_token": cart.token,
        "customer": user,
        "address_id": address.pk,
        "shipping_method": "standard",
        "insured": False,
        "payment_method": "sandbox",
        "expected_total": cart_services.Shown.NO_PAGE,  # a script: no confirm page showed a total
    }
    kwargs.update(overrides)
    return cart_services.checkout_place_order(**kwargs)


def shown_total(cart, address, *, shipping_method: str = "standard", insured: bool = False) -> str:
    """The total the confirm page shows for this choice, as its place form posts it ("total"):
    for tests that post the place form by hand."""
    summary = cart_services.cart_summary(cart=cart)
    totals = cart_services.checkout_totals(
        summary=summary, province=address.province, shipping_method=shipping_method, insured=insured,
        customer=cart.user,
    )  # fmt: skip
    return str(totals.total)


def place_form(cart, address, **changes) -> dict:
    """The place form as the confirm page fills it (standard shipping, no insurance, the wallet,
    its shown total), with `changes` on top: for tests that post "place order" by hand."""
    return {
        "cart": str(cart.token),
        "address": str(address.pk),
        "shipping_method": "standard",
        "insured": "0",
        "payment_method": "wallet",
        "total": shown_total(cart, address),
    } | changes


def english(client):
    """Make a test client browse in English (the shop's default language is Chinese), so tests
    can read its messages. Returns the client."""
    from django.conf import settings

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def messages_of(response) -> list[str]:
    """The flash messages a response queued (or, after follow=True, the ones its page showed)."""
    from django.contrib.messages import get_messages

    return [str(m) for m in get_messages(response.wsgi_request)]


def last_message(response) -> str:
    """The newest flash message (earlier ones stay queued until a page shows them)."""
    found = messages_of(response)
    assert found, "no message was queued"
    return found[-1]
