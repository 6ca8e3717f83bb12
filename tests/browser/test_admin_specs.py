"""The product admin's specifications in a real browser: staff type rows of label and value in
Chinese and English, "Add a row" (a static script, no CSP violation) gives more rows, and what
is saved is what the English product page shows.

Run: SKIP_LINT=1 bash bin/test tests/browser/test_admin_specs.py
"""

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from tests import factories
from tests.browser.conftest import browser, desktop_page  # noqa: F401
from tests.browser.test_csp import Violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


def test_staff_add_specification_rows_in_both_languages(desktop_page: Page):  # noqa: F811
    page = desktop_page
    violations = Violations(page)
    admin = factories.UserFactory(email="boss@example.com", is_staff=True, is_superuser=True)
    product = factories.ProductFactory(
        name="纯棉T恤",
        name_en="Cotton T-shirt",
        specifications=[{"name": "产地", "name_en": "Made in", "value": "浙江", "value_en": "Zhejiang"}],
    )
    factories.VariantFactory(product=product)
    page.goto("/admin/login/")
    page.locator("#id_username").fill(admin.email)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    expect(page.locator("#site-name")).to_be_visible()

    page.goto(reverse("admin:catalog_product_change", args=[product.pk]))
    rows = page.locator("table.spec-rows tbody tr")
    expect(rows).to_have_count(4)  # the saved row and three empty ones
    add = page.locator("button.spec-add")
    expect(add).to_be_visible()
    add.click()
    add.click()
    expect(rows).to_have_count(6)
    expect(page.locator("input[name='specifications-rows']")).to_have_value("6")
    for index, values in (
        (1, ("洗涤", "Care", "可机洗", "machine washable")),
        (5, ("重量", "Weight", "200克", "200 g")),
    ):
        for key, text in zip(("name", "name_en", "value", "value_en"), values, strict=True):
            page.locator(f"input[name='specifications-{index}-{key}']").fill(text)
    page.locator("input[name='_continue']").click()
    expect(page.locator(".messagelist .success")).to_be_visible()

    product.refresh_from_db()
    assert [row["name_en"] for row in product.specifications] == ["Made in", "Care", "Weight"]
    page.goto(f"/lang/en/?next={product.get_absolute_url()}")  # the header's language switch
    expect(page.locator("html")).to_have_attribute("lang", "en")
    specs = page.locator("table.specs")
    for text in ("Made in", "Zhejiang", "Care", "machine washable", "Weight", "200 g"):
        expect(specs).to_contain_text(text)
    assert not violations.found, violations.found
