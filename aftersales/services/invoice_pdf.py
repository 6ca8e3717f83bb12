"""An issued invoice as PDF (shop.core.pdf, the embedded Chinese font): made when it is mailed
or downloaded, never stored (an issued invoice never changes, so the same PDF comes out)."""

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer

from aftersales.models import Invoice
from shop.core import pdf


def invoice_document(invoice: Invoice) -> bytes:
    styles = pdf.styles()
    e = pdf.escape
    red = invoice.kind == Invoice.Kind.RED
    title = _("Electronic ordinary invoice (credit)") if red else _("Electronic ordinary invoice")
    buffer, doc = pdf.document(invoice.number or "")
    issued = timezone.localtime(invoice.issued_at)
    story = [
        Paragraph(e(title), styles.title),
        Paragraph(
            f"{e(_('Invoice number'))}: {e(invoice.number)} &nbsp; {e(_('Issued'))}: {issued:%Y-%m-%d}", styles.text
        ),
        Paragraph(f"{e(_('Order'))}: {e(invoice.order.number)}", styles.text),
    ]
    if red:
        story.append(
            Paragraph(
                f"{e(_('Cancels part of invoice'))}: {e(invoice.original.number)} · "
                f"{e(_('Refund note'))}: {e(invoice.refund_note.number)}",
                styles.text,
            )
        )
    story += [
        Spacer(1, 3 * mm),
        Paragraph(e(_("Buyer")), styles.heading),
        Paragraph(f"{e(invoice.get_title_type_display())}: {e(invoice.title)}", styles.text),
    ]
    if invoice.taxpayer_id:
        story.append(Paragraph(f"{e(_('Taxpayer ID'))}: {e(invoice.taxpayer_id)}", styles.text))
    story += [Paragraph(e(_("Seller")), styles.heading), Paragraph(e(settings.INVOICE_SELLER_NAME), styles.text)]
    if settings.INVOICE_SELLER_TAXPAYER_ID:
        story.append(Paragraph(f"{e(_('Taxpayer ID'))}: {e(settings.INVOICE_SELLER_TAXPAYER_ID)}", styles.text))
    story.append(Spacer(1, 5 * mm))
    rows = [[_("Item"), _("Options"), _("Qty"), _("Amount")]]
    for line in invoice.lines.all():
        rows.append(
            [
                Paragraph(e(line.display_name), styles.cell),
                Paragraph(e(line.display_options), styles.cell),
                str(line.quantity),
                pdf.money_text(line.amount) if line.amount >= 0 else "-" + pdf.money_text(-line.amount),
            ]
        )
    total = pdf.money_text(invoice.amount) if invoice.amount >= 0 else "-" + pdf.money_text(-invoice.amount)
    rows.append(["", "", _("Total"), total])
    story.append(pdf.table(rows, [80 * mm, 50 * mm, 14 * mm, 30 * mm], totals=1, right=(2, 3)))
    story += [
        Spacer(1, 6 * mm),
        Paragraph(
            e(_("Prices include VAT. This electronic invoice has the same effect as a paper one.")), styles.small
        ),
    ]
    doc.build(story)
    return buffer.getvalue()
