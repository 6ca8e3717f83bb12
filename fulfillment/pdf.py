"""Packing slips and delivery notes as PDF (reportlab), for printers that want a file.

Chinese text uses the shop's embedded font (shop.core.pdf), so the file prints the same on any
reader or printer."""

from django.utils.translation import gettext as _
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer

from shop.core import pdf as shop_pdf
from shop.core.pdf import escape

__all__ = ["escape", "shipment_document"]


def shipment_document(kind: str, context: dict) -> bytes:
    """`kind` is "packing_slip" (for the packer: what goes in the box) or "delivery_note" (for
    the customer: what was sent, insurance, cash due, signature)."""
    shipment, order, lines = context["shipment"], context["order"], context["lines"]
    buffer, doc = shop_pdf.document(f"{shipment.number}")
    styles = shop_pdf.styles()
    TITLE, TEXT, SMALL = styles.title, styles.text, styles.small
    t = _labels()
    title = _("Packing slip") if kind == "packing_slip" else _("Delivery note")
    story = [
        Paragraph(f"{escape(title)} · {escape(shipment.number)}", TITLE),
        Paragraph(f"{t['Order']}: {escape(order.number)} &nbsp; {t['Placed']}: {order.placed_at:%Y-%m-%d %H:%M}", TEXT),
        Paragraph(f"{t['From']}: {escape(shipment.warehouse.name)} · {escape(shipment.warehouse.city)}", TEXT),
        Paragraph(
            f"{t['Ship to']}: {escape(order.recipient)} {escape(order.phone)}<br/>"
            + escape(f"{order.province} {order.city} {order.district} {order.street} {order.postcode}"),
            TEXT,
        ),
    ]
    if shipment.tracking_number:
        story.append(
            Paragraph(
                f"{t['Carrier']}: {escape(shipment.get_carrier_display())} · {escape(shipment.tracking_number)}", TEXT
            )
        )
    story.append(Spacer(1, 5 * mm))
    if kind == "packing_slip":
        rows = [[_("Packed"), _("SKU"), _("Product"), _("Options"), _("Qty")]]
        rows += [["□", *_cells(line)] for line in lines]  # ☐ is not in the font
        widths = [14 * mm, 34 * mm, 74 * mm, 36 * mm, 14 * mm]
    else:
        rows = [[_("SKU"), _("Product"), _("Options"), _("Qty")]]
        rows += [_cells(line) for line in lines]
        widths = [34 * mm, 88 * mm, 36 * mm, 14 * mm]
    rows.append([""] * (len(rows[0]) - 2) + [_("Units"), str(context["units"])])
    table = shop_pdf.table(rows, widths, totals=1, right=(len(widths) - 1,))
    story.append(table)
    story.append(Spacer(1, 6 * mm))
    if order.insured:
        story.append(Paragraph(f"{t['Shipping insurance']}: {escape(context['insured_value'])}", TEXT))
    if kind == "delivery_note":
        if shipment.cod_amount:
            story.append(
                Paragraph(f"{t['Cash on delivery']}: {escape(shipment.cod_amount)} {escape(order.currency)}", TEXT)
            )
        story += [
            Spacer(1, 14 * mm),
            Paragraph(f"{t['Received in good order']}: ______________________ &nbsp; {t['Date']}: ____________", TEXT),
        ]
    if order.note:
        story.append(Paragraph(f"{t['Note to the shop']}: {escape(order.note)}", SMALL))
    doc.build(story)
    return buffer.getvalue()


def _cells(line) -> list:
    # Lines from shipment_lines_described say what is in the box (a replacement carries another
    # variant than its order line's); bare lines show their order line.
    ordered = line.order_line
    sku = getattr(line, "sku", ordered.sku)
    name = getattr(line, "product_name", ordered.product_name)
    options = getattr(line, "options", ordered.variant_label)
    return [sku, Paragraph(escape(name), shop_pdf.styles().text), options, str(line.quantity)]


def _labels() -> dict[str, str]:
    # Spelled out (not inside f-strings) so that makemessages finds them. Escaped: a translation
    # is text too ("&" in a label would break the markup).
    labels = {
        "Carrier": _("Carrier"),
        "Cash on delivery": _("Cash on delivery"),
        "Date": _("Date"),
        "From": _("From"),
        "Note to the shop": _("Note to the shop"),
        "Order": _("Order"),
        "Placed": _("Placed"),
        "Received in good order": _("Received in good order"),
        "Ship to": _("Ship to"),
        "Shipping insurance": _("Shipping insurance"),
    }
    return {key: escape(label) for key, label in labels.items()}
