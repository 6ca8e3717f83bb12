"""The purchase path in a real browser, from registration to a paid order.

1. A new customer registers, adds two products from their pages (a chosen variant, two of
   it, and another product), applies a coupon in the cart, adds a delivery address when the
   checkout asks for one, picks express shipping and insurance on the one-page confirm (each
   choice shows its totals at once), checks the figures, places the order and pays it through
   the sandbox gateway: the gateway's signed notification comes back over real HTTP to the
   live server, the order turns paid and the "order paid" mail goes out.
2. A customer with wallet balance logs in, buys one product with "Wallet balance": placing
   the order pays it (no second click on the order page), and the balance drops by exactly
   the total.

A screenshot of every step goes to ARTIFACTS_DIR. Tasks run eagerly (bin/test sets
CELERY_TASK_ALWAYS_EAGER=1), so the sandbox's notification and the mails happen inside the
live server's request threads, and mail lands in django.core.mail.outbox.

Run: SKIP_LINT=1 bash bin/test tests/browser/test_purchase.py
"""

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db.models import F, Sum
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from playwright.sync_api import Page, expect

from cart import services as cart_services
from cart.models import Cart
from catalog.models import Product, ProductVariant
from catalog.selectors import product_for_page
from orders.models import Coupon, Order
from payments.models import GatewayNotification, Payment, Wallet
from payments.services import wallet_top_up
from shop.core.money import format_money
from shop.models import Address
from tests import factories
from tests.browser.conftest import wait_for_visible_images

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Tea-Garden-7391"
COUPON = "SAVE10"
COUPON_OFF = Decimal("10.00")
COUPON_MIN_SPEND = Decimal("99.00")
TOP_UP = Decimal("5000.00")
# The gateway's notification is a nested request into the live server: allow it some time.
PAYMENT_CONFIRMED_MS = 20_000


# -- helpers ----------------------------------------------------------------------------------
class Journey:
    """Numbered full-page screenshots of each step, and what went wrong along the way:
    uncaught JavaScript errors, console errors and server errors seen by the browser."""

    def __init__(self, page: Page, directory: Path, prefix: str) -> None:
        self.page, self.directory, self.prefix, self.step = page, directory, prefix, 0
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(f"JavaScript error: {error}"))
        page.on(
            "console",
            lambda msg: self.errors.append(f"console {msg.type}: {msg.text} ({page.url})")
            if msg.type == "error"
            else None,
        )
        page.on(
            "response",
            lambda r: self.errors.append(f"HTTP {r.status} {r.request.method} {r.url}") if r.status >= 500 else None,
        )

    def shot(self, name: str) -> None:
        self.step += 1
        self.page.wait_for_load_state()
        # Images in the viewport, as lazy ones further down may never load in a headless run.
        wait_for_visible_images(self.page)
        self.page.screenshot(path=self.directory / f"{self.prefix}-{self.step:02d}-{name}.png", full_page=True)

    def assert_clean(self) -> None:
        assert self.errors == [], "\n".join(self.errors)


def arrived(page: Page, url_pattern: str) -> None:
    """Wait for a navigation: the new URL, then the new document fully loaded."""
    expect(page).to_have_url(re.compile(url_pattern))
    page.wait_for_load_state()


def amount(text: str) -> Decimal:
    """¥1,234.50 (or −¥10.00) as a Decimal, sign dropped."""
    return Decimal(re.sub(r"[^\d.]", "", text))


def available(variant: ProductVariant) -> int:
    return ProductVariant.objects.filter(pk=variant.pk).aggregate(
        n=Coalesce(Sum(F("stocks__on_hand") - F("stocks__reserved")), 0)
    )["n"]


def page_variants(product: Product) -> list[ProductVariant]:
    """The variants as the product page lists them: the first is the one preselected."""
    return list(product_for_page(slug=product.slug).variants.all())


def products_by_popularity():
    return Product.objects.filter(is_active=True).order_by("-sales_count", "pk")


def product_with_other_variant(*, quantity: int, min_price: Decimal) -> tuple[Product, ProductVariant]:
    """A product and one of its variants other than the preselected one, differing in every
    option, with `quantity` units in stock: the shopper has to pick it."""
    for product in products_by_popularity():
        variants = page_variants(product)
        if len(variants) < 2:
            continue
        first = {o.pk for o in variants[0].options.all()}
        for variant in variants[1:]:
            options = {o.pk for o in variant.options.all()}
            if options and not options & first and variant.price >= min_price and available(variant) >= quantity:
                return product, variant
    raise AssertionError("the demo catalogue has no product with a second variant in stock")


def product_in_stock(*, exclude: set[int]) -> tuple[Product, ProductVariant]:
    """A product whose preselected variant can be bought as it is."""
    for product in products_by_popularity().exclude(pk__in=exclude):
        variants = page_variants(product)
        if variants and available(variants[0]) >= 1:
            return product, variants[0]
    raise AssertionError("the demo catalogue has no product in stock")


def add_to_cart(page: Page, product: Product, variant: ProductVariant, *, quantity: int, cart_count: int) -> None:
    """On the product page: choose the variant's options, the quantity, add to the cart; the
    header's cart count then shows `cart_count`."""
    page.goto(product.get_absolute_url())
    expect(page.locator("h1")).to_have_text(product.name)
    for option in variant.options.all():
        page.locator("label.opt", has=page.locator(f"input[value='{option.pk}']")).click()
        expect(page.locator(f"#variant-form input[value='{option.pk}']")).to_be_checked()
    expect(page.locator("#variant-id")).to_have_value(str(variant.pk))
    expect(page.locator("#sku")).to_have_text(variant.sku)
    expect(page.locator("#price")).to_have_text(format_money(variant.price))
    page.locator("#add-form input[name=quantity]").fill(str(quantity))
    page.locator("#add-to-cart").click()
    # The form fetches a CSRF token first, then posts; the cart view sends us back here.
    expect(page.locator("#cart-link .count")).to_have_text(str(cart_count))
    expect(page.locator(".messages li.success")).to_be_visible()


def expect_totals(page: Page, totals: cart_services.Totals) -> None:
    """The totals block (orders/partials/totals.html) shows these figures, which add up."""
    expect(page.locator("#t-subtotal")).to_have_text(format_money(totals.subtotal))
    expect(page.locator("#t-shipping")).to_have_text(format_money(totals.shipping_fee))
    expect(page.locator("#t-total")).to_have_text(format_money(totals.total))
    if totals.discount:
        expect(page.locator("#t-discount")).to_have_text("−" + format_money(totals.discount))
    else:
        expect(page.locator("#t-discount")).to_have_count(0)
    if totals.insurance_fee:
        expect(page.locator("#t-insurance")).to_have_text(format_money(totals.insurance_fee))
    else:
        expect(page.locator("#t-insurance")).to_have_count(0)
    shown = {
        key: amount(page.locator(f"#t-{key}").inner_text()) if page.locator(f"#t-{key}").count() else Decimal(0)
        for key in ("subtotal", "discount", "shipping", "insurance", "total")
    }
    assert shown["subtotal"] - shown["discount"] + shown["shipping"] + shown["insurance"] == shown["total"], shown


def expected_totals(user, *, province: str, shipping_method: str, insured: bool) -> cart_services.Totals:
    """What the server computes for the customer's open cart."""
    cart = Cart.objects.get(user=user, state=Cart.State.OPEN)
    return cart_services.checkout_totals(
        summary=cart_services.cart_summary(cart=cart),
        province=province,
        shipping_method=shipping_method,
        insured=insured,
        customer=user,
    )


def choose(page: Page, selector: str) -> None:
    """A choice on the confirm page: its script (static/shop/checkout.js) posts the page back
    and it comes again with the choice checked and its totals."""
    choice = page.locator(selector)
    if choice.is_checked():
        return
    with page.expect_navigation():
        choice.check()
    expect(page.locator(selector)).to_be_checked()


def confirm_and_place(
    page: Page, journey: Journey, user, *, shipping_method: str, insured: bool, completes: bool = False
) -> Order:
    """On the confirm page: check the figures, place the order, land on the order's page. With
    `completes` (the wallet, cash on delivery) placing finishes the order: the caller checks it
    is paid; otherwise it awaits payment."""
    expect(page.locator("#place-order")).to_be_visible()
    province = Address.objects.get(user=user, is_default=True).province
    totals = expected_totals(user, province=province, shipping_method=shipping_method, insured=insured)
    expect_totals(page, totals)
    journey.shot("confirm")
    page.locator("#place-order").click()
    arrived(page, r"/orders/\d+/$")
    order = Order.objects.get(customer=user)
    assert page.url.endswith(order.get_absolute_url())
    assert (order.subtotal, order.discount, order.shipping_fee, order.insurance_fee, order.total) == (
        totals.subtotal,
        totals.discount,
        totals.shipping_fee,
        totals.insurance_fee,
        totals.total,
    )
    assert (order.shipping_method, order.insured) == (shipping_method, insured)
    if not completes:
        expect(page.locator("#order-status")).to_have_class(re.compile(r"\bstatus-pending_payment\b"))
        expect(page.locator(".timeline li")).to_have_count(1)
    expect_totals(page, totals)
    journey.shot("order-placed")
    return order


def expect_paid(page: Page, order: Order) -> None:
    """The order page shows the paid state and a two-entry history (placed, paid)."""
    with translation.override("zh-hans"):
        paid_label = str(Order.Status.PAID.label)  # 待发货 once the catalogue translates it
    status = page.locator("#order-status")
    expect(status).to_have_class(re.compile(r"\bstatus-paid\b"))
    expect(status).to_have_text(paid_label)
    expect(page.locator(".timeline li")).to_have_count(2)
    expect(page.locator("#pay-now")).to_have_count(0)
    order.refresh_from_db()
    assert order.status == Order.Status.PAID and order.paid_at is not None
    assert list(order.events.values_list("to_status", flat=True).order_by("pk")) == ["pending_payment", "paid"]


def paid_mail_subjects(number: str) -> set[str]:
    subjects = set()
    for language in ("zh-hans", "en"):
        with translation.override(language):
            subjects.add(render_to_string("orders/emails/order_paid_subject.txt", {"number": number}).strip())
    return subjects


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture
def shop_url(settings, live_server):
    """Links in mail, the gateway's return URL and its notify URL point at the live server."""
    settings.SITE_URL = live_server.url
    return live_server.url


# -- tests ------------------------------------------------------------------------------------
def test_register_buy_with_coupon_and_pay_through_the_sandbox_gateway(
    desktop_page: Page, demo_catalogue, shop_url, mailoutbox, artifacts_dir
):
    page = desktop_page
    journey = Journey(page, artifacts_dir, "purchase")
    first, first_variant = product_with_other_variant(quantity=2, min_price=COUPON_MIN_SPEND / 2)
    second, second_variant = product_in_stock(exclude={first.pk})
    Coupon.objects.create(code=COUPON, kind=Coupon.Kind.FIXED, value=COUPON_OFF, min_spend=COUPON_MIN_SPEND)
    email = "new.buyer@example.com"

    # Register.
    page.goto(reverse("accounts:register"))
    page.locator("#id_email").fill(email)
    page.locator("#id_phone").fill("13912345678")
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    journey.shot("register")
    page.locator("form.stack button[type=submit]").click()
    arrived(page, re.escape(reverse("accounts:overview")) + "$")
    expect(page.locator("#wallet-balance")).to_have_text(format_money(0))
    user = get_user_model().objects.get(email=email)
    journey.shot("registered")

    # Two products from their pages: a chosen variant twice, then another product once.
    add_to_cart(page, first, first_variant, quantity=2, cart_count=2)
    journey.shot("added-first-product")
    add_to_cart(page, second, second_variant, quantity=1, cart_count=3)
    journey.shot("added-second-product")

    # The cart: both lines, then the coupon.
    page.locator("#cart-link").click()
    arrived(page, re.escape(reverse("cart:detail")) + "$")
    rows = page.locator("table.cart-lines tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator(f"tr[data-sku='{first_variant.sku}'] input[name=quantity]")).to_have_value("2")
    expect(page.locator(f"tr[data-sku='{second_variant.sku}'] input[name=quantity]")).to_have_value("1")
    expect(page.locator("#t-discount")).to_have_count(0)
    page.locator("input[name=code]").fill(COUPON.lower())
    page.locator("form.inline", has=page.locator("input[name=code]")).locator("button[type=submit]").click()
    expect(page.locator("#t-discount")).to_have_text("−" + format_money(COUPON_OFF))
    expect(page.locator(".panel strong", has_text=COUPON)).to_be_visible()
    # No address yet: the cart shows standard delivery, for no province in particular.
    expect_totals(page, expected_totals(user, province="", shipping_method="standard", insured=False))
    journey.shot("cart-with-coupon")

    # Checkout asks for a delivery address first, then comes back.
    page.locator("#go-checkout").click()
    arrived(page, re.escape(reverse("accounts:address_new")) + r"\?next=")
    page.locator("#id_recipient").fill("李四")
    page.locator("#id_phone").fill("13912345678")
    # Province, city and district from the national lists: each choice loads the next list
    # (static/shop/address.js); select_option waits for the option to arrive.
    page.locator("#id_province").select_option("330000")  # 浙江省
    page.locator("#id_city").select_option("330100")  # 杭州市
    page.locator("#id_district").select_option("330106")  # 西湖区
    page.locator("#id_street").fill("文三路 100 号")
    page.locator("#id_postcode").fill("310012")
    journey.shot("new-address")
    page.locator("form.stack button[type=submit]").click()
    arrived(page, re.escape(reverse("cart:checkout")) + "$")
    address = Address.objects.get(user=user)
    assert address.is_default and (address.province, address.city, address.district) == ("浙江省", "杭州市", "西湖区")
    assert address.district_code == "330106"

    # Express, insured, paid online.
    expect(page.locator(f"input[name=address][value='{address.pk}']")).to_be_checked()
    expect(page.locator("input[name=payment_method][value=sandbox]")).to_be_checked()  # the wallet is empty
    expect_totals(page, expected_totals(user, province=address.province, shipping_method="standard", insured=False))
    journey.shot("checkout")
    choose(page, "input[name=shipping_method][value=express]")
    choose(page, "input[name=insured]")
    order = confirm_and_place(page, journey, user, shipping_method="express", insured=True)
    assert order.discount == COUPON_OFF and order.coupon_code == COUPON and order.payment_method == "sandbox"
    assert {(line.sku, line.quantity) for line in order.lines.all()} == {
        (first_variant.sku, 2),
        (second_variant.sku, 1),
    }

    # Pay now → the sandbox gateway's page → Pay → back to the shop, which waits for the
    # gateway's notification (here it has come already: the task ran inside the request).
    page.locator(".pay-box select[name=method]").select_option("sandbox")
    page.locator("#pay-now").click()
    arrived(page, r"/payments/sandbox/\w+/\?")
    expect(page.locator("#gateway-amount")).to_have_text(format_money(order.total))
    journey.shot("sandbox-gateway")
    page.locator("#gateway-pay").click()
    arrived(page, re.escape(reverse("payments:return")) + r"\?out_trade_no=\w+")
    expect(page.locator("meta[http-equiv=refresh]")).to_have_count(0, timeout=PAYMENT_CONFIRMED_MS)
    journey.shot("payment-return")
    page.locator(f"a.button[href='{order.get_absolute_url()}']").click()
    arrived(page, re.escape(order.get_absolute_url()) + "$")
    expect_paid(page, order)
    journey.shot("order-paid")

    # The gateway's one notification was accepted, the payment captured, the mail sent.
    payment = Payment.objects.get(order=order)
    assert (payment.provider, payment.state, payment.amount) == ("sandbox", Payment.State.CAPTURED, order.total)
    assert list(GatewayNotification.objects.values_list("accepted", flat=True)) == [True]
    subjects = paid_mail_subjects(order.number)
    paid_mails = [m for m in mailoutbox if m.to == [email] and m.subject in subjects]
    assert len(paid_mails) == 1, [(m.to, m.subject) for m in mailoutbox]
    assert order.number in paid_mails[0].body
    journey.assert_clean()


def test_log_in_and_pay_from_the_wallet(desktop_page: Page, demo_catalogue, shop_url, artifacts_dir):
    page = desktop_page
    journey = Journey(page, artifacts_dir, "wallet")
    user = factories.UserFactory(email="wallet.buyer@example.com", password=PASSWORD)
    factories.AddressFactory(user=user)
    wallet_top_up(user=user, amount=TOP_UP, reference="test-top-up")
    product, variant = product_in_stock(exclude=set())

    page.goto(reverse("accounts:login"))
    page.locator("#id_username").fill(user.email)
    page.locator("#id_password").fill(PASSWORD)
    journey.shot("login")
    page.locator("form.stack button[type=submit]").click()
    arrived(page, re.escape(reverse("accounts:overview")) + "$")
    expect(page.locator("#wallet-balance")).to_have_text(format_money(TOP_UP))
    journey.shot("account-before")

    add_to_cart(page, product, variant, quantity=1, cart_count=1)
    journey.shot("added-product")
    page.locator("#cart-link").click()
    arrived(page, re.escape(reverse("cart:detail")) + "$")
    expect(page.locator("table.cart-lines tbody tr")).to_have_count(1)
    page.locator("#go-checkout").click()
    arrived(page, re.escape(reverse("cart:checkout")) + "$")
    expect(page.locator("input[name=payment_method][value=wallet]")).to_be_checked()  # it covers the order
    journey.shot("checkout")
    expect(page.locator("#one-step-note")).to_be_visible()  # placing the order pays it
    order = confirm_and_place(page, journey, user, shipping_method="standard", insured=False, completes=True)
    assert order.payment_method == "wallet"

    # No second click: the order page shows it paid from the wallet already.
    expect_paid(page, order)
    assert page.url.endswith(order.get_absolute_url())
    journey.shot("order-paid")

    page.goto(reverse("accounts:overview"))
    expect(page.locator("#wallet-balance")).to_have_text(format_money(TOP_UP - order.total))
    assert Wallet.objects.get(user=user).balance == TOP_UP - order.total
    payment = Payment.objects.get(order=order)
    assert (payment.provider, payment.state, payment.amount) == ("wallet", Payment.State.CAPTURED, order.total)
    journey.shot("account-after")
    journey.assert_clean()
