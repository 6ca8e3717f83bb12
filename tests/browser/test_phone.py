"""Every customer page on a phone (390×844, touch): nothing scrolls sideways, and every visible
control is a target of at least 24×24 CSS px, or falls under one of WCAG 2.2's exceptions to
"Target Size (Minimum)" (2.5.8): spacing (a 24 px circle on it touches no other target or
circle), inline (a link inside a sentence), equivalent (its label or control is big enough).
A screenshot of each page goes to ARTIFACTS_DIR/phone-<page>.png; with UPDATE_SCREENSHOTS=1 the
cart, product and listing also go to docs/screenshots/phone-*-after.png (docs/phones.md).

Then the three phone layouts themselves: the cart's lines as cards with photos, the product
page's buy bar (in reach on arrival, never covering the page's end, submitting the same form),
and the listing's filters folded behind a button that works without JavaScript.

Run: SKIP_LINT=1 bash bin/test tests/browser/test_phone.py
"""

import os
import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect

from cart import services as cart_services
from cart.models import Cart
from catalog.models import Product
from catalog.selectors import product_for_page
from orders.models import Order
from shop.demo import DEMO_CUSTOMER
from tests.browser.conftest import DESKTOP, LOCALE, MOBILE, TIMEOUT_MS, wait_for_visible_images

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Tea-Garden-7391"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
MIN_TARGET = 24  # CSS px, WCAG 2.2 SC 2.5.8

# Every visible target that is under 24×24 CSS px and not excused by an exception of SC 2.5.8.
# Targets: links, buttons, form controls, <summary>, and labels of controls (tapping one
# operates its control). Not targets: elements not rendered (closed <details>, display:none),
# fully transparent ones (a radio hidden under its styled label) and 1-px screen-reader text.
# Exceptions, as WCAG words them:
# - equivalent: a control whose label is big enough (or a label whose control is) does the
#   same thing through a target that meets the size;
# - inline: "the target is in a sentence or its size is otherwise constrained by the
#   line-height of non-target text": an inline link whose block holds text of its own;
# - spacing: "if a 24 CSS pixel diameter circle is centered on the bounding box of each, the
#   circles do not intersect another target or the circle for any other undersized target".
SMALL_TARGETS = """(MIN) => {
  const R = MIN / 2, SLACK = 0.5;
  const candidates = Array.from(document.querySelectorAll(
    "a[href], button, input:not([type=hidden]), select, textarea, summary, label"));
  const targets = candidates.filter(el => {
    if (el.tagName === "LABEL" && !el.control) return false;
    if (!el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) return false;
    const r = el.getBoundingClientRect();
    return r.width > 1 && r.height > 1;
  });
  const rect = el => el.getBoundingClientRect();
  const big = el => { const r = rect(el); return r.width + SLACK >= MIN && r.height + SLACK >= MIN; };
  const related = (a, b) => a.contains(b) || b.contains(a);
  const equivalent = el => {
    if (el.tagName === "LABEL") return el.control && targets.includes(el.control) && big(el.control);
    return Array.from(el.labels || []).some(l => targets.includes(l) && big(l));
  };
  const inline = el => {
    if (el.tagName !== "A" || getComputedStyle(el).display !== "inline") return false;
    let block = el.parentElement;
    while (block && getComputedStyle(block).display === "inline") block = block.parentElement;
    if (!block) return false;
    const copy = block.cloneNode(true);
    copy.querySelectorAll("a, button, input, select, textarea, summary, label").forEach(t => t.remove());
    return copy.textContent.replace(/\\s+/g, "").length > 0;
  };
  const centre = r => [r.left + r.width / 2, r.top + r.height / 2];
  const distanceToRect = ([x, y], r) => Math.hypot(
    Math.max(r.left - x, 0, x - r.right), Math.max(r.top - y, 0, y - r.bottom));
  const small = targets.filter(el => !big(el) && !equivalent(el) && !inline(el));
  const undersized = new Set(targets.filter(el => !big(el)));
  const spaced = el => {
    const c = centre(rect(el));
    return targets.every(other => {
      if (other === el || related(other, el)) return true;
      if (undersized.has(other)) return Math.hypot(c[0] - centre(rect(other))[0], c[1] - centre(rect(other))[1]) >= MIN;
      return distanceToRect(c, rect(other)) >= R;
    });
  };
  const describe = el => {
    const r = rect(el);
    const text = (el.innerText || el.value || el.getAttribute("aria-label") || el.name || "").trim().slice(0, 40);
    const classes = typeof el.className === "string" && el.className.trim()
      ? "." + el.className.trim().split(/\\s+/).join(".") : "";
    const at = `(${Math.round(r.left)}, ${Math.round(r.top + window.scrollY)})`;
    return `<${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${classes}> "${text}" `
      + `${Math.round(r.width)}×${Math.round(r.height)} at ${at}`;
  };
  return small.filter(el => !spaced(el)).map(describe);
}"""

# The page's width. Not compared with window.innerWidth: a phone (is_mobile) zooms out to fit a
# page that overflows, and innerWidth grows with it.
PAGE_WIDTH = "() => document.documentElement.scrollWidth"


# -- helpers ----------------------------------------------------------------------------------
def new_page(browser: Browser, base_url: str, *, viewport: dict, javascript: bool = True, locale: str = LOCALE) -> Page:
    phone = viewport == MOBILE
    context = browser.new_context(
        locale=locale,
        timezone_id="Asia/Shanghai",
        viewport=viewport,
        base_url=base_url,
        java_script_enabled=javascript,
        **({"device_scale_factor": 2, "is_mobile": True, "has_touch": True} if phone else {}),
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


class PhoneCheck:
    """Visits pages, screenshots each and collects what does not fit a phone."""

    def __init__(self, page: Page, directory: Path) -> None:
        self.page, self.directory = page, directory
        self.problems: list[str] = []
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(f"JavaScript error: {error}"))

    def visit(self, name: str, url: str | None = None, *, status: int = 200) -> None:
        if url is not None:
            response = self.page.goto(url)
            assert response.status == status, f"{name}: {url} answered {response.status}"
        self.page.wait_for_load_state()
        self.check(name)

    def check(self, name: str) -> None:
        page = self.page
        wait_for_visible_images(page)
        page.screenshot(path=self.directory / f"phone-{name}.png", full_page=True)
        width = page.evaluate(PAGE_WIDTH)
        if width > MOBILE["width"]:
            self.problems.append(f"{name} ({page.url}): {width} px wide in a {MOBILE['width']} px screen")
        for target in page.evaluate(SMALL_TARGETS, MIN_TARGET):
            self.problems.append(f"{name} ({page.url}): target under {MIN_TARGET}×{MIN_TARGET}: {target}")

    def assert_clean(self) -> None:
        assert self.problems + self.errors == [], "\n".join(self.problems + self.errors)


def top(page: Page, selector: str) -> float:
    """The element's distance from the top of the document, in CSS px."""
    return page.locator(selector).first.evaluate("el => el.getBoundingClientRect().top + window.scrollY")


def log_in(page: Page, email: str) -> None:
    page.goto(reverse("accounts:login"))
    page.locator("#id_username").fill(email)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("form.stack button[type=submit]").click()
    expect(page).to_have_url(re.compile(re.escape(reverse("accounts:overview")) + "$"))


def demo_customer():
    user = get_user_model().objects.get(email=DEMO_CUSTOMER)
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    return user


def fill_cart(user, *, lines: int) -> None:
    """`lines` of the best sellers' preselected variants in the customer's open cart."""
    cart = cart_services.cart_open(user=user, session=None)
    added = 0
    for product in Product.objects.filter(is_active=True).order_by("-sales_count", "pk"):
        variant = product_for_page(slug=product.slug).variants.all()[0]
        if cart_services._available(variant.pk) < 2:
            continue
        cart_services.cart_add(cart=cart, variant_id=variant.pk, quantity=1 + added % 2)
        added += 1
        if added == lines:
            return
    raise AssertionError("the demo catalogue has too few products in stock")


def best_seller() -> Product:
    return Product.objects.filter(is_active=True, in_stock=True).order_by("-sales_count", "pk").first()


def figure(directory: Path, name: str, value: float) -> None:
    """A measurement for docs/phones.md, kept in ARTIFACTS_DIR/phone-figures.txt."""
    with open(directory / "phone-figures.txt", "a", encoding="utf-8") as out:
        out.write(f"{name}: {round(value)} px\n")


def docs_shot(page: Page, name: str, *, full_page: bool = True) -> None:
    """docs/screenshots/phone-<name>.png, the whole page or the first screen, when
    UPDATE_SCREENSHOTS=1."""
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        wait_for_visible_images(page)
        page.screenshot(path=SCREENSHOTS / f"phone-{name}.png", full_page=full_page)


@pytest.fixture
def phone(browser: Browser, live_server) -> Page:
    page = new_page(browser, live_server.url, viewport=MOBILE)
    yield page
    page.context.close()


# -- every page -------------------------------------------------------------------------------
def test_every_customer_page_fits_a_phone_with_targets_big_enough(phone: Page, demo_catalogue, artifacts_dir):
    page = phone
    check = PhoneCheck(page, artifacts_dir)
    product = best_seller()
    user = demo_customer()

    # A visitor.
    check.visit("home", reverse("home"))
    check.visit("listing", reverse("catalog:all"))
    page.locator("#filters-toggle > summary").click()
    expect(page.locator("#filters")).to_be_visible()
    check.check("listing-filters-open")
    check.visit("category", product.category.get_absolute_url())
    check.visit("search", reverse("catalog:search") + "?q=" + product.brand.name)
    check.visit("product", product.get_absolute_url())
    check.visit("cart-empty", reverse("cart:detail"))
    check.visit("login", reverse("accounts:login"))
    check.visit("register", reverse("accounts:register"))
    check.visit("password-reset", reverse("accounts:password_reset"))
    check.visit("404", "/no-such-page/", status=404)

    # The demo customer, with three lines in the cart, through to the one-page confirm.
    fill_cart(user, lines=3)
    log_in(page, user.email)
    check.visit("account", reverse("accounts:overview"))
    check.visit("addresses", reverse("accounts:addresses"))
    check.visit("address-new", reverse("accounts:address_new") + "?next=" + reverse("cart:checkout"))
    check.visit("cart", reverse("cart:detail"))
    check.visit("checkout", reverse("cart:checkout"))
    expect(page.locator("#place-order")).to_be_visible()
    with page.expect_navigation():
        page.locator("#update-totals").click()  # the page posted back, as a changed choice does
    expect(page.locator("#place-order")).to_be_visible()
    check.check("checkout-posted-back")

    orders = Order.objects.filter(customer=user)
    check.visit("orders", reverse("orders:list"))
    shipped = orders.filter(status=Order.Status.SHIPPED).first() or orders.first()
    check.visit("order", shipped.get_absolute_url())
    waiting = next(
        o for o in orders.filter(status=Order.Status.PAID) if cart_services.order_address_changeable(order=o)
    )
    check.visit("change-address", reverse("cart:change_address", args=[waiting.number]))
    completed = orders.filter(status=Order.Status.COMPLETED).order_by("pk").first()
    check.visit("aftersales-new", reverse("aftersales:new", args=[completed.number]))
    check.visit("aftersales-list", reverse("aftersales:list"))

    check.assert_clean()


def test_the_target_check_finds_small_targets_and_knows_the_exceptions(browser: Browser):
    """The check itself, on a page made for it (no server: set_content)."""
    context = browser.new_context(viewport=MOBILE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_content(
        """<style>body { margin: 0; font: 16px/1 sans-serif } button { padding: 0; border: 0; }
        .s { width: 16px; height: 16px; } .b { width: 30px; height: 30px; }
        .abs { position: absolute; } label { display: inline-block; padding: 8px 0; }</style>
        <button class="s abs" id="crowded-1" style="left: 10px; top: 10px"></button>
        <button class="s abs" id="crowded-2" style="left: 30px; top: 10px"></button>
        <button class="s abs" id="alone" style="left: 200px; top: 10px"></button>
        <button class="b abs" id="big" style="left: 300px; top: 100px"></button>
        <button class="s abs" id="beside-big" style="left: 300px; top: 132px"></button>
        <p class="abs" style="top: 200px">Read <a href="#x">the terms</a> first.</p>
        <p class="abs" style="top: 260px"><label><input type="checkbox"> a label tall enough</label></p>
        <div class="abs" style="top: 320px"><a href="#a">1</a><a href="#b">2</a></div>
        <button class="abs" style="top: 400px; left: 100px; opacity: 0; width: 4px; height: 4px"></button>"""
    )
    found = page.evaluate(SMALL_TARGETS, MIN_TARGET)
    context.close()
    flagged = sorted(re.search(r"^<(\w+)(#[\w-]+)?", f).group(0) for f in found)
    # Crowded and next to a big target: flagged; alone, inline, labelled, transparent: not.
    assert flagged == ["<a", "<a", "<button#beside-big", "<button#crowded-1", "<button#crowded-2"], found


def test_the_english_pages_fit_too(browser: Browser, live_server, demo_catalogue, artifacts_dir):
    """English words are longer: the buy bar, the cart's cards and the checkout in English."""
    page = new_page(browser, live_server.url, viewport=MOBILE, locale="en-US")
    check = PhoneCheck(page, artifacts_dir)
    user = demo_customer()
    fill_cart(user, lines=3)
    check.visit("en-listing", reverse("catalog:all"))
    check.visit("en-product", best_seller().get_absolute_url())
    expect(page.locator("#add-to-cart")).to_have_text("Add to cart")
    log_in(page, user.email)
    check.visit("en-cart", reverse("cart:detail"))
    check.visit("en-checkout", reverse("cart:checkout"))
    page.context.close()
    check.assert_clean()


# -- the cart ---------------------------------------------------------------------------------
def test_the_cart_is_cards_with_photos_and_remove_within_reach(phone: Page, demo_catalogue, artifacts_dir):
    page = phone
    user = demo_customer()
    fill_cart(user, lines=3)
    log_in(page, user.email)
    page.goto(reverse("cart:detail"))
    lines = page.locator("table.cart-lines tbody tr")
    expect(lines).to_have_count(3)
    wait_for_visible_images(page)
    docs_shot(page, "cart-after")

    width = page.evaluate(PAGE_WIDTH)
    figure(artifacts_dir, "cart-width", width)
    assert width <= MOBILE["width"]
    for i in range(3):
        line = lines.nth(i)
        card = line.bounding_box()
        assert card["x"] >= 0 and card["x"] + card["width"] <= MOBILE["width"], card
        photo = line.locator("img.cl-image")
        assert photo.evaluate("img => img.complete && img.naturalWidth > 0")
        remove = line.locator("button.remove").bounding_box()
        assert remove["x"] + remove["width"] <= MOBILE["width"] and remove["width"] >= 44 and remove["height"] >= 44

    # Remove works from the card.
    lines.first.locator("button.remove").click()
    expect(page.locator("table.cart-lines tbody tr")).to_have_count(2)
    assert Cart.objects.get(user=user, state=Cart.State.OPEN).lines.count() == 2


# What is on top at the middle of the element, where a thumb lands: the element itself (or a
# child of it), or the selector of whatever covers it.
COVERED_BY = """el => {
  const r = el.getBoundingClientRect();
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  if (hit && (hit === el || el.contains(hit))) return null;
  if (!hit) return "nothing";
  const owner = hit.closest("header, footer, nav, [id]") || hit;
  const name = owner.tagName.toLowerCase() + (owner.id ? "#" + owner.id : "");
  return owner.className ? name + "." + owner.className : name;
}"""


def test_check_out_is_tappable_after_scrolling_to_it(phone: Page, demo_catalogue):
    """The site header was sticky on phones too: with the cart scrolled until "Check out"
    reached the top of the screen, the header sat over it and a tap landed on the header. On
    phones the header now scrolls away with the page (phone.css)."""
    page = phone
    user = demo_customer()
    fill_cart(user, lines=6)
    log_in(page, user.email)
    page.goto(reverse("cart:detail"))
    link = page.locator("#go-checkout")
    expect(link).to_be_visible()
    # Scroll as a thumb would, the link's top a few px below the top of the screen (room below
    # the cart as if more followed it, e.g. recommendations: the demo cart ends too soon).
    page.evaluate("() => { document.querySelector('main').style.paddingBottom = '100vh'; }")
    target = top(page, "#go-checkout") - 4
    page.evaluate("y => window.scrollTo(0, y)", target)
    assert abs(page.evaluate("window.scrollY") - target) < 1, "the cart is too short to scroll that far"
    assert link.evaluate(COVERED_BY) is None
    with page.expect_navigation():
        link.click()  # no force: Playwright checks the link receives the click
    expect(page).to_have_url(re.compile(re.escape(reverse("cart:checkout")) + "$"))


# -- the product page -------------------------------------------------------------------------
def test_the_buy_bar_is_in_reach_covers_nothing_and_adds_to_the_cart(phone: Page, demo_catalogue, artifacts_dir):
    page = phone
    product = best_seller()
    page.goto(product.get_absolute_url())
    wait_for_visible_images(page)
    docs_shot(page, "product-after")
    docs_shot(page, "product-after-screen", full_page=False)  # the bar where a thumb finds it

    # On arrival the buttons are on screen (the first viewport), at its bottom edge.
    figure(artifacts_dir, "buy-button-y", top(page, "#add-to-cart"))
    for selector in ("#add-to-cart", "#buy-now"):
        box = page.locator(selector).bounding_box()
        assert box["y"] + box["height"] <= MOBILE["height"], (selector, box)
        assert box["height"] >= 44
    # Scrolled to the end, the page's last content (the footer) ends above the bar.
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    bar_top = page.locator("#add-form").evaluate("el => el.getBoundingClientRect().top")
    footer_bottom = page.locator("footer.site-footer").evaluate("el => el.getBoundingClientRect().bottom")
    assert footer_bottom <= bar_top + 1, (footer_bottom, bar_top)

    # It is the page's add-to-cart form: the chosen variant and quantity go to the cart.
    page.locator("#add-form input[name=quantity]").fill("2")
    page.locator("#add-to-cart").click()
    expect(page.locator("#cart-link .count")).to_have_text("2")


def test_on_a_desktop_the_buy_form_stays_in_the_page(browser: Browser, live_server, demo_catalogue):
    page = new_page(browser, live_server.url, viewport=DESKTOP)
    page.goto(best_seller().get_absolute_url())
    assert page.locator("#add-form").evaluate("el => getComputedStyle(el).position") == "static"
    page.context.close()


# -- the listing ------------------------------------------------------------------------------
@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_filters_fold_behind_a_button_on_a_phone(
    browser: Browser, live_server, demo_catalogue, artifacts_dir, javascript
):
    page = new_page(browser, live_server.url, viewport=MOBILE, javascript=javascript)
    page.goto(reverse("catalog:all"))
    if javascript:
        wait_for_visible_images(page)
        docs_shot(page, "listing-after")
    expect(page.locator("#filters")).to_be_hidden()
    folded_label = page.locator("#filters-toggle > summary").inner_text()
    # The first products are on the first screen (the first started 1,455 px down).
    first_product = top(page, "ul.grid > li")
    figure(artifacts_dir, "first-product-y", first_product)
    assert first_product < MOBILE["height"] * 0.6
    page.locator("#filters-toggle > summary").click()
    expect(page.locator("#filters")).to_be_visible()
    page.locator("#filters input[name=in_stock]").check()
    page.locator("#filters button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"in_stock=true"))
    # The button says filters are applied (still folded: the products come first).
    expect(page.locator("#filters")).to_be_hidden()
    assert page.locator("#filters-toggle > summary").inner_text() != folded_label
    page.context.close()


def test_on_a_desktop_the_filters_are_always_shown(browser: Browser, live_server, demo_catalogue):
    page = new_page(browser, live_server.url, viewport=DESKTOP)
    page.goto(reverse("catalog:all"))
    expect(page.locator("#filters")).to_be_visible()
    expect(page.locator("#filters-toggle > summary")).to_be_hidden()
    page.context.close()
