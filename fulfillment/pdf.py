"""Packing slips, delivery notes and pick lists as PDF (reportlab), for printers that want a file.

Chinese text uses the shop's embedded font (shop.core.pdf), so the file prints the same on any
reader or printer. Times are the shop's local time (settings.TIME_ZONE), as on the HTML pages:
a packer in Shanghai reads 08:30, not 00:30 UTC. The tick boxes are drawn as squares rather than
typed as ☐ (U+2610), which the font does not have."""

from django.utils import timezone
from django.utils.translation import gettext as _
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, Spacer

from shop.core import pdf as shop_pdf
from shop.core.pdf import escape

__all__ = ["CheckBox", "escape", "pick_list_document", "shipment_document"]


class CheckBox(Flowable):
    """An empty square to tick by hand, drawn with lines: no glyph to be missing from a font."""

    def __init__(self, size: float = 3.6 * mm) -> None:
        super().__init__()
        self.width = self.height = size

    def draw(self) -> None:
        self.canv.setLineWidth(0.7)
        self.canv.rect(0, 0, self.width, self.height, stroke=1, fill=0)


def _local(moment) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}" if moment else ""


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
        Paragraph(f"{t['Order']}: {escape(order.number)} &nbsp; {t['Placed']}: {_local(order.placed_at)}", TEXT),
        Paragraph(f"{t['From']}: {escape(shipment.warehouse.name)} · {escape(shipment.warehouse.city)}", TEXT),
        Paragraph(
            f"{t['Ship to']}: {escape(order.recipient)} {escape(order.phone)}<br/>"
            + escape(f"{order.province} {order.city} {order.district} {order.street} {order.postcode}"),
            TEXT,
        ),
    ]
    shipping = order.get_shipping_method_display()
    if order.insured:
        shipping += f" · {_('insured')}"
    story.append(Paragraph(f"{t['Shipping']}: {escape(shipping)}", TEXT))
    if shipment.tracking_number:
        story.append(
            Paragraph(
                f"{t['Carrier']}: {escape(shipment.get_carrier_display())} · {escape(shipment.tracking_number)}", TEXT
            )
        )
    story.append(Spacer(1, 5 * mm))
    if kind == "packing_slip":
        rows = [[_("Packed"), _("SKU"), _("Product"), _("Options"), _("Qty")]]
        rows += [[CheckBox(), *_cells(line)] for line in lines]
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


def pick_list_document(context: dict) -> bytes:
    """The pick list of a warehouse (what pick_list_view shows): one row per SKU in bin order,
    with the bin, the units and in how many parcels, then the parcels' numbers."""
    warehouse, rows, parcels = context["warehouse"], context["rows"], context["parcels"]
    buffer, doc = shop_pdf.document(f"{_('Pick list')} {warehouse.code}")
    styles = shop_pdf.styles()
    story = [
        Paragraph(f"{escape(_('Pick list'))} · {escape(warehouse.name)}", styles.title),
        Paragraph(
            escape(f"{_local(context['now'])} · {_('Parcels')}: {len(parcels)} · {_('Units')}: {context['units']}"),
            styles.text,
        ),
        Spacer(1, 4 * mm),
    ]
    if not rows:
        story.append(Paragraph(escape(_("Nothing to pick: no parcels are waiting to be packed here.")), styles.text))
    else:
        table = [[_("Picked"), _("Bin"), _("SKU"), _("Product"), _("Options"), _("Units"), _("Parcels")]]
        table += [
            [
                CheckBox(),
                row["location"] or "—",
                row["order_line__sku"],
                Paragraph(escape(row["order_line__product_name"]), styles.cell),
                Paragraph(escape(row["order_line__variant_label"]), styles.cell),
                str(row["units"]),
                str(row["parcels"]),
            ]
            for row in rows
        ]
        widths = [12 * mm, 20 * mm, 30 * mm, 58 * mm, 26 * mm, 14 * mm, 14 * mm]
        story.append(shop_pdf.table(table, widths, right=(5, 6)))
        story += [Spacer(1, 5 * mm), Paragraph(escape(_("Parcels")), styles.heading)]
        story.append(Paragraph(escape(" · ".join(parcel.number for parcel in parcels)), styles.small))
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
        "Shipping": _("Shipping"),
        "Shipping insurance": _("Shipping insurance"),
    }
    return {key: escape(label) for key, label in labels.items()}
