"""The monthly settlement with the departments (按部门月结): seed 004's "每月15号对前一月订单帐目进行
核对并结算至各部门".

`settle_month(month)` settles, in one transaction under one lock:
- every order line whose order is completed and whose after-sales period
  (SETTLEMENT_AFTER_DAYS after completion) ended before the month did, not settled before: a SALE
  line on the statement of the department that owned the product when it was sold
  (`OrderLine.department_id_snapshot`), its goods being the line's total less its share of the
  order's discount, less the refunds written for it so far, less the commission at the rate in
  force the day the order was placed;
- every refund written before the month ended for a line settled in an earlier run: a CLAWBACK
  line (negative) on the department's statement, its commission going back at the rate charged.

A department whose statement for the month is already confirmed is left alone: its lines due now
wait for the next month.

Before anything is kept, the run reconciles what it wrote with the sources (orders, refund notes,
payments), to the cent; a mismatch rolls everything back and is recorded as a failed run with its
report. Lines are streamed, never loaded: memory stays flat as the month grows.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import select
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import DecimalField, Exists, F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from aftersales.exceptions import SettlementError, SettlementErrorCode
from aftersales.models import (
    RefundNote,
    RefundNoteLine,
    SettlementRun,
    Statement,
    StatementAdjustment,
    StatementLine,
)
from catalog.models import CommissionRate, Department
from orders.models import Notification, Order, OrderLine
from orders.services import discount_shares, notification_queue
from payments.models import Payment
from shop.core.money import format_money, money
from shop.models import Sequence

ZERO = Decimal("0.00")
BATCH = 2000
LOCK = "settlement"
MONEY_FIELD = DecimalField(max_digits=14, decimal_places=2)

Progress = Callable[[int], None]


# -- months ---------------------------------------------------------------------------------------


def month_parse(text: str) -> dt.date:
    """'2026-10' → date(2026, 10, 1); a clear error otherwise."""
    try:
        year, month = (int(x) for x in text.split("-"))
        return dt.date(year, month, 1)
    except (TypeError, ValueError) as exc:
        raise SettlementError(SettlementErrorCode.BAD_MONTH) from exc


def month_previous(today: dt.date | None = None) -> dt.date:
    today = today or timezone.localdate()
    last = today.replace(day=1) - dt.timedelta(days=1)
    return last.replace(day=1)


def month_end(month: dt.date) -> dt.datetime:
    """The first instant after `month`, in the shop's time zone: what settles in a month is what
    became due before it."""
    following = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return timezone.make_aware(dt.datetime.combine(following, dt.time.min))


# -- what a run produced ----------------------------------------------------------------------


@dataclass
class Figures:
    goods: Decimal = ZERO
    refunds: Decimal = ZERO
    commission: Decimal = ZERO
    payable: Decimal = ZERO

    def add(self, *, goods: Decimal, refunds: Decimal, commission: Decimal, payable: Decimal) -> None:
        self.goods += goods
        self.refunds += refunds
        self.commission += commission
        self.payable += payable


@dataclass
class Outcome:
    """What `settle_month` did (or, dry, would do)."""

    month: dt.date
    dry_run: bool
    run: SettlementRun | None = None
    statements: list[Statement] = field(default_factory=list)
    sale_lines: int = 0
    clawback_lines: int = 0
    totals: Figures = field(default_factory=Figures)
    per_department: dict[int, Figures] = field(default_factory=dict)
    shipping_fees: Decimal = ZERO
    insurance_fees: Decimal = ZERO
    captured: Decimal = ZERO
    refunded: Decimal = ZERO
    # Departments whose statement for the month is already confirmed or paid: left alone.
    closed_departments: list[str] = field(default_factory=list)
    held_lines: int = 0  # their lines due now: they wait for the next month
    report: str = ""


class _DryRun(Exception):
    """Raised to roll a dry run back once its figures are known."""

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome


# -- commission rates -------------------------------------------------------------------------


class Rates:
    """Every department's rate history, in memory (a handful of rows per department)."""

    def __init__(self) -> None:
        self._history: dict[int, tuple[list[dt.date], list[Decimal]]] = {}
        rows = defaultdict(list)
        for department_id, valid_from, rate in CommissionRate.objects.order_by("valid_from").values_list(
            "department_id", "valid_from", "rate"
        ):
            rows[department_id].append((valid_from, rate))
        for department_id, history in rows.items():
            self._history[department_id] = ([d for d, _ in history], [r for _, r in history])

    def on(self, department_id: int, day: dt.date) -> Decimal:
        """The rate in force on `day`; none set yet means no commission."""
        dates, rates = self._history.get(department_id, ([], []))
        i = bisect.bisect_right(dates, day)
        return rates[i - 1] if i else Decimal("0.0000")


def commission_on(amount: Decimal, rate: Decimal) -> Decimal:
    return money(amount * rate)


# -- the run ------------------------------------------------------------------------------------


def settle_month(
    *, month: dt.date, dry_run: bool = False, actor=None, progress: Callable[[int], Progress] | None = None
) -> Outcome:
    """Settle `month` (its first day). `progress(total)` returns a function told how many lines
    were done, for a progress bar. Raises SettlementError on a month not over or books that do
    not reconcile (then nothing is written but the failed run and its report)."""
    end = month_end(month)
    if end > timezone.now():
        raise SettlementError(SettlementErrorCode.MONTH_NOT_OVER, month=f"{month:%Y-%m}")
    try:
        with transaction.atomic():
            outcome = _settle(month=month, end=end, dry_run=dry_run, actor=actor, progress=progress)
            if dry_run:
                raise _DryRun(outcome)
    except _DryRun as dry:
        return dry.outcome
    except SettlementError as exc:
        if exc.code == SettlementErrorCode.MISMATCH:
            SettlementRun.objects.create(
                month=month,
                actor=actor if getattr(actor, "pk", None) else None,
                outcome=SettlementRun.Outcome.MISMATCH,
                finished_at=timezone.now(),
                report=exc.message,
            )
        raise
    return outcome


def _settle(*, month, end, dry_run, actor, progress) -> Outcome:
    # One run at a time: a second waits here, then finds everything settled (its rewrite of
    # the drafts gives the same figures). The unique constraints are the last guard.
    Sequence.objects.get_or_create(name=LOCK)
    Sequence.objects.select_for_update().get(name=LOCK)

    outcome = Outcome(month=month, dry_run=dry_run)
    # The month's drafts are written again from scratch: their lines (and the refunds those
    # took) are due again. Their adjustments are finance's, not the run's, and stay.
    drafts = Statement.objects.filter(month=month, state=Statement.State.DRAFT)
    RefundNoteLine.objects.filter(settled_in__statement__in=drafts).update(settled_in=None)
    StatementLine.objects.filter(statement__in=drafts).delete()  # one DELETE: nothing refers to them now
    due_before = end - dt.timedelta(days=settings.SETTLEMENT_AFTER_DAYS)
    closed = set(
        Statement.objects.filter(month=month)
        .exclude(state=Statement.State.DRAFT)
        .values_list("department_id", flat=True)
    )
    outcome.closed_departments = list(
        Department.objects.filter(pk__in=closed).order_by("code").values_list("name", flat=True)
    )
    due = _due_lines(due_before=due_before)
    if closed:
        held = due.filter(department_id_snapshot__in=closed)
        outcome.held_lines = held.count()
        due = due.exclude(department_id_snapshot__in=closed)
    clawbacks = _clawback_refund_lines(end=end).exclude(order_line__department_id_snapshot__in=closed)

    # The sources, read before anything is written: what the statements must come to.
    expected = _expected(due=due, clawbacks=clawbacks, end=end)

    # order_by(): the models' default ordering (pk) would join the DISTINCT and make it one row per line.
    departments = set(due.order_by().values_list("department_id_snapshot", flat=True).distinct())
    departments |= set(clawbacks.order_by().values_list("order_line__department_id_snapshot", flat=True).distinct())
    run = SettlementRun.objects.create(
        month=month, actor=actor if getattr(actor, "pk", None) else None, outcome=SettlementRun.Outcome.OK
    )
    statements = _statements_open(month=month, department_ids=departments, run=run)
    rates = Rates()
    tick = progress(expected.lines + expected.clawbacks) if progress else None

    # Clawbacks first: a refund of a line settled in this very run belongs to its sale line.
    outcome.clawback_lines = _write_clawbacks(clawbacks, statements=statements, outcome=outcome, tick=tick)
    outcome.sale_lines = _write_sales(due, statements=statements, rates=rates, end=end, outcome=outcome, tick=tick)
    for statement in statements.values():
        statement_total(statement)
    outcome.statements = sorted(statements.values(), key=lambda s: s.department.code)
    _reconcile(outcome=outcome, expected=expected, run=run)

    run.finished_at = timezone.now()
    run.sale_lines, run.clawback_lines = outcome.sale_lines, outcome.clawback_lines
    run.goods, run.refunds = outcome.totals.goods, outcome.totals.refunds
    run.commission, run.payable = outcome.totals.commission, outcome.totals.payable
    run.shipping_fees, run.insurance_fees = outcome.shipping_fees, outcome.insurance_fees
    run.captured, run.refunded = outcome.captured, outcome.refunded
    run.report = outcome.report
    run.save()
    outcome.run = run
    return outcome


def _due_lines(*, due_before: dt.datetime):
    """Order lines of completed orders whose after-sales period is over, never settled."""
    settled = StatementLine.objects.filter(kind=StatementLine.Kind.SALE, order_line_id=OuterRef("pk"))
    return OrderLine.objects.filter(order__status=Order.Status.COMPLETED, order__completed_at__lt=due_before).exclude(
        Exists(settled)
    )


def _clawback_refund_lines(*, end: dt.datetime):
    """Refund lines written before the month ended for lines settled in an earlier run, not yet
    taken off a department's money."""
    return RefundNoteLine.objects.filter(
        settled_in__isnull=True,
        note__created_at__lt=end,
        order_line_id__in=StatementLine.objects.filter(kind=StatementLine.Kind.SALE).values("order_line_id"),
    )


def _refunds_before(end: dt.datetime):
    """Per order line (OuterRef pk): its refunds written before `end` and not yet settled."""
    return Coalesce(
        Subquery(
            RefundNoteLine.objects.filter(
                order_line_id=OuterRef("pk"), settled_in__isnull=True, note__created_at__lt=end
            )
            .values("order_line_id")
            .annotate(total=Sum("amount"))
            .values("total"),
            output_field=MONEY_FIELD,
        ),
        Value(ZERO),
        output_field=MONEY_FIELD,
    )


def _statements_open(*, month, department_ids, run) -> dict[int, Statement]:
    """Each department's statement for the month: new, or its draft (emptied above). Drafts
    left with nothing to settle are totalled again (to zero lines, or their adjustments)."""
    now = timezone.now()
    statements: dict[int, Statement] = {}
    for department in Department.objects.filter(pk__in=department_ids).order_by("pk"):
        statement, created = Statement.objects.select_for_update().get_or_create(
            department=department,
            month=month,
            defaults={"number": statement_number(department, month), "run": run},
        )
        if not created:
            statement.run = run
            statement.updated_at = now
            statement.save(update_fields=["run", "updated_at"])
        statement.department = department
        statements[department.pk] = statement
    for statement in Statement.objects.filter(month=month, state=Statement.State.DRAFT).exclude(
        department_id__in=department_ids
    ):
        statement.run = run
        statement.save(update_fields=["run"])
        statement_total(statement)
    return statements


def statement_number(department: Department, month: dt.date) -> str:
    return f"JS{month:%Y%m}-{department.code.upper()}"


def _write_clawbacks(refund_lines, *, statements, outcome: Outcome, tick) -> int:
    count = 0
    rows = (
        refund_lines.select_related("note", "order_line", "order_line__order")
        .annotate(
            rate=Subquery(
                StatementLine.objects.filter(
                    kind=StatementLine.Kind.SALE, order_line_id=OuterRef("order_line_id")
                ).values("commission_rate")[:1]
            )
        )
        .order_by("pk")
    )
    for chunk in _chunks(rows.iterator(chunk_size=BATCH), BATCH):
        made = []
        for refund in chunk:
            line = refund.order_line
            commission = -commission_on(refund.amount, refund.rate)
            payable = -refund.amount - commission
            made.append(
                StatementLine(
                    statement=statements[line.department_id_snapshot],
                    kind=StatementLine.Kind.CLAWBACK,
                    order_line=line,
                    order_number=line.order.number,
                    placed_at=line.order.placed_at,
                    completed_at=line.order.completed_at,
                    refunded_at=refund.note.created_at,
                    product_name=line.product_name,
                    sku=line.sku,
                    quantity=refund.quantity,
                    goods=ZERO,
                    refunds=refund.amount,
                    commission_rate=refund.rate,
                    commission=commission,
                    payable=payable,
                )
            )
            _count(outcome, line.department_id_snapshot, goods=ZERO, refunds=refund.amount, commission=commission,
                   payable=payable)  # fmt: skip
        StatementLine.objects.bulk_create(made)
        for refund, statement_line in zip(chunk, made, strict=True):
            refund.settled_in_id = statement_line.pk
        RefundNoteLine.objects.bulk_update(chunk, ["settled_in"])
        count += len(made)
        if tick:
            tick(len(made))
    return count


def _write_sales(due, *, statements, rates: Rates, end, outcome: Outcome, tick) -> int:
    rows = (
        due.annotate(refunded=_refunds_before(end))
        .order_by("order_id", "pk")
        .values_list(
            "pk",
            "order_id",
            "order__number",
            "order__placed_at",
            "order__completed_at",
            "order__subtotal",
            "order__discount",
            "line_total",
            "quantity",
            "product_name",
            "sku",
            "department_id_snapshot",
            "refunded",
        )
    )
    count = 0
    with _LineWriter() as writer:
        for order_rows in _by_order(rows.iterator(chunk_size=BATCH)):
            first = order_rows[0]
            totals = {r[0]: r[7] for r in order_rows}
            if sum(totals.values()) != first[5]:
                # Some of the order's lines settle in another run: the discount is still shared
                # over all of them.
                totals = dict(OrderLine.objects.filter(order_id=first[1]).values_list("pk", "line_total"))
            shares = discount_shares(discount=first[6], subtotal=first[5], totals=totals)
            placed_on = timezone.localtime(first[3]).date()
            for pk, _order, number, placed, completed, _sub, _disc, total, qty, name, sku, dept, refunded in order_rows:
                goods = total - shares[pk]
                rate = rates.on(dept, placed_on)
                commission = commission_on(goods - refunded, rate)
                payable = goods - refunded - commission
                writer.add((statements[dept].pk, StatementLine.Kind.SALE.value, pk, number, placed, completed, None,
                            name, sku, qty, goods, refunded, rate, commission, payable))  # fmt: skip
                _count(outcome, dept, goods=goods, refunds=refunded, commission=commission, payable=payable)
            count += len(order_rows)
            if tick:
                tick(len(order_rows))
    # The refunds each sale line took off are its own from now on.
    RefundNoteLine.objects.filter(
        settled_in__isnull=True,
        note__created_at__lt=end,
        order_line_id__in=StatementLine.objects.filter(
            statement__in=list(statements.values()), kind=StatementLine.Kind.SALE, refunds__gt=0
        ).values("order_line_id"),
    ).update(
        settled_in=Subquery(
            StatementLine.objects.filter(kind=StatementLine.Kind.SALE, order_line_id=OuterRef("order_line_id")).values(
                "pk"
            )[:1]
        )
    )
    return count


# StatementLine's columns in the order _write_sales makes its rows.
LINE_COLUMNS = (
    "statement_id", "kind", "order_line_id", "order_number", "placed_at", "completed_at", "refunded_at",
    "product_name", "sku", "quantity", "goods", "refunds", "commission_rate", "commission", "payable",
)  # fmt: skip


class _LineWriter:
    """Sale lines, written once they have all been read. On PostgreSQL they are read through a
    server-side cursor, and writes on the same connection between its fetches made each fetch
    ten times slower: the rows wait in a temporary file (memory stays flat) and go in by one
    COPY at the end. Elsewhere (SQLite, the embedded default) in batches as they come."""

    def __enter__(self):
        self.copying = connection.vendor == "postgresql"
        self.spool = tempfile.TemporaryFile("w+", newline="", encoding="utf-8") if self.copying else None
        self.csv = csv.writer(self.spool, quoting=csv.QUOTE_NONNUMERIC) if self.copying else None
        self.batch: list[StatementLine] = []
        return self

    def add(self, row: tuple) -> None:
        if self.copying:
            # Strings quoted, numbers bare; the one empty field (refunded_at) is NULL (FORCE_NULL).
            self.csv.writerow(row)
            return
        self.batch.append(StatementLine(**dict(zip(LINE_COLUMNS, row, strict=True))))
        if len(self.batch) >= BATCH:
            self._flush()

    def _flush(self) -> None:
        StatementLine.objects.bulk_create(self.batch)
        self.batch = []

    def __exit__(self, kind, value, traceback) -> None:
        if kind is not None or not self.copying:
            if self.spool:
                self.spool.close()
            elif kind is None:
                self._flush()
            return
        table = StatementLine._meta.db_table
        self.spool.seek(0)
        with (
            connection.cursor() as cursor,
            cursor.copy(
                f"COPY {table} ({', '.join(LINE_COLUMNS)}) FROM STDIN WITH (FORMAT csv, FORCE_NULL (refunded_at))"
            ) as copy,
        ):
            pgconn = connection.connection.pgconn
            while chunk := self.spool.read(COPY_CHUNK):
                copy.write(chunk)
                _drain(pgconn)
        self.spool.close()


# Characters of the spool per write (a couple of hundred lines): what is in memory at once.
COPY_CHUNK = 32 * 1024


def _drain(pgconn) -> None:
    """Wait until libpq has sent what it holds. psycopg runs libpq non-blocking, and then
    PQputCopyData keeps what the server has not taken yet in an output buffer that grows as
    needed: when PostgreSQL writes the lines slower than the spool is read (it always is), that
    buffer grew to the size of the whole month and stayed so (psycopg issue #1047)."""
    while pgconn.flush():
        select.select([], [pgconn.socket], [])


def _by_order(rows: Iterator[tuple]) -> Iterator[list[tuple]]:
    """Rows ordered by order, grouped: an order's discount is shared over all its lines."""
    group: list[tuple] = []
    for row in rows:
        if group and row[1] != group[0][1]:
            yield group
            group = []
        group.append(row)
    if group:
        yield group


def _chunks(items, size: int):
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _count(outcome: Outcome, department_id: int, **figures) -> None:
    outcome.totals.add(**figures)
    outcome.per_department.setdefault(department_id, Figures()).add(**figures)


# -- totals and reconciliation ------------------------------------------------------------------


def statement_total(statement: Statement) -> Statement:
    """A statement's totals from its lines and adjustments (the database checks they add up)."""
    sums = statement.lines.aggregate(
        goods=Coalesce(Sum("goods"), ZERO, output_field=MONEY_FIELD),
        refunds=Coalesce(Sum("refunds"), ZERO, output_field=MONEY_FIELD),
        commission=Coalesce(Sum("commission"), ZERO, output_field=MONEY_FIELD),
    )
    statement.line_count = statement.lines.count()
    statement.goods, statement.refunds, statement.commission = sums["goods"], sums["refunds"], sums["commission"]
    statement.adjustments = StatementAdjustment.objects.filter(statement=statement).aggregate(
        total=Coalesce(Sum("amount"), ZERO, output_field=MONEY_FIELD)
    )["total"]
    statement.payable = statement.goods - statement.refunds - statement.commission + statement.adjustments
    statement.updated_at = timezone.now()
    statement.save(
        update_fields=["line_count", "goods", "refunds", "commission", "adjustments", "payable", "updated_at"]
    )
    return statement


@dataclass
class _Expected:
    """What the sources say the run must come to, read before it writes."""

    lines: int
    clawbacks: int
    goods: Decimal
    refunds: Decimal
    shipping_fees: Decimal
    insurance_fees: Decimal
    orders: int


def _expected(*, due, clawbacks, end) -> _Expected:
    """From the orders: their goods after discounts, less what earlier statements already took
    of them (an order whose departments settle in different months); from the refund notes:
    every refund not yet settled of the lines due and of lines settled before."""
    orders = Order.objects.filter(pk__in=due.values("order_id"))
    order_sums = orders.aggregate(goods=Coalesce(Sum(F("subtotal") - F("discount")), ZERO, output_field=MONEY_FIELD))
    elsewhere = StatementLine.objects.filter(kind=StatementLine.Kind.SALE, order_line__order__in=orders)
    goods_elsewhere = elsewhere.aggregate(total=Coalesce(Sum("goods"), ZERO, output_field=MONEY_FIELD))["total"]
    # Fees are the shop's: reported with the run that settles an order's first line.
    first_time = orders.exclude(pk__in=elsewhere.values("order_line__order_id"))
    fees = first_time.aggregate(
        shipping=Coalesce(Sum("shipping_fee"), ZERO, output_field=MONEY_FIELD),
        insurance=Coalesce(Sum("insurance_fee"), ZERO, output_field=MONEY_FIELD),
    )
    notes = RefundNote.objects.filter(order__in=first_time).aggregate(
        shipping=Coalesce(Sum("shipping_amount"), ZERO, output_field=MONEY_FIELD),
        insurance=Coalesce(Sum("insurance_amount"), ZERO, output_field=MONEY_FIELD),
    )
    sale_refunds = RefundNoteLine.objects.filter(
        order_line__in=due, settled_in__isnull=True, note__created_at__lt=end
    ).aggregate(total=Coalesce(Sum("amount"), ZERO, output_field=MONEY_FIELD))["total"]
    clawback_refunds = clawbacks.aggregate(total=Coalesce(Sum("amount"), ZERO, output_field=MONEY_FIELD))["total"]
    return _Expected(
        lines=due.count(),
        clawbacks=clawbacks.count(),
        goods=order_sums["goods"] - goods_elsewhere,
        refunds=sale_refunds + clawback_refunds,
        shipping_fees=fees["shipping"] - notes["shipping"],
        insurance_fees=fees["insurance"] - notes["insurance"],
        orders=orders.count(),
    )


# The payments that hold an order's money: its capture (and any supplement), whatever was
# refunded of them since. A payment taken twice (TO_REFUND) is not the order's money.
MONEY_STATES = (Payment.State.CAPTURED, Payment.State.REFUNDED)


def _reconcile(*, outcome: Outcome, expected: _Expected, run: SettlementRun) -> None:
    """Check what the run wrote against the sources, to the cent; raise on any difference."""
    written = StatementLine.objects.filter(statement__run=run).aggregate(
        goods=Coalesce(Sum("goods"), ZERO, output_field=MONEY_FIELD),
        refunds=Coalesce(Sum("refunds"), ZERO, output_field=MONEY_FIELD),
        commission=Coalesce(Sum("commission"), ZERO, output_field=MONEY_FIELD),
        payable=Coalesce(Sum("payable"), ZERO, output_field=MONEY_FIELD),
    )
    problems: list[str] = []
    if written["goods"] != expected.goods:
        problems.append(
            _("Goods after discounts: the statements hold %(written)s, the orders say %(expected)s.")
            % {"written": written["goods"], "expected": expected.goods}
        )
    if written["refunds"] != expected.refunds:
        problems.append(
            _("Refunds: the statements hold %(written)s, the refund notes say %(expected)s.")
            % {"written": written["refunds"], "expected": expected.refunds}
        )
    if written["payable"] + written["commission"] != expected.goods - expected.refunds:
        problems.append(
            _("Payable + commission = %(left)s, but goods − refunds = %(right)s.")
            % {"left": written["payable"] + written["commission"], "right": expected.goods - expected.refunds}
        )
    lines = outcome.sale_lines + outcome.clawback_lines
    if lines != expected.lines + expected.clawbacks:
        problems.append(
            _("%(written)d lines written, %(expected)d due.")
            % {"written": lines, "expected": expected.lines + expected.clawbacks}
        )
    payments = _payments_check(run)
    outcome.captured, outcome.refunded = payments.captured, payments.refunded
    problems.extend(payments.problems)
    outcome.shipping_fees, outcome.insurance_fees = expected.shipping_fees, expected.insurance_fees
    outcome.report = "\n".join(
        [
            _("%(orders)d orders, %(lines)d lines and %(clawbacks)d refunds after settlement.")
            % {"orders": expected.orders, "lines": outcome.sale_lines, "clawbacks": outcome.clawback_lines},
            _("Goods %(goods)s − refunds %(refunds)s = commission %(commission)s + payable %(payable)s.")
            % {
                "goods": written["goods"],
                "refunds": written["refunds"],
                "commission": written["commission"],
                "payable": written["payable"],
            },
            _("The shop's own: shipping fees %(shipping)s, insurance premiums %(insurance)s.")
            % {"shipping": expected.shipping_fees, "insurance": expected.insurance_fees},
            _("Payments of these orders: captured %(captured)s, refunded %(refunded)s.")
            % {"captured": payments.captured, "refunded": payments.refunded},
            *problems,
        ]
    )
    if problems:
        raise SettlementError(SettlementErrorCode.MISMATCH, month=f"{outcome.month:%Y-%m}", report=outcome.report)


@dataclass
class _PaymentsCheck:
    captured: Decimal
    refunded: Decimal
    problems: list[str]


def _payments_check(run: SettlementRun) -> _PaymentsCheck:
    """Per order settled in the run: what its payments hold (captured − refunded) must be what
    the order came to (its total, and any supplement) less every refund note written for it."""
    order_ids = StatementLine.objects.filter(statement__run=run, kind=StatementLine.Kind.SALE).values(
        "order_line__order_id"
    )
    money_payments = Payment.objects.filter(order_id=OuterRef("pk"), state__in=MONEY_STATES)

    def total(queryset, expression):
        return Coalesce(
            Subquery(queryset.values("order_id").annotate(t=Sum(expression)).values("t"), output_field=MONEY_FIELD),
            Value(ZERO),
            output_field=MONEY_FIELD,
        )

    orders = Order.objects.filter(pk__in=order_ids).annotate(
        captured=total(money_payments, "amount"),
        refunded=total(money_payments, "refunded"),
        supplements=total(money_payments.filter(purpose=Payment.Purpose.SUPPLEMENT), "amount"),
        noted=total(RefundNote.objects.filter(order_id=OuterRef("pk")), "amount"),
    )
    sums = Payment.objects.filter(order_id__in=order_ids, state__in=MONEY_STATES).aggregate(
        captured=Coalesce(Sum("amount"), ZERO, output_field=MONEY_FIELD),
        refunded=Coalesce(Sum("refunded"), ZERO, output_field=MONEY_FIELD),
    )
    wrong = orders.exclude(captured=F("total") + F("supplements") - F("noted") + F("refunded")).values_list(
        "number", "total", "supplements", "noted", "captured", "refunded"
    )[:20]
    problems = [
        _(
            "Order %(number)s: total %(total)s + supplements %(supplements)s − refund notes %(noted)s, "
            "but its payments hold %(held)s (captured %(captured)s − refunded %(refunded)s)."
        )
        % {
            "number": number,
            "total": order_total,
            "supplements": supplements,
            "noted": noted,
            "held": captured - refunded,
            "captured": captured,
            "refunded": refunded,
        }
        for number, order_total, supplements, noted, captured, refunded in wrong
    ]
    return _PaymentsCheck(captured=sums["captured"], refunded=sums["refunded"], problems=problems)


# -- finance's steps ----------------------------------------------------------------------------


def statement_adjust(*, statement_id: int, amount: Decimal, reason: str, actor) -> StatementAdjustment:
    """A manual correction on a draft, with its reason: kept when the month is run again."""
    reason = (reason or "").strip()
    if not reason:
        raise SettlementError(SettlementErrorCode.REASON_REQUIRED)
    if not amount:
        raise SettlementError(SettlementErrorCode.AMOUNT_REQUIRED)
    with transaction.atomic():
        statement = Statement.objects.select_for_update().get(pk=statement_id)
        _require(statement, Statement.State.DRAFT, SettlementErrorCode.NOT_DRAFT)
        adjustment = StatementAdjustment.objects.create(
            statement=statement, amount=money(amount), reason=reason[:200], created_by=actor
        )
        statement_total(statement)
    return adjustment


def statement_confirm(*, statement_id: int, actor) -> Statement:
    """Finance confirms a draft: from now on it never changes, and the department's contact is
    mailed its PDF and XLSX (through the outbox)."""
    with transaction.atomic():
        statement = Statement.objects.select_for_update().select_related("department").get(pk=statement_id)
        _require(statement, Statement.State.DRAFT, SettlementErrorCode.NOT_DRAFT)
        statement.state = Statement.State.CONFIRMED
        statement.confirmed_at = timezone.now()
        statement.confirmed_by = actor
        statement.save(update_fields=["state", "confirmed_at", "confirmed_by"])
        contact = statement.department.contact_email
        if contact:
            notification_queue(
                kind=Notification.Kind.STATEMENT_CONFIRMED,
                key=f"statement_confirmed:{statement.pk}",
                to=contact,
                language=settings.LANGUAGE_CODE,
                context={
                    "statement_id": statement.pk,
                    "number": statement.number,
                    "department": statement.department.name,
                    "month": f"{statement.month:%Y-%m}",
                    "payable": format_money(statement.payable),
                },
            )
    return statement


def statement_mark_paid(*, statement_id: int, reference: str, paid_on: dt.date | None, actor) -> Statement:
    """The transfer to the department went out: its reference and date."""
    reference = (reference or "").strip()
    if not reference or paid_on is None:
        raise SettlementError(SettlementErrorCode.REFERENCE_REQUIRED)
    with transaction.atomic():
        statement = Statement.objects.select_for_update().get(pk=statement_id)
        _require(statement, Statement.State.CONFIRMED, SettlementErrorCode.NOT_CONFIRMED)
        statement.state = Statement.State.PAID
        statement.transfer_reference = reference[:60]
        statement.paid_on = paid_on
        statement.paid_by = actor
        statement.save(update_fields=["state", "transfer_reference", "paid_on", "paid_by"])
    return statement


def _require(statement: Statement, state: str, code: SettlementErrorCode) -> None:
    if statement.state != state:
        raise SettlementError(code, number=statement.number, state=Statement.State(statement.state).label)
