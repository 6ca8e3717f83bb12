"""The Content-Security-Policy in Chromium: the main pages load, and their scripts work, without
a single violation (inline script, style or handler, or anything from elsewhere).

1. A customer: home, a product page whose variant picker follows the choice, the cart, log in,
   the one-page confirm (another choice posts it back: its script), paying with the sandbox
   gateway (its page posts, then redirects back: form-action), the order page.
2. Staff: the admin's index, a product's change page, a parcel's packing slip whose Print
   button (a file's script, not an onclick) prints, and the export page's "Select all".

Violations are collected twice: Chromium's console messages about the policy, and every
securitypolicyviolation event (a listener installed before any page script runs).

Run: SKIP_LINT=1 bash bin/test tests/browser/test_csp.py
"""

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from playwright.sync_api import Page, expect

from catalog.models import Product
from orders.models import Order
from tests import factories
from tests.browser.test_storefront import expect_variant_shown, options_of, pick_option, product_with_variant_grid
from tests.fulfillment.support import paid_order, stock, variant, warehouses

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's

WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} on ${e.documentURI}`
    + ` (${e.sourceFile || ""}:${e.lineNumber || ""})`);
});
window.__printed = 0;
window.print = () => { window.__printed += 1; };
"""


def assert_strict_header(headers: dict) -> None:
    policy = headers.get("content-security-policy", "")
    assert "script-src 'self';" in policy + ";" and "style-src 'self';" in policy + ";", policy
    assert "unsafe-inline" not in policy


class Violations:
    """Every CSP violation any page of the context reports."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.found: list[str] = []
        page.context.add_init_script(WATCH)
        self.watch(page)
        page.context.on("page", self.watch)

    def watch(self, page: Page) -> None:
        page.on(
            "console",
            lambda msg: self.found.append(f"console: {msg.text} ({page.url})")
            if "Content Security Policy" in msg.text or "Content-Security-Policy" in msg.text
            else None,
        )

    def collect(self, page: Page | None = None) -> None:
        """The events seen by the page now shown (read before leaving it)."""
        page = page or self.page
        page.wait_for_load_state()
        self.found += page.evaluate("window.__cspViolations || []")

    def assert_none(self) -> None:
        assert self.found == [], "\n".join(self.found)


def test_customer_pages_under_the_policy(desktop_page: Page, demo_catalogue, live_server, settings):
    settings.SITE_URL = live_server.url  # the sandbox gateway sends the browser back here
    page = desktop_page
    seen = Violations(page)
    user = factories.UserFactory(email="csp@example.com")
    factories.AddressFactory(user=user)

    response = page.goto("/")
    assert_strict_header(response.headers)
    expect(page.locator(".site-header")).to_be_visible()
    seen.collect()

    product, variants = product_with_variant_grid()
    page.goto(product.get_absolute_url())
    first = next(v for v in variants if str(v.pk) == page.locator("#variant-id").input_value())
    other = next(
        v
        for v in variants
        if options_of(v)["colour"] != options_of(first)["colour"] and options_of(v)["size"] != options_of(first)["size"]
    )
    pick_option(page, options_of(other)["colour"])
    pick_option(page, options_of(other)["size"])
    expect_variant_shown(page, other)  # the picker's script runs: it is a file, not inline
    seen.collect()
    with page.expect_navigation():
        page.locator("#add-to-cart").click()
    seen.collect()

    page.goto(reverse("cart:detail"))
    expect(page.locator("#go-checkout")).to_be_visible()
    seen.collect()

    page.goto(reverse("accounts:login") + "?next=" + reverse("cart:checkout"))
    page.locator("#id_username").fill(user.email)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("form.stack button[type=submit]").click()
    expect(page).to_have_url(re.compile(re.escape(reverse("cart:checkout")) + "$"))
    seen.collect()
    sandbox = page.locator("input[name=payment_method][value=sandbox]")
    if not sandbox.is_checked():  # the wallet was chosen: its script shows the page again
        with page.expect_navigation():
            sandbox.check()
    expect(page.locator("#place-order")).to_be_enabled()
    seen.collect()
    with page.expect_navigation():
        page.locator("#place-order").click()
    order = Order.objects.get(customer=user)
    expect(page).to_have_url(re.compile(re.escape(order.get_absolute_url())))
    seen.collect()

    # The gateway's page posts to itself and redirects back to the shop: form-action allows both.
    with page.expect_navigation():
        page.locator("#pay-now").click()
    seen.collect()
    page.locator("#gateway-pay").click()
    expect(page).to_have_url(re.compile(re.escape(reverse("payments:return"))))
    seen.collect()
    seen.assert_none()


def test_staff_pages_under_the_policy(desktop_page: Page, demo_catalogue):
    page = desktop_page
    seen = Violations(page)
    admin_password = "Admin-Csp-Check-5210"
    admin = get_user_model().objects.create_superuser(email="csp-admin@example.com", password=admin_password)
    places = warehouses()
    v = variant(name="打印测试")
    stock(places["sh"], v, 5)
    parcel = paid_order([(v, 1)]).shipments.get()

    response = page.goto("/admin/login/")
    assert_strict_header(response.headers)
    page.locator("#id_username").fill(admin.email)
    page.locator("#id_password").fill(admin_password)
    page.locator("input[type=submit]").click()
    expect(page.locator("#site-name")).to_be_visible()
    seen.collect()

    product = Product.objects.filter(is_active=True).order_by("pk").first()
    page.goto(reverse("admin:catalog_product_change", args=[product.pk]))
    expect(page.locator("#product_form")).to_be_visible()
    seen.collect()

    page.goto(reverse("admin:fulfillment_shipment_packing_slip", args=[parcel.pk]))
    expect(page.locator("#print")).to_be_visible()
    page.locator("#print").click()
    # The handler runs within the click. (Read with evaluate: wait_for_function's polling
    # evaluates strings in the page, which the policy rightly refuses.)
    assert page.evaluate("window.__printed") == 1  # the button's handler comes from print.js
    assert page.evaluate("getComputedStyle(document.body).maxWidth") != "none"  # print.css applied
    seen.collect()

    page.goto(reverse("admin:catalog_product_export"))
    toggle = page.locator("input.select-toggle:visible")
    fields = page.locator('.selectable-field-export-row input[type="checkbox"]:visible')
    expect(toggle).to_be_checked()
    toggle.uncheck()
    assert fields.count() > 0
    for index in range(fields.count()):
        expect(fields.nth(index)).not_to_be_checked()
    seen.collect()
    # django-import-export's own style="" on that page is refused (cosmetic, restyled from a
    # file), and so is its onchange="" (bound again from a file): those two are expected there.
    export_url = reverse("admin:catalog_product_export")
    seen.found = [f for f in seen.found if export_url not in f]
    seen.assert_none()
