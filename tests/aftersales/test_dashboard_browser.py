"""The dashboard and the sales report in Chromium, at a desktop's width and a phone's (390×844):
staff log in, the charts are drawn (Chart.js from the shop's own static files), nothing breaks
the Content-Security-Policy, and the pages fit the phone. Screenshots in artifacts/
(backoffice-dashboard*.png, backoffice-report*.png); with UPDATE_SCREENSHOTS=1 docs/dashboard.png too
(never on an ordinary run: a test run leaves the checkout unchanged).

Run: SKIP_LINT=1 bash bin/test tests/aftersales/test_dashboard_browser.py
"""

import datetime as dt
import os
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from orders.sales import SalesRow, daily_sales_add
from tests import factories
from tests.browser.conftest import _unhashed_static_urls, browser, desktop_page, mobile_page  # noqa: F401
from tests.browser.test_csp import Violations
from tests.fulfillment.support import paid_order, stock, variant, warehouses

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
PASSWORD = "Backoffice-Charts-3141"
NAMES = [
    "纯棉衬衫",
    "马克杯",
    "羊毛围巾",
    "陶瓷茶壶",
    "帆布包",
    "蓝牙耳机",
    "保温杯",
    "真丝枕套",
    "竹制砧板",
    "香薰蜡烛",
    "运动袜",
]


def shop_month():
    """Eleven products with 60 days of sales and some refunds, a few orders waiting to ship,
    a low stock row; a superuser to look at it."""
    places = warehouses()
    department = factories.DepartmentFactory(code="home", name="家居部")
    today = timezone.localdate()
    rows = []
    for n, name in enumerate(NAMES):
        product = factories.ProductFactory(name=name, department=department)
        v = factories.VariantFactory(product=product, price=Decimal(20 + 7 * n), sku=f"BO-{n}")
        stock(places["sh"], v, 3 if n == 3 else 100)
        for back in range(60):
            units = (n * 7 + back * 3) % 9 + (11 - n)
            refunded = back % 9 == n % 9
            rows.append(
                SalesRow(
                    day=today - dt.timedelta(days=back), variant_id=v.pk, product_id=product.pk,
                    department_id=department.pk, units=units, orders=units, product_orders=units,
                    gross=v.price * units, refunded_units=int(refunded), refunds=v.price if refunded else Decimal(0),
                )
            )  # fmt: skip
    daily_sales_add(rows)
    v = variant(name="待发货的商品")
    stock(places["sh"], v, 10)
    for _ in range(3):
        paid_order([(v, 1)])
    return get_user_model().objects.create_superuser(email="board@example.com", password=PASSWORD)


def log_in(page: Page, user) -> None:
    page.goto("/admin/login/")
    page.locator("#id_username").fill(user.email)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    expect(page.locator("#site-name")).to_be_visible()


def charts_drawn(page: Page, count: int) -> None:
    expect(page.locator('canvas[data-drawn="1"]')).to_have_count(count)
    # Chart.js holds a chart for each canvas, with its data points.
    points = page.evaluate(
        "Array.from(document.querySelectorAll('canvas[data-chart]'))"
        ".map(c => window.Chart.getChart(c).data.datasets[0].data.length)"
    )
    assert len(points) == count and all(points), points


def fits(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def look(page: Page, seen: Violations, name: str) -> None:
    seen.collect(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_dashboard_and_report_draw_their_charts_on_desktop_and_phone(desktop_page: Page, mobile_page: Page):  # noqa: F811
    admin = shop_month()
    month = (timezone.localdate().replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    report = reverse("admin:orders_dailysales_changelist") + f"?month={month}"
    for page, suffix in ((desktop_page, ""), (mobile_page, "-phone")):
        seen = Violations(page)
        log_in(page, admin)
        page.goto(reverse("admin:index"))
        expect(page.locator(".bo-dashboard")).to_be_visible()
        charts_drawn(page, 1)
        expect(page.locator(".bo-figure").first).to_be_visible()
        expect(page.locator(".bo-table a").first).to_be_visible()  # the top products
        if suffix:
            assert fits(page), "the dashboard is wider than the phone"
        look(page, seen, f"backoffice-dashboard{suffix}.png")

        page.goto(report)
        expect(page.locator("#sales-report")).to_be_visible()
        charts_drawn(page, 2)
        assert page.locator("#sales-report tbody tr").count() == len(NAMES)
        if suffix:
            assert fits(page), "the report is wider than the phone (its table scrolls in its own box)"
        look(page, seen, f"backoffice-report{suffix}.png")

        # Sorting by a column is a link; the table follows.
        page.locator("#sales-report thead a", has_text="Units").or_(
            page.locator("#sales-report thead th").nth(1).locator("a")
        ).first.click()
        expect(page.locator("#sales-report thead th.sorted")).to_have_count(1)
        charts_drawn(page, 2)
        seen.collect(page)
        seen.assert_none()
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(ARTIFACTS / "backoffice-dashboard.png", ROOT / "docs" / "dashboard.png")
