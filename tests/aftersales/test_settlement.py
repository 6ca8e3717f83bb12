"""The monthly settlement (按部门月结) on hand-computed months: orders bought, paid (gateway, cash
on delivery), partly refunded, completed and returned through the real services, on
PostgreSQL; then `settle_month` and its statements checked to the cent."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from aftersales.exceptions import SettlementError, SettlementErrorCode
from aftersales.models import AfterSale, RefundNoteLine, SettlementRun, Statement, StatementLine
from aftersales.services import requests as svc
from aftersales.services import settlement
from catalog.models import CommissionRate
from orders.models import Notification, Order
from orders.services import order_confirm_receipt
from tests import factories
from tests.aftersales.support import pay_by_gateway, ship_all
from tests.aftersales.test_requests import open_request, staff
from tests.fulfillment.support import place, stock, warehouses
from tests.orders.test_concurrency import run_at_once
from tests.purchase import buyer_with_cart

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal
OCTOBER, NOVEMBER = dt.date(2026, 10, 1), dt.date(2026, 11, 1)


def at(day: str, hour: int = 10):
    """Travel to a day of 2026 at the shop's local time."""
    when = timezone.make_aware(dt.datetime.fromisoformat(f"2026-{day} {hour:02d}:00"))
    return time_machine.travel(when, tick=True)


@pytest.fixture
def world():
    """Two departments (A at 5 %, 8 % from 15 October; B at 10 %), a product each, stock."""
    places = warehouses()
    a = factories.DepartmentFactory(code="dept-a", name="A 部", contact_email="a@dept.example")
    b = factories.DepartmentFactory(code="dept-b", name="B 部", contact_email="b@dept.example")
    CommissionRate.objects.create(department=a, rate=D("0.05"), valid_from=dt.date(2026, 1, 1))
    CommissionRate.objects.create(department=a, rate=D("0.08"), valid_from=dt.date(2026, 10, 15))
    CommissionRate.objects.create(department=b, rate=D("0.10"), valid_from=dt.date(2026, 1, 1))
    va = factories.VariantFactory(product=factories.ProductFactory(department=a), price=D("100.00"))
    vb = factories.VariantFactory(product=factories.ProductFactory(department=b), price=D("50.00"))
    for v in (va, vb):
        stock(places["sh"], v, 100)
    return {"a": a, "b": b, "va": va, "vb": vb}


def buy(items, *, coupon: str = "", how: str = "sandbox") -> Order:
    user, address, cart = buyer_with_cart(items, coupon=coupon)
    address.province = address.city = "上海"
    address.save()
    order = place(user, address, cart, payment_method=how)
    if how == "sandbox":
        pay_by_gateway(order)
    else:
        from payments.services import cod_accept

        cod_accept(order_id=order.pk, user=order.customer)
    order.refresh_from_db()
    return order


def complete(order: Order) -> Order:
    ship_all(order)
    order_confirm_receipt(order_id=order.pk, customer=order.customer)
    order.refresh_from_db()
    return order


def line(order: Order, v):
    return order.lines.get(variant=v)


def figures(statement: Statement) -> tuple:
    statement.refresh_from_db()
    return statement.goods, statement.refunds, statement.commission, statement.adjustments, statement.payable


def october(world):
    """The hand-computed October (DESIGN of the test in each comment)."""
    va, vb = world["va"], world["vb"]
    factories.CouponFactory(
        code="OFF25",
        kind="fixed",
        value=D("25.00"),
        min_spend=0,
        starts_at=timezone.make_aware(dt.datetime(2026, 1, 1)),
    )
    with at("10-03"):
        # 2×100 (A) + 1×50 (B), 25 off: shares 20 and 5 → goods 180 and 45.
        o1 = complete(buy([(va, 2), (vb, 1)], coupon="OFF25"))
    with at("10-04"):
        o2 = complete(buy([(va, 1)], how="cod"))  # cash on delivery, collected: goods 100
    with at("10-16"):
        # 3×100 (A) at the new 8 %, one unit cancelled before shipping: refund 100.
        o3 = buy([(va, 3)])
        open_request(o3, AfterSale.Kind.CANCEL, AfterSale.Reason.CHANGED_MIND, {line(o3, va).pk: 1})
        complete(o3)
    with at("10-28"):
        # Completed the 28th: its after-sales period ends 4 November, so November settles it.
        o4 = complete(buy([(vb, 2)]))
    return o1, o2, o3, o4


def test_a_hand_computed_month_settles_each_department_to_the_cent(world):
    o1, o2, o3, o4 = october(world)
    with at("11-15", 2):
        outcome = settlement.settle_month(month=OCTOBER)
    a = Statement.objects.get(department=world["a"], month=OCTOBER)
    b = Statement.objects.get(department=world["b"], month=OCTOBER)
    assert a.number == "JS202610-DEPT-A" and a.state == Statement.State.DRAFT
    # A: goods 180 + 100 + 300 = 580; refunds 100; commission 9 + 5 + 16 (8 % of 200) = 30.
    assert figures(a) == (D("580.00"), D("100.00"), D("30.00"), D("0.00"), D("450.00"))
    assert figures(b) == (D("45.00"), D("0.00"), D("4.50"), D("0.00"), D("40.50"))
    rows = {(x.order_number, x.sku): x for x in a.lines.all()}
    first = rows[(o1.number, world["va"].sku)]
    assert (first.goods, first.refunds, first.commission_rate, first.commission, first.payable) == (
        D("180.00"), D("0.00"), D("0.0500"), D("9.00"), D("171.00"),
    )  # fmt: skip
    third = rows[(o3.number, world["va"].sku)]
    assert (third.goods, third.refunds, third.commission_rate, third.commission, third.payable) == (
        D("300.00"), D("100.00"), D("0.0800"), D("16.00"), D("184.00"),
    )  # fmt: skip
    # The cancellation's refund line is now this sale line's: never counted again.
    assert RefundNoteLine.objects.get(order_line=line(o3, world["va"])).settled_in == third
    assert not StatementLine.objects.filter(order_line__order=o4).exists()
    # The run and its reconciliation: shipping is the shop's, payments agree.
    run = outcome.run
    assert run.outcome == SettlementRun.Outcome.OK and run.sale_lines == 4 and run.clawback_lines == 0
    assert run.goods == D("625.00") and run.payable == D("490.50") and run.commission == D("34.50")
    assert run.shipping_fees == sum(o.shipping_fee for o in (o1, o2, o3))
    assert run.captured - run.refunded == sum(o.total for o in (o1, o2, o3)) - D("100.00")


def test_nothing_grows_with_the_month_no_query_reads_a_row_per_line_and_the_copy_waits_for_the_server(
    world, monkeypatch
):
    """Issue 10's "memory flat as the month grows" (docs/benchmark.md, "Monthly settlement")."""
    october(world)
    pending = []

    def drain(pgconn):
        real_drain(pgconn)
        pending.append(pgconn.flush())  # what libpq still holds: nothing

    real_drain = settlement._drain
    monkeypatch.setattr(settlement, "_drain", drain)
    monkeypatch.setattr(settlement, "COPY_CHUNK", 100)  # the spool in many small writes
    with at("11-15", 2), CaptureQueriesContext(connection) as queries:
        outcome = settlement.settle_month(month=OCTOBER)
    # Each write was sent before the next was read: libpq's buffer never held the month.
    assert len(pending) > 3 and set(pending) == {0}
    assert outcome.sale_lines == 4 and outcome.totals.payable == D("490.50")
    a = Statement.objects.get(department=world["a"], month=OCTOBER)
    assert figures(a) == (D("580.00"), D("100.00"), D("30.00"), D("0.00"), D("450.00"))
    # The departments of the month: one row each, not one per line (the default ordering on pk
    # would join the DISTINCT).
    distinct = [q["sql"] for q in queries if q["sql"].startswith("SELECT DISTINCT")]
    assert len(distinct) == 2
    assert not [sql for sql in distinct if "ORDER BY" in sql or '"id"' in sql.split(" FROM ")[0]]


def test_running_a_month_again_gives_the_same_figures_and_confirmed_statements_never_change(world):
    october(world)
    with at("11-15", 2):
        settlement.settle_month(month=OCTOBER)
    a = Statement.objects.get(department=world["a"], month=OCTOBER)
    before = figures(a), sorted(a.lines.values_list("order_line_id", "goods", "refunds", "commission", "payable"))
    with at("11-15", 3):
        settlement.settle_month(month=OCTOBER)
    assert Statement.objects.filter(month=OCTOBER).count() == 2
    assert (
        figures(a),
        sorted(a.lines.values_list("order_line_id", "goods", "refunds", "commission", "payable")),
    ) == before
    settlement.statement_confirm(statement_id=a.pk, actor=factories.UserFactory(is_staff=True))
    lines = list(a.lines.values_list("pk", flat=True))
    with at("11-16"):
        outcome = settlement.settle_month(month=OCTOBER)
    a.refresh_from_db()
    assert a.state == Statement.State.CONFIRMED and list(a.lines.values_list("pk", flat=True)) == lines
    assert outcome.closed_departments == ["A 部"]


def test_a_refund_after_the_month_was_paid_is_a_negative_line_next_month(world):
    va = world["va"]
    with at("10-03"):
        o1 = complete(buy([(va, 2)]))  # goods 200, 5 %: commission 10, payable 190
    with at("10-14"):
        request = open_request(o1, AfterSale.Kind.RETURN, AfterSale.Reason.QUALITY, {line(o1, va).pk: 1})
        svc.aftersale_approve(request_id=request.pk, actor=staff())
        svc.aftersale_return_shipped(
            request_id=request.pk, customer=o1.customer, carrier="own_fleet", tracking_number="RT-1"
        )
    with at("11-15", 2):
        settlement.settle_month(month=OCTOBER)
    october_a = Statement.objects.get(department=world["a"], month=OCTOBER)
    finance = factories.UserFactory(is_staff=True)
    settlement.statement_confirm(statement_id=october_a.pk, actor=finance)
    settlement.statement_mark_paid(
        statement_id=october_a.pk, reference="TRF-2026-11-001", paid_on=dt.date(2026, 11, 16), actor=finance
    )
    paid_figures = figures(october_a)
    assert paid_figures == (D("200.00"), D("0.00"), D("10.00"), D("0.00"), D("190.00"))
    with at("11-20"):  # the return arrives: the refund is written now, after the payout
        svc.aftersale_receive(request_id=request.pk, actor=staff(), restock={request.lines.get().pk: 1}, write_off={})
    with at("12-15", 2):
        settlement.settle_month(month=NOVEMBER)
    assert figures(october_a) == paid_figures  # never edited
    november_a = Statement.objects.get(department=world["a"], month=NOVEMBER)
    clawback = november_a.lines.get()
    assert clawback.kind == StatementLine.Kind.CLAWBACK
    assert (clawback.goods, clawback.refunds, clawback.commission, clawback.payable) == (
        D("0.00"), D("100.00"), D("-5.00"), D("-95.00"),
    )  # fmt: skip
    assert figures(november_a) == (D("0.00"), D("100.00"), D("-5.00"), D("0.00"), D("-95.00"))
    # A third run finds nothing new: the refund is settled once.
    with at("12-15", 3):
        settlement.settle_month(month=NOVEMBER)
    assert StatementLine.objects.filter(kind=StatementLine.Kind.CLAWBACK).count() == 1


def test_adjustments_survive_a_rerun_and_confirming_mails_the_department_with_the_documents(world, mailoutbox):
    october(world)
    with at("11-15", 2):
        settlement.settle_month(month=OCTOBER)
    b = Statement.objects.get(department=world["b"], month=OCTOBER)
    finance = factories.UserFactory(is_staff=True)
    with pytest.raises(SettlementError) as exc:
        settlement.statement_adjust(statement_id=b.pk, amount=D("5"), reason=" ", actor=finance)
    assert exc.value.code == SettlementErrorCode.REASON_REQUIRED
    settlement.statement_adjust(statement_id=b.pk, amount=D("-2.50"), reason="样品费", actor=finance)
    with at("11-15", 3):
        settlement.settle_month(month=OCTOBER)
    assert figures(b) == (D("45.00"), D("0.00"), D("4.50"), D("-2.50"), D("38.00"))
    settlement.statement_confirm(statement_id=b.pk, actor=finance)
    with pytest.raises(SettlementError) as exc:
        settlement.statement_adjust(statement_id=b.pk, amount=D("1"), reason="late", actor=finance)
    assert exc.value.code == SettlementErrorCode.NOT_DRAFT
    with pytest.raises(SettlementError) as exc:
        settlement.statement_mark_paid(statement_id=b.pk, reference="", paid_on=None, actor=finance)
    assert exc.value.code == SettlementErrorCode.REFERENCE_REQUIRED
    mail = Notification.objects.get(kind=Notification.Kind.STATEMENT_CONFIRMED)
    assert mail.to == "b@dept.example" and mail.context["number"] == b.number


def test_a_month_not_over_is_refused_and_a_dry_run_writes_nothing(world):
    october(world)
    with at("10-30"), pytest.raises(SettlementError) as exc:
        settlement.settle_month(month=OCTOBER)
    assert exc.value.code == SettlementErrorCode.MONTH_NOT_OVER
    with at("11-15", 2):
        outcome = settlement.settle_month(month=OCTOBER, dry_run=True)
    assert outcome.totals.payable == D("490.50") and outcome.sale_lines == 4
    assert not Statement.objects.exists() and not SettlementRun.objects.exists()
    assert not RefundNoteLine.objects.filter(settled_in__isnull=False).exists()


def test_books_that_do_not_reconcile_stop_the_run_and_write_nothing_but_the_report(world):
    o1, *_ = october(world)
    # A payment that no longer agrees with its order (as if a refund were lost on the way).
    payment = o1.payments.get(purpose="order")
    type(payment).objects.filter(pk=payment.pk).update(refunded=D("1.00"))
    with at("11-15", 2), pytest.raises(SettlementError) as exc:
        settlement.settle_month(month=OCTOBER)
    assert exc.value.code == SettlementErrorCode.MISMATCH
    assert o1.number in exc.value.message
    assert not Statement.objects.exists() and not StatementLine.objects.exists()
    assert not RefundNoteLine.objects.filter(settled_in__isnull=False).exists()
    failed = SettlementRun.objects.get()
    assert failed.outcome == SettlementRun.Outcome.MISMATCH and o1.number in failed.report


def test_two_runs_at_once_make_one_statement_per_department(world):
    october(world)
    with at("11-15", 2):
        results = run_at_once([lambda: settlement.settle_month(month=OCTOBER)] * 2)
    assert not [r for r in results if isinstance(r, Exception)]
    assert Statement.objects.filter(month=OCTOBER).count() == 2
    assert StatementLine.objects.filter(kind=StatementLine.Kind.SALE).count() == 4
    a = Statement.objects.get(department=world["a"], month=OCTOBER)
    assert figures(a)[-1] == D("450.00")


def test_the_command_prints_the_figures_and_refuses_a_bad_month(world, capsys):
    october(world)
    with at("11-15", 2):
        call_command("settle_month", "--month", "2026-10", "--no-progress")
    out = capsys.readouterr().out
    assert "Settlement 2026-10" in out and "JS202610-DEPT-A" in out and "490.50" in out
    with pytest.raises(CommandError, match="YYYY-MM"):
        call_command("settle_month", "--month", "October")
