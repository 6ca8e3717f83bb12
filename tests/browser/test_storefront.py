"""The storefront in a real browser: search in Chinese, filters that survive paging, the price
sort, the variant picker, the language switch, and a phone-sized layout that never scrolls
sideways. A screenshot of every step goes to ARTIFACTS_DIR; with UPDATE_SCREENSHOTS=1 the
README screenshots under docs/ are rewritten too.

Run: SKIP_LINT=1 bash bin/test tests/browser   (UPDATE_SCREENSHOTS=1 for docs/*.png)
"""

import os
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from playwright.sync_api import Page, expect

from catalog.models import Attribute, Product, ProductImage, ProductVariant
from shop.core.money import format_money
from tests.browser.conftest import wait_for_visible_images

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DOCS_DIR = Path(__file__).resolve().parents[2] / "docs"
QUERY = "纯棉"  # a material in shop/demo.py: part of many demo product names


# -- helpers ----------------------------------------------------------------------------------
class Recorder:
    """Numbered full-page screenshots of each step, and the page's errors along the way."""

    def __init__(self, page: Page, directory: Path, prefix: str) -> None:
        self.page, self.directory, self.prefix, self.step = page, directory, prefix, 0
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(f"JavaScript error: {error}"))
        page.on(
            "response",
            lambda r: self.errors.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None,
        )

    def shot(self, name: str) -> None:
        self.step += 1
        images_loaded(self.page)
        self.page.screenshot(path=self.directory / f"{self.prefix}-{self.step:02d}-{name}.png", full_page=True)

    def assert_clean(self) -> None:
        assert self.errors == [], "\n".join(self.errors)


def images_loaded(page: Page) -> None:
    """Wait until every image in the viewport has loaded (card images are lazy)."""
    wait_for_visible_images(page)
    broken = page.evaluate(
        """() => Array.from(document.images)
            .filter(i => i.complete && i.getBoundingClientRect().top < window.innerHeight && i.naturalWidth === 0)
            .map(i => i.currentSrc || i.src)"""
    )
    assert broken == [], f"images that did not load: {broken}"


def readme_shot(page: Page, name: str) -> None:
    """Write docs/<name>.png (the viewport, as a visitor first sees it) when UPDATE_SCREENSHOTS=1."""
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        images_loaded(page)
        page.screenshot(path=DOCS_DIR / f"{name}.png")


def arrived(page: Page, url_pattern: str) -> None:
    """Wait for a navigation: the new URL, then the new document fully loaded."""
    expect(page).to_have_url(re.compile(url_pattern))
    page.wait_for_load_state()


def assert_no_horizontal_overflow(page: Page) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{page.url}: page is {widths[0]}px wide in a {widths[1]}px viewport"


def result_count(page: Page) -> int:
    """The listing's "N products" figure (digits only, so it holds in any language)."""
    text = page.locator(".results .toolbar > span").first.inner_text()
    return int(re.sub(r"\D", "", text))


def card_names(page: Page) -> list[str]:
    return page.locator(".results .card .name").all_inner_texts()


def card_prices(page: Page) -> list[Decimal]:
    return [Decimal(re.sub(r"[^\d.]", "", t)) for t in page.locator(".results .card .price").all_inner_texts()]


def facet_count(label_text: str) -> int:
    return int(re.search(r"\((\d+)\)\s*$", label_text).group(1))


def product_with_variant_grid() -> tuple[Product, list[ProductVariant]]:
    """A product offering several colours and sizes at more than one price."""
    products = (
        Product.objects.filter(is_active=True)
        .prefetch_related("variants__options__attribute")
        .order_by("-sales_count", "pk")
    )
    for product in products:
        variants = [v for v in product.variants.all() if v.is_active]
        codes = [o.attribute.code for v in variants for o in v.options.all()]
        colours = {o.pk for v in variants for o in v.options.all() if o.attribute.code == "colour"}
        sizes = {o.pk for v in variants for o in v.options.all() if o.attribute.code == "size"}
        several_prices = len({v.price for v in variants}) > 1
        if set(codes) == {"colour", "size"} and len(colours) > 1 and len(sizes) > 1 and several_prices:
            return product, variants
    raise AssertionError("the demo catalogue has no product with several colours and sizes")


def options_of(variant: ProductVariant) -> dict[str, int]:
    return {o.attribute.code: o.pk for o in variant.options.all()}


def pick_option(page: Page, value_pk: int) -> None:
    """Click an option as a shopper does: on its label (the radio itself is visually hidden)."""
    page.locator("label.opt", has=page.locator(f"input[value='{value_pk}']")).click()
    expect(page.locator(f"#variant-form input[value='{value_pk}']")).to_be_checked()


def expect_variant_shown(page: Page, variant: ProductVariant) -> None:
    expect(page.locator("#sku")).to_have_text(variant.sku)
    expect(page.locator("#price")).to_have_text(format_money(variant.price))
    expect(page.locator("#variant-id")).to_have_value(str(variant.pk))
    on_sale = variant.compare_at_price is not None and variant.compare_at_price > variant.price
    expect(page.locator("#was")).to_have_text(format_money(variant.compare_at_price) if on_sale else "")
    # The demo gives one variant of each colour a photo; every size of that colour shows it.
    photo = ProductImage.objects.filter(
        variant__product=variant.product_id, variant__options=options_of(variant)["colour"]
    )
    expect(page.locator("#main-image")).to_have_attribute("src", photo.get().listing_url)


# -- tests ------------------------------------------------------------------------------------
def test_search_filters_paging_and_sort(desktop_page: Page, demo_catalogue, artifacts_dir):
    page = desktop_page
    rec = Recorder(page, artifacts_dir, "desktop")

    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator(".grid .card").first).to_be_visible()
    assert_no_horizontal_overflow(page)
    rec.shot("home")

    # Search in Chinese from the header box.
    box = page.get_by_role("search").locator("input[name=q]")
    box.fill(QUERY)
    box.press("Enter")
    arrived(page, r"/search/\?q=")
    expect(box).to_have_value(QUERY)
    expect(page.locator(".results .card").first).to_be_visible()
    names = card_names(page)
    expected = Product.objects.filter(is_active=True, name__contains=QUERY).count()
    assert 0 < expected <= settings.CATALOG_PAGE_SIZE, "the demo data should give one page of results"
    assert len(names) == expected == result_count(page)
    assert all(QUERY in name for name in names), names
    expect(page.locator("h1")).to_contain_text(QUERY)
    rec.shot("search")

    # The full listing, then one colour: the count drops to that colour's facet count.
    page.locator(f".top-links a[href='{reverse('catalog:all')}']").click()
    arrived(page, re.escape(reverse("catalog:all")) + "$")
    total = result_count(page)
    assert total == Product.objects.filter(is_active=True).count()
    colour = Attribute.objects.get(code="colour")
    colour_box = page.locator("#filters fieldset").filter(has=page.locator(f"legend:text-is('{colour.name}')"))
    labels = colour_box.locator("label.check")
    counts = [facet_count(t) for t in labels.all_inner_texts()]
    # The biggest colour that is still a real narrowing: more than a page of it if possible.
    index = max((i for i, n in enumerate(counts) if n < total), key=lambda i: counts[i])
    choice = labels.nth(index).locator("input[name=av]")
    value_pk = int(choice.get_attribute("value"))
    choice.check()
    page.locator("#filters button[type=submit]").click()
    arrived(page, rf"[?&]av={value_pk}(&|$)")
    filtered = counts[index]
    assert result_count(page) == filtered < total
    expect(page.locator(f"#filters input[name=av][value='{value_pk}']")).to_be_checked()
    with_colour = set(Product.objects.filter(is_active=True, attribute_values=value_pk).values_list("name", flat=True))
    first_page = card_names(page)
    assert set(first_page) <= with_colour
    rec.shot("filtered")

    # Page 2 keeps the filter.
    if filtered > settings.CATALOG_PAGE_SIZE:
        page.locator(".pager a[rel=next]").click()
        arrived(page, r"[?&]page=2(&|$)")
        assert f"av={value_pk}" in page.url
        expect(page.locator(f"#filters input[name=av][value='{value_pk}']")).to_be_checked()
        assert result_count(page) == filtered
        second_page = card_names(page)
        assert second_page and set(second_page) <= with_colour
        assert len(first_page) + len(second_page) == min(filtered, 2 * settings.CATALOG_PAGE_SIZE)
        rec.shot("filtered-page-2")

    # Price, low to high: back to page 1, filter kept, prices ascending (across pages too).
    page.locator(".sorts a[href*='sort=price_asc']").click()
    arrived(page, r"[?&]sort=price_asc(&|$)")
    assert "page=" not in page.url and f"av={value_pk}" in page.url
    expect(page.locator(".sorts a.on")).to_have_attribute("href", re.compile(r"sort=price_asc"))
    expect(page.locator("#filters input[name=sort]")).to_have_value("price_asc")
    expect(page.locator(f"#filters input[name=av][value='{value_pk}']")).to_be_checked()
    assert result_count(page) == filtered
    prices = card_prices(page)
    assert prices and prices == sorted(prices), prices
    rec.shot("sorted-by-price")
    if filtered > settings.CATALOG_PAGE_SIZE:
        page.locator(".pager a[rel=next]").click()
        arrived(page, r"[?&]page=2(&|$)")
        more = card_prices(page)
        assert more == sorted(more) and more[0] >= prices[-1], (prices, more)

    page.goto(reverse("catalog:category", args=["clothing"]))
    expect(page.locator(".results .card").first).to_be_visible()
    assert_no_horizontal_overflow(page)
    readme_shot(page, "screenshot")
    rec.assert_clean()


def test_product_variant_picker_and_language_switch(desktop_page: Page, demo_catalogue, artifacts_dir):
    page = desktop_page
    rec = Recorder(page, artifacts_dir, "product")
    product, variants = product_with_variant_grid()

    page.goto(product.get_absolute_url())
    expect(page.locator("h1")).to_have_text(product.name)
    first = next(v for v in variants if str(v.pk) == page.locator("#variant-id").input_value())
    for value_pk in options_of(first).values():
        expect(page.locator(f"#variant-form input[value='{value_pk}']")).to_be_checked()
    expect_variant_shown(page, first)
    assert_no_horizontal_overflow(page)
    readme_shot(page, "screenshot-product")
    rec.shot("initial-variant")

    # Another size and another colour, at another price: everything follows the choice.
    start = options_of(first)
    target = next(
        v
        for v in variants
        if options_of(v)["size"] != start["size"]
        and options_of(v)["colour"] != start["colour"]
        and v.price != first.price
    )
    pick_option(page, options_of(target)["size"])
    between = next(
        v for v in variants if options_of(v) == {"colour": start["colour"], "size": options_of(target)["size"]}
    )
    expect_variant_shown(page, between)
    pick_option(page, options_of(target)["colour"])
    expect_variant_shown(page, target)
    assert page.locator("#sku").inner_text() != first.sku
    rec.shot("other-variant")

    # The language link (top right) switches to English on the same page, and back.
    page.locator(".top-links a[lang=en]").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page).to_have_url(re.compile(re.escape(product.get_absolute_url()) + "$"))
    expect(page.locator("h1")).to_have_text(product.name_en)
    expect(page.locator(".top-links a[lang=zh-hans]")).to_have_text("中文")
    rec.shot("english")
    page.locator(".top-links a[lang=zh-hans]").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("h1")).to_have_text(product.name)
    expect(page.locator(".top-links a[lang=en]")).to_be_visible()
    rec.shot("chinese-again")
    rec.assert_clean()


def test_phone_layout_does_not_scroll_sideways(mobile_page: Page, demo_catalogue, artifacts_dir):
    page = mobile_page
    rec = Recorder(page, artifacts_dir, "mobile")
    product, _variants = product_with_variant_grid()

    page.goto("/")
    expect(page.locator(".grid .card").first).to_be_visible()
    assert_no_horizontal_overflow(page)
    readme_shot(page, "screenshot-mobile")
    rec.shot("home")

    page.goto(f"{reverse('catalog:search')}?q={QUERY}")
    expect(page.locator(".results .card").first).to_be_visible()
    assert_no_horizontal_overflow(page)
    rec.shot("search")

    page.goto(product.get_absolute_url())
    expect(page.locator("#sku")).to_be_visible()
    assert_no_horizontal_overflow(page)
    rec.shot("product")
    rec.assert_clean()
