"""Accessibility in a real browser: axe-core on every customer page, in both languages, on a
desktop and on a 390×844 phone, fails on any serious or critical violation.

The pages, on the seeded demo catalogue and the demo customer's orders (shop/demo.py): home,
a category, all products, search (with results and without), a product, its reviews, an empty
cart and one with lines, the one-page confirm and it after another choice, the order awaiting
payment, the sandbox gateway's page and the return page after paying, the order list, orders waiting to be packed,
on their way (with tracking) and completed, a change of address, the account and its profile
and password pages, favourites, the address book, an address and a new one, after-sales (the
list, a request, the request form), the review and follow-up forms, the invoice request, login,
registration, the password reset and its "sent" and "new password" pages, and the 404 page.

axe is the copy shipped inside axe-playwright-python (axe_playwright_python/axe.min.js): no
network. It is injected with page.evaluate, which goes through the DevTools protocol and so is
not refused by the shop's Content-Security-Policy.

A failure lists each serious or critical violation (and any duplicate landmark) with its rule
id, the page and the CSS target of each offending element, with the colours and their ratio for
a contrast failure. Other minor and moderate findings are printed (pytest -s), not failed on.

Run: SKIP_LINT=1 bash bin/test tests/browser/test_axe.py
"""

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from playwright.sync_api import Browser, Page, expect

from aftersales.models import AfterSale, Review
from cart import services as cart_services
from catalog.models import Category, Product, ProductVariant
from fulfillment.models import Shipment
from orders.models import Order
from shop.models import Address
from tests.browser.conftest import DESKTOP, MOBILE, _page, wait_for_visible_images

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Axe()
FAILING_IMPACTS = ("serious", "critical")
# Failed on at any impact: landmarks a screen reader lists twice without telling them apart
# (axe rates those "moderate"; the order page had two unnamed <nav>s), and a table header with
# no text ("minor"; the cart's remove column had one).
FAILING_RULES = {
    "empty-table-header",
    "landmark-unique",
    "landmark-no-duplicate-banner",
    "landmark-no-duplicate-contentinfo",
    "landmark-no-duplicate-main",
    "landmark-one-main",
}
LANGUAGES = ("zh-hans", "en")
VIEWPORTS = {
    "desktop": {"viewport": DESKTOP},
    "phone": {"viewport": MOBILE, "device_scale_factor": 2, "is_mobile": True, "has_touch": True},
}


class Audit:
    """axe's findings on every page visited, labelled with the language and viewport."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.serious: list[str] = []
        self.other: list[str] = []
        self.pages = 0

    def check(self, page: Page, name: str) -> None:
        page.wait_for_load_state()
        wait_for_visible_images(page)
        results = AXE.run(page)
        self.pages += 1
        where = f"{self.label} {name} ({page.url.split('://', 1)[-1].split('/', 1)[-1] or '/'})"
        for violation in results.response["violations"]:
            failing = violation["impact"] in FAILING_IMPACTS or violation["id"] in FAILING_RULES
            found = self.serious if failing else self.other
            for node in violation["nodes"]:
                target = " ".join(str(t) for t in node["target"])
                found.append(f"{where}: {violation['id']} ({violation['impact']}) at {target}{detail(node)}")


def detail(node: dict) -> str:
    """The colours and their ratio, for a contrast finding: what to change."""
    for check in node.get("any", []):
        data = check.get("data") or {}
        if isinstance(data, dict) and "contrastRatio" in data:
            return (
                f" ({data.get('fgColor')} on {data.get('bgColor')}: {data['contrastRatio']}:1,"
                f" {data.get('expectedContrastRatio')} needed)"
            )
    return ""


def open_page(browser: Browser, live_server, viewport: str, language: str) -> Page:
    page = _page(browser, base_url=live_server.url, **VIEWPORTS[viewport])
    page.context.add_cookies(
        [{"name": django_settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}]
    )
    return page


def log_in(page: Page, email: str, password: str) -> None:
    page.goto(reverse("accounts:login"))
    page.locator("form.stack #id_username").fill(email)
    page.locator("form.stack #id_password").fill(password)
    page.locator("form.stack [type=submit]").click()
    expect(page).to_have_url(re.compile(re.escape(reverse("accounts:overview")) + "$"))


def anonymous_pages(page: Page, audit: Audit, customer) -> None:
    product = Product.objects.filter(is_active=True, rating_count__gt=0).order_by("-rating_count").first()
    category = Category.objects.filter(products__is_active=True).order_by("pk").first()
    pages = [
        ("home", "/"),
        ("category", reverse("catalog:category", kwargs={"slug": category.slug})),
        ("all products", reverse("catalog:all")),
        ("search", reverse("catalog:search") + "?q=" + product.name[:2]),
        ("search without results", reverse("catalog:search") + "?q=zzzzqqq"),
        ("product", product.get_absolute_url()),
        ("product reviews", reverse("aftersales:product_reviews", kwargs={"product_id": product.pk})),
        ("empty cart", reverse("cart:detail")),
        ("login", reverse("accounts:login")),
        ("register", reverse("accounts:register")),
        ("password reset", reverse("accounts:password_reset")),
        ("password reset sent", reverse("accounts:password_reset_done")),
        (
            "new password",
            reverse(
                "accounts:password_reset_confirm",
                kwargs={
                    "uidb64": urlsafe_base64_encode(force_bytes(customer.pk)),
                    "token": default_token_generator.make_token(customer),
                },
            ),
        ),
        ("404", "/no-such-page/"),
    ]
    for name, url in pages:
        page.goto(url)
        audit.check(page, name)


def customer_pages(page: Page, audit: Audit, customer) -> None:
    orders = Order.objects.filter(customer=customer).order_by("pk")
    completed = orders.filter(status=Order.Status.COMPLETED).first()
    request = AfterSale.objects.filter(customer=customer).first()
    review = Review.objects.filter(customer=customer).first()
    address = Address.objects.filter(user=customer).first()
    shipped = orders.filter(shipments__status__in=Shipment.TRACKED).distinct().first()
    pages = [
        ("account", reverse("accounts:overview")),
        ("profile", reverse("accounts:profile")),
        ("password change", reverse("accounts:password_change")),
        ("address book", reverse("accounts:addresses")),
        ("new address", reverse("accounts:address_new")),
        ("address", reverse("accounts:address_edit", kwargs={"pk": address.pk})),
        ("favourites", reverse("accounts:favourites")),
        ("order list", reverse("orders:list")),
        ("order to pack", orders.first().get_absolute_url()),
        ("change of address", reverse("cart:change_address", kwargs={"number": orders.first().number})),
        ("order on its way", shipped.get_absolute_url()),
        ("tracking", reverse("fulfillment:tracking", kwargs={"number": shipped.number})),
        ("order completed", completed.get_absolute_url()),
        ("after-sales list", reverse("aftersales:list")),
        ("after-sales request", reverse("aftersales:detail", kwargs={"number": request.number})),
        ("after-sales form", reverse("aftersales:new", kwargs={"order_number": completed.number})),
        ("review form", reverse("aftersales:review_order", kwargs={"number": completed.number})),
        ("review follow-up", reverse("aftersales:review_followup", kwargs={"review_id": review.pk})),
        ("invoice request", reverse("aftersales:invoice_request", kwargs={"order_number": completed.number})),
    ]
    for name, url in pages:
        page.goto(url)
        audit.check(page, name)


def press(locator) -> None:
    """Activate a button or link from the keyboard: on a phone the sticky header can sit over it
    after scrolling, where a click would land on the header (the phone layout has its own tests)."""
    locator.focus()
    locator.press("Enter")


def purchase_pages(page: Page, audit: Audit, customer) -> None:
    """A cart with two lines, the one-page confirm and it again after another choice, the order
    awaiting payment, the gateway's
    page and the page it returns to."""
    cart = cart_services.cart_open(user=customer, session=None)
    variants = ProductVariant.objects.filter(is_active=True, product__is_active=True, stocks__on_hand__gte=5)
    for variant in variants.distinct().order_by("pk")[:2]:
        cart_services.cart_add(cart=cart, variant_id=variant.pk, quantity=1)
    page.goto(reverse("cart:detail"))
    expect(page.locator("#go-checkout")).to_be_visible()
    audit.check(page, "cart with lines")
    page.goto(reverse("cart:checkout"))
    expect(page.locator("#place-order")).to_be_visible()
    audit.check(page, "checkout")
    # Another choice, by keyboard: the page's script shows it again with that choice's totals.
    express = page.locator("input[name=shipping_method][value=express]")
    express.focus()
    with page.expect_navigation():
        page.keyboard.press("Space")
    expect(express).to_be_checked()
    sandbox = page.locator("input[name=payment_method][value=sandbox]")
    if not sandbox.is_checked():
        sandbox.focus()
        with page.expect_navigation():
            page.keyboard.press("Space")
    expect(sandbox).to_be_checked()
    expect(page.locator("#place-order")).to_be_enabled()
    audit.check(page, "checkout, another choice")
    with page.expect_navigation():
        press(page.locator("#place-order"))
    expect(page.locator("#pay-now")).to_be_visible()
    audit.check(page, "order awaiting payment")
    with page.expect_navigation():
        press(page.locator("#pay-now"))
    expect(page.locator("#gateway-pay")).to_be_visible()
    audit.check(page, "sandbox gateway")
    press(page.locator("#gateway-pay"))
    expect(page).to_have_url(re.compile(re.escape(reverse("payments:return"))))
    audit.check(page, "payment return")


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_every_customer_page_has_no_serious_axe_violation(
    browser: Browser, live_server, demo_catalogue, settings, viewport
):
    from shop.demo import DEMO_CUSTOMER

    settings.SITE_URL = live_server.url  # the sandbox gateway sends the browser back here
    customer = get_user_model().objects.get(email=DEMO_CUSTOMER)
    password = (settings.VAR_DIR / "admin-password.txt").read_text().strip()
    audits = []
    for language in LANGUAGES:
        audit = Audit(f"[{language} {viewport}]")
        audits.append(audit)
        page = open_page(browser, live_server, viewport, language)
        anonymous_pages(page, audit, customer)
        log_in(page, DEMO_CUSTOMER, password)
        customer_pages(page, audit, customer)
        purchase_pages(page, audit, customer)
        page.context.close()

    for audit in audits:
        print(f"{audit.label}: {audit.pages} pages; minor or moderate findings:", *audit.other, sep="\n  ")
    serious = [line for audit in audits for line in audit.serious]
    assert serious == [], f"{len(serious)} serious or critical axe violations:\n" + "\n".join(serious)
    assert all(audit.pages >= 39 for audit in audits), [audit.pages for audit in audits]
