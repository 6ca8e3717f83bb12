"""Finance's settlement pages: run a month, the runs' reconciliation on the list, a statement's
lines, PDF (font embedded) and XLSX, adjust, confirm (the department is mailed both documents),
mark paid; department staff see their own statements only; nobody else sees any."""

import datetime as dt
from decimal import Decimal
from io import BytesIO

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.urls import reverse
from openpyxl import load_workbook

from aftersales.models import SettlementRun, Statement
from aftersales.services.staff import CUSTOMER_SERVICE_GROUP, FINANCE_GROUP
from catalog.selectors import DEPARTMENT_STAFF_GROUP
from orders.models import Notification
from tests import factories
from tests.aftersales.test_settlement import at, october, world  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db(transaction=True)


def member(group: str, **kwargs):
    user = factories.UserFactory(is_staff=True, **kwargs)
    user.groups.add(Group.objects.get(name=group))
    return user


def logged_in(client, user):
    client.force_login(user)
    return client


def test_finance_runs_the_month_and_takes_a_statement_from_draft_to_paid(client, world):  # noqa: F811
    october(world)
    finance = logged_in(client, member(FINANCE_GROUP))
    with at("11-15", 9):
        page = finance.get(reverse("admin:aftersales_statement_run"))
        assert page.status_code == 200 and b"2026-10" in page.content  # the previous month, proposed
        dry = finance.post(reverse("admin:aftersales_statement_run"), {"month": "2026-10", "dry_run": "on"})
        assert dry.status_code == 200 and "490.50" in dry.content.decode() and not Statement.objects.exists()
        bad = finance.post(reverse("admin:aftersales_statement_run"), {"month": "10/2026"})
        assert "YYYY-MM" in bad.content.decode() and not SettlementRun.objects.exists()
        done = finance.post(reverse("admin:aftersales_statement_run"), {"month": "2026-10"})
    assert done.status_code == 302
    listing = finance.get(reverse("admin:aftersales_statement_changelist")).content.decode()
    assert "JS202610-DEPT-A" in listing and "JS202610-DEPT-B" in listing
    assert "settlement-ok" in listing and "625.00" in listing  # the run's reconciliation, above the list
    a = Statement.objects.get(number="JS202610-DEPT-A")
    page = finance.get(reverse("admin:aftersales_statement_change", args=[a.pk])).content.decode()
    assert 'id="statement-confirm"' in page and 'id="statement-adjust"' in page and 'id="statement-pay"' not in page
    lines = finance.get(reverse("admin:aftersales_statement_lines", args=[a.pk])).content.decode()
    table = lines[lines.index('id="statement-lines-table"') :]
    table = table[: table.index("</table>")]
    assert table.count("<tr") == 1 + 3  # header and A's three lines

    pdf = finance.get(reverse("admin:aftersales_statement_pdf", args=[a.pk]))
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert b"/FontFile2" in pdf.content  # the Chinese font travels inside the file
    xlsx = finance.get(reverse("admin:aftersales_statement_xlsx", args=[a.pk]))
    book = load_workbook(BytesIO(xlsx.content), read_only=True)
    rows = list(book.worksheets[1].iter_rows(values_only=True))
    assert len(rows) == 1 + 3 and sum(Decimal(str(r[-1])) for r in rows[1:]) == Decimal("450.00")

    response = finance.post(
        reverse("admin:aftersales_statement_adjust", args=[a.pk]), {"amount": "-10.00", "reason": "包装材料费"}
    )
    assert response.status_code == 302
    a.refresh_from_db()
    assert a.adjustments == Decimal("-10.00") and a.payable == Decimal("440.00")
    assert finance.post(reverse("admin:aftersales_statement_confirm", args=[a.pk])).status_code == 302
    a.refresh_from_db()
    assert a.state == Statement.State.CONFIRMED
    # The outbox mails the department's contact both documents (sent on commit: tasks are eager here).
    notification = Notification.objects.get(kind=Notification.Kind.STATEMENT_CONFIRMED)
    assert notification.state == Notification.State.SENT
    (sent,) = [m for m in mail.outbox if m.to == ["a@dept.example"]]
    assert sent.to == ["a@dept.example"] and "JS202610-DEPT-A" in sent.subject
    assert sorted(name for name, _content, _type in sent.attachments) == ["JS202610-DEPT-A.pdf", "JS202610-DEPT-A.xlsx"]

    refused = finance.post(reverse("admin:aftersales_statement_pay", args=[a.pk]), {"transfer_reference": ""})
    assert refused.status_code == 200 and Statement.objects.get(pk=a.pk).state == Statement.State.CONFIRMED
    paid = finance.post(
        reverse("admin:aftersales_statement_pay", args=[a.pk]),
        {"transfer_reference": "TRF-001", "paid_on": "2026-11-16"},
    )
    assert paid.status_code == 302
    a.refresh_from_db()
    assert (a.state, a.transfer_reference, a.paid_on) == (Statement.State.PAID, "TRF-001", dt.date(2026, 11, 16))
    # Once confirmed, nothing changes it: the adjust page is refused.
    assert (
        finance.post(
            reverse("admin:aftersales_statement_adjust", args=[a.pk]), {"amount": "1", "reason": "x"}
        ).status_code
        == 200
    )
    assert Statement.objects.get(pk=a.pk).payable == Decimal("440.00")


def test_department_staff_see_only_their_own_statements_and_cannot_act(client, world):  # noqa: F811
    october(world)
    from aftersales.services import settlement

    with at("11-15", 2):
        settlement.settle_month(month=dt.date(2026, 10, 1))
    a = Statement.objects.get(department=world["a"])
    b = Statement.objects.get(department=world["b"])
    user = member(DEPARTMENT_STAFF_GROUP)
    world["a"].staff.add(user)
    c = logged_in(client, user)
    listing = c.get(reverse("admin:aftersales_statement_changelist")).content.decode()
    assert a.number in listing and b.number not in listing
    assert "settlement-runs" not in listing or "may_run" not in listing
    assert c.get(reverse("admin:aftersales_statement_change", args=[a.pk])).status_code == 200
    assert c.get(reverse("admin:aftersales_statement_pdf", args=[a.pk])).status_code == 200
    for name in ("change", "pdf", "xlsx", "lines"):
        assert c.get(reverse(f"admin:aftersales_statement_{name}", args=[b.pk])).status_code in (302, 404)
    for name in ("confirm", "adjust", "pay"):
        assert c.post(reverse(f"admin:aftersales_statement_{name}", args=[a.pk]), {}).status_code == 403
    assert c.get(reverse("admin:aftersales_statement_run")).status_code == 403
    assert c.get(reverse("admin:aftersales_settlementrun_changelist")).status_code == 403
    assert Statement.objects.get(pk=a.pk).state == Statement.State.DRAFT


def test_customer_service_and_customers_reach_no_statement(client, world):  # noqa: F811
    october(world)
    from aftersales.services import settlement

    with at("11-15", 2):
        settlement.settle_month(month=dt.date(2026, 10, 1))
    a = Statement.objects.get(department=world["a"])
    for user in (member(CUSTOMER_SERVICE_GROUP), factories.UserFactory()):
        client.force_login(user)
        assert client.get(reverse("admin:aftersales_statement_changelist")).status_code in (302, 403)
        assert client.get(reverse("admin:aftersales_statement_pdf", args=[a.pk])).status_code in (302, 403)
        assert client.post(reverse("admin:aftersales_statement_confirm", args=[a.pk])).status_code in (302, 403)
    assert Statement.objects.get(pk=a.pk).state == Statement.State.DRAFT


def test_an_attackers_view_of_the_statement_pages(client, world):  # noqa: F811
    """DEBUG off: a replayed confirmation mails once and changes nothing more; a GET never acts; a
    NUL byte is refused before any view; an unknown or foreign id answers 404; an anonymous visitor
    is sent to log in; a staff member without the permission gets 403."""
    october(world)
    from aftersales.services import settlement

    with at("11-15", 2):
        settlement.settle_month(month=dt.date(2026, 10, 1))
    a = Statement.objects.get(department=world["a"])
    finance = logged_in(client, member(FINANCE_GROUP))
    confirm = reverse("admin:aftersales_statement_confirm", args=[a.pk])
    assert finance.get(confirm).status_code == 302  # a GET (a link, a prefetch) never confirms
    assert Statement.objects.get(pk=a.pk).state == Statement.State.DRAFT
    for _replay in range(2):
        assert finance.post(confirm).status_code == 302
    assert Statement.objects.get(pk=a.pk).state == Statement.State.CONFIRMED
    assert Notification.objects.filter(kind=Notification.Kind.STATEMENT_CONFIRMED).count() == 1
    adjust = reverse("admin:aftersales_statement_adjust", args=[a.pk])
    assert finance.post(adjust, {"amount": "5", "reason": "a\x00b"}).status_code == 400
    assert not a.adjustment_entries.exists()
    assert finance.get(reverse("admin:aftersales_statement_pdf", args=[987654])).status_code == 404
    assert finance.post(reverse("admin:aftersales_statement_run"), {"month": "2026-10\x00"}).status_code == 400
    client.logout()
    assert client.get(reverse("admin:aftersales_statement_pdf", args=[a.pk])).status_code == 302
    client.force_login(factories.UserFactory(is_staff=True))  # staff, no permission
    assert client.get(reverse("admin:aftersales_statement_xlsx", args=[a.pk])).status_code == 403
    assert client.post(reverse("admin:aftersales_statement_run"), {"month": "2026-10"}).status_code == 403
