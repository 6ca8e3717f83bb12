"""The monthly settlement in Chromium: finance runs October, opens a department's statement,
downloads its PDF and XLSX, confirms it and marks it paid; a member of that department's staff
sees only their statement; the superuser filters the admin log down to finance's steps.
Screenshots in artifacts/settlement-*.png; with UPDATE_SCREENSHOTS=1 the statement's page is copied
to docs/statement.png too (never on an ordinary run: a test run leaves the checkout unchanged).

Run: SKIP_LINT=1 bash bin/test tests/browser/test_settlement.py
"""

import os
import shutil
from decimal import Decimal
from io import BytesIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from aftersales.models import Statement
from aftersales.services.staff import FINANCE_GROUP
from catalog.selectors import DEPARTMENT_STAFF_GROUP
from shop.models import AdminLogEntry
from tests.aftersales.test_settlement import october, world  # noqa: F401 - the fixture
from tests.browser.conftest import browser, desktop_page, mobile_page  # noqa: F401
from tests.browser.test_csp import Violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
PASSWORD = "Settle-The-Month-2718"


def staff(email: str, group: str | None = None, *, superuser: bool = False):
    User = get_user_model()
    if superuser:
        return User.objects.create_superuser(email=email, password=PASSWORD)
    user = User.objects.create_user(email=email, password=PASSWORD, is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


def log_in(page: Page, user) -> None:
    page.context.clear_cookies()
    page.goto("/admin/login/")
    page.locator("#id_username").fill(user.email)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    expect(page.locator("#site-name")).to_be_visible()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"settlement-{name}.png"), full_page=True)


def test_finance_settles_october_a_department_reads_its_statement_and_the_superuser_audits_it(
    desktop_page: Page,  # noqa: F811
    mobile_page: Page,  # noqa: F811
    world,  # noqa: F811
):
    october(world)  # bought and completed in October (time-travelled); now is after it
    finance = staff("finance@example.com", FINANCE_GROUP)
    member = staff("dept-a@example.com", DEPARTMENT_STAFF_GROUP)
    world["a"].staff.add(member)
    root = staff("root@example.com", superuser=True)
    page = desktop_page
    seen = Violations(page)

    log_in(page, finance)
    page.goto("/admin/aftersales/statement/")
    page.locator("#settlement-run").click()
    page.locator("#id_month").fill("2026-10")
    page.locator("#id_dry_run").check()
    page.locator("#settlement-run-form input[type=submit]").click()
    expect(page.locator("#settlement-dry-run")).to_contain_text("490.50")
    shot(page, "01-dry-run")
    page.locator("#id_dry_run").uncheck()
    page.locator("#settlement-run-form input[type=submit]").click()
    expect(page.locator(".settlement-runs")).to_be_visible()
    expect(page.locator("#result_list")).to_contain_text("JS202610-DEPT-A")
    shot(page, "02-statements")

    page.locator("#result_list a", has_text="JS202610-DEPT-A").click()
    expect(page.locator("#statement-confirm")).to_be_visible()
    with page.expect_download() as download:
        page.locator("#statement-pdf").click()
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF") and b"/FontFile2" in pdf
    with page.expect_download() as download:
        page.locator("#statement-xlsx").click()
    book = load_workbook(BytesIO(Path(download.value.path()).read_bytes()), read_only=True)
    payable = sum(Decimal(str(row[-1])) for row in list(book.worksheets[1].iter_rows(values_only=True))[1:])
    assert payable == Decimal("450.00")

    page.locator("#statement-confirm input[type=submit]").click()
    expect(page.locator("#statement-pay")).to_be_visible()
    page.locator("#statement-pay").click()
    page.locator("#id_transfer_reference").fill("TRF-2026-11-0042")
    page.locator("#id_paid_on").fill("2026-11-16")
    page.locator(".settlement-form input[type=submit]").click()
    expect(page.locator(".messagelist")).to_be_visible()
    statement = Statement.objects.get(number="JS202610-DEPT-A")
    assert statement.state == Statement.State.PAID and statement.transfer_reference == "TRF-2026-11-0042"
    shot(page, "03-statement-paid")
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(ARTIFACTS / "settlement-03-statement-paid.png", ROOT / "docs" / "statement.png")
    page.goto(f"/admin/aftersales/statement/{statement.pk}/lines/")
    expect(page.locator("#statement-lines-table tbody tr")).to_have_count(3)
    shot(page, "04-lines")

    # The department's own staff, on a phone: their statement only.
    phone = mobile_page
    log_in(phone, member)
    phone.goto("/admin/aftersales/statement/")
    expect(phone.locator("#result_list")).to_contain_text("JS202610-DEPT-A")
    expect(phone.locator("#result_list")).not_to_contain_text("JS202610-DEPT-B")
    expect(phone.locator("#settlement-run")).to_have_count(0)
    shot(phone, "05-department-phone")
    other = Statement.objects.get(number="JS202610-DEPT-B")
    response = phone.goto(f"/admin/aftersales/statement/{other.pk}/pdf/")
    assert response.status in (302, 404) or "/admin/" in phone.url

    # The superuser reads the admin log, filtered to finance.
    log_in(page, root)
    page.goto(f"/admin/shop/adminlogentry/?actor__id__exact={finance.pk}")
    rows = page.locator("#result_list tbody tr")
    expect(rows.first).to_be_visible()
    logged = AdminLogEntry.objects.filter(actor=finance).count()
    assert logged >= 3  # the run, the confirmation, the payment
    expect(rows).to_have_count(logged)
    expect(page.locator("#result_list")).to_contain_text("JS202610-DEPT-A")
    shot(page, "06-admin-log")
    seen.collect(page)
    seen.assert_none()
