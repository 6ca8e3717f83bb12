"""Out of stock in a real browser: the variant picker strikes a sold-out option and says so in
words, the buy buttons stop working for it, and "tell me when it is back" takes a visitor
through the login and back to the product, where asking again records the alert."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from catalog import services as catalog_services
from catalog.models import StockAlert
from fulfillment.services import product_stock_flags_refresh
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


@pytest.fixture
def tee():
    """A T-shirt in red (in stock, shown first) and blue (sold out)."""
    colour = factories.AttributeFactory(code="colour", name="颜色", name_en="Colour")
    red = factories.AttributeValueFactory(attribute=colour, value="红色", value_en="red", position=0)
    blue = factories.AttributeValueFactory(attribute=colour, value="蓝色", value_en="blue", position=1)
    product = factories.ProductFactory(name="纯棉T恤", name_en="Cotton T-shirt")
    variants = {}
    for position, (value, on_hand) in enumerate(((red, 5), (blue, 0))):
        variant = factories.VariantFactory(product=product, position=position)
        variant.options.set([value])
        factories.StockFactory(variant=variant, product=product, on_hand=on_hand)
        variants[value.value_en] = (variant, value)
    product.attribute_values.add(red, blue)
    catalog_services.product_after_save(product_id=product.pk)
    product_stock_flags_refresh(product_ids=[product.pk])
    return product, variants


def pick(page: Page, value_pk: int) -> None:
    page.locator("label.opt", has=page.locator(f"input[value='{value_pk}']")).click()


def test_a_sold_out_option_is_struck_cannot_be_bought_and_can_be_waited_for(desktop_page: Page, tee, artifacts_dir):
    page = desktop_page
    product, variants = tee
    (_red_variant, red), (blue_variant, blue) = variants["red"], variants["blue"]
    page.goto(product.get_absolute_url())

    blue_label = page.locator("label.opt", has=page.locator(f"input[value='{blue.pk}']"))
    expect(blue_label).to_have_class(re.compile(r"\bsoldout\b"))
    expect(blue_label.locator(".soldout-note")).to_be_visible()  # in words, not colour alone
    expect(page.locator("#add-to-cart")).to_be_enabled()
    expect(page.locator("#alert-form")).to_be_hidden()

    pick(page, blue.pk)
    expect(page.locator("#stock-status")).to_have_class(re.compile(r"\bout\b"))
    expect(page.locator("#add-to-cart")).to_be_disabled()
    expect(page.locator("#buy-now")).to_be_disabled()
    expect(page.locator("#alert-form")).to_be_visible()
    expect(page.locator("#alert-variant")).to_have_value(str(blue_variant.pk))
    page.screenshot(path=str(artifacts_dir / "stock-alert-sold-out.png"), full_page=True)

    pick(page, red.pk)
    expect(page.locator("#add-to-cart")).to_be_enabled()
    expect(page.locator("#alert-form")).to_be_hidden()

    # A visitor asks: log in, and back to the product.
    customer = factories.UserFactory(email="waiting@example.com", password=PASSWORD)
    pick(page, blue.pk)
    page.locator("#alert-button").click()
    page.wait_for_url(re.compile(re.escape(reverse("accounts:login"))))
    page.locator("#id_username").fill(customer.email)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url(re.compile(re.escape(product.get_absolute_url()) + "$"))
    assert not StockAlert.objects.exists()

    pick(page, blue.pk)
    with page.expect_navigation():  # the same page again, with the message
        page.locator("#alert-button").click()
    page.wait_for_url(re.compile(re.escape(product.get_absolute_url()) + "$"))
    alert = StockAlert.objects.get()
    assert (alert.customer_id, alert.variant_id) == (customer.pk, blue_variant.pk)

    page.goto(reverse("accounts:overview"))
    expect(page.locator("#stock-alerts")).to_contain_text("纯棉T恤")
    page.screenshot(path=str(artifacts_dir / "stock-alert-account.png"), full_page=True)
    page.locator("#stock-alerts button[type=submit]").click()
    page.wait_for_url(re.compile(re.escape(reverse("accounts:overview")) + "$"))
    expect(page.locator("#stock-alerts")).to_have_count(0)
    assert not StockAlert.objects.exists()
