"""A statement as documents: a PDF (the house font embedded, shop.core.pdf) for reading and
signing, an XLSX for finance's own sheets. Both are written from the statement's own rows, so
they show exactly what was settled, and both stream: a statement of 200,000 lines is written
without holding its lines in memory (reportlab's story is the exception: the PDF lists at most
PDF_MAX_LINES lines and says where the rest are)."""

from io import BytesIO

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook
from reportlab.platypus import Paragraph, Spacer

from aftersales.models import Statement, StatementLine
from shop.core import pdf
from shop.core.money import format_money

PDF_MAX_LINES = 2000

COLUMNS = (
    ("order_number", gettext_lazy("Order")),
    ("completed_at", gettext_lazy("Completed")),
    ("kind", gettext_lazy("Kind")),
    ("product_name", gettext_lazy("Product")),
    ("sku", gettext_lazy("SKU")),
    ("quantity", gettext_lazy("Qty")),
    ("goods", gettext_lazy("Goods after discounts")),
    ("refunds", gettext_lazy("Refunds")),
    ("commission_rate", gettext_lazy("Rate")),
    ("commission", gettext_lazy("Commission")),
    ("payable", gettext_lazy("Payable")),
)


def _lines(statement: Statement):
    return (
        StatementLine.objects.filter(statement=statement)
        .order_by("kind", "completed_at", "pk")
        .values_list(*(name for name, _label in COLUMNS))
        .iterator(chunk_size=5000)
    )


def _totals(statement: Statement) -> list[tuple[str, str]]:
    return [
        (_("Goods after discounts"), format_money(statement.goods)),
        (_("Refunds"), format_money(statement.refunds)),
        (_("Commission"), format_money(statement.commission)),
        (_("Adjustments"), format_money(statement.adjustments)),
        (_("Payable to the department"), format_money(statement.payable)),
    ]


def statement_filename(statement: Statement, extension: str) -> str:
    return f"{statement.number}.{extension}"


def statement_pdf(statement: Statement) -> bytes:
    styles = pdf.styles()
    title = _("Settlement statement %(number)s") % {"number": statement.number}
    buffer, doc = pdf.document(title)
    state = Statement.State(statement.state).label
    story = [
        Paragraph(pdf.escape(title), styles.title),
        Paragraph(
            pdf.escape(
                _("%(department)s · %(month)s · %(state)s")
                % {"department": statement.department.name, "month": f"{statement.month:%Y-%m}", "state": state}
            ),
            styles.text,
        ),
    ]
    if statement.state == Statement.State.PAID:
        story.append(
            Paragraph(
                pdf.escape(
                    _("Paid on %(date)s, transfer %(reference)s")
                    % {"date": statement.paid_on, "reference": statement.transfer_reference}
                ),
                styles.text,
            )
        )
    story.append(Spacer(1, 4))
    story.append(pdf.table([[label, value] for label, value in _totals(statement)], [120, 100], header=False,
                           right=(1,)))  # fmt: skip
    adjustments = list(statement.adjustment_entries.all())
    if adjustments:
        story.append(Paragraph(pdf.escape(_("Adjustments")), styles.heading))
        rows = [[_("Amount"), _("Reason")]]
        rows += [[format_money(a.amount), Paragraph(pdf.escape(a.reason), styles.cell)] for a in adjustments]
        story.append(pdf.table(rows, [80, 380], right=(0,)))
    story.append(Paragraph(pdf.escape(_("Lines")), styles.heading))
    header = [_("Order"), _("Completed"), _("Product"), _("Qty"), _("Goods"), _("Refunds"), _("Commission"),
              _("Payable")]  # fmt: skip
    rows = [header]
    kinds = dict(StatementLine.Kind.choices)
    for count, row in enumerate(_lines(statement)):
        if count == PDF_MAX_LINES:
            break
        number, completed, kind, name, sku, qty, goods, refunds, _rate, commission, payable = row
        label = name if kind == StatementLine.Kind.SALE else f"{kinds[kind]}: {name}"
        rows.append(
            [
                number,
                f"{timezone.localtime(completed):%Y-%m-%d}",
                Paragraph(pdf.escape(f"{label} ({sku})"), styles.cell),
                str(qty),
                str(goods),
                str(refunds),
                str(commission),
                str(payable),
            ]
        )
    story.append(pdf.table(rows, [78, 48, 150, 22, 50, 50, 50, 52], right=(3, 4, 5, 6, 7)))
    if statement.line_count > PDF_MAX_LINES:
        story.append(
            Paragraph(
                pdf.escape(
                    _("The first %(shown)d of %(count)d lines; every line is in the XLSX file.")
                    % {"shown": PDF_MAX_LINES, "count": statement.line_count}
                ),
                styles.small,
            )
        )
    doc.build(story)
    return buffer.getvalue()


def statement_xlsx(statement: Statement) -> bytes:
    """A workbook in write-only mode (rows go straight to the file): a summary sheet and the
    lines."""
    book = Workbook(write_only=True)
    summary = book.create_sheet(_("Summary"))
    summary.append([_("Statement"), statement.number])
    summary.append([_("Department"), statement.department.name])
    summary.append([_("Month"), f"{statement.month:%Y-%m}"])
    summary.append([_("State"), str(Statement.State(statement.state).label)])
    for label, field in (
        (_("Goods after discounts"), "goods"),
        (_("Refunds"), "refunds"),
        (_("Commission"), "commission"),
        (_("Adjustments"), "adjustments"),
        (_("Payable to the department"), "payable"),
    ):
        summary.append([label, getattr(statement, field)])
    for adjustment in statement.adjustment_entries.all():
        summary.append([_("Adjustment"), adjustment.amount, adjustment.reason])
    lines = book.create_sheet(_("Lines"))
    lines.append([str(label) for _name, label in COLUMNS])
    kinds = dict(StatementLine.Kind.choices)
    for row in _lines(statement):
        row = list(row)
        row[1] = timezone.localtime(row[1]).replace(tzinfo=None)
        row[2] = str(kinds[row[2]])
        lines.append(row)
    out = BytesIO()
    book.save(out)
    return out.getvalue()


def statement_attachments(notification) -> list[tuple[str, bytes, str]]:
    """The documents mailed with a confirmed statement (orders' outbox calls this as it sends)."""
    statement = Statement.objects.select_related("department").get(pk=notification.context["statement_id"])
    return [
        (statement_filename(statement, "pdf"), statement_pdf(statement), "application/pdf"),
        (
            statement_filename(statement, "xlsx"),
            statement_xlsx(statement),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
    ]
