"""Text typed by staff, customers or the carrier reaches the packing slip and delivery note PDFs
as text: reportlab's Paragraph parses markup, so "<font size=99>" must print as typed, not
restyle the page, and an unbalanced "<b>" must not make the build raise (a 500 for staff)."""

import pytest

from fulfillment import pdf
from fulfillment.models import Shipment
from tests import factories
from tests.fulfillment.support import paid_order, stock, variant, warehouses

pytestmark = pytest.mark.django_db

PRODUCT = "<font size=99>x</font>&杯子"
TRACKING = '<b>YT1&<a href="javascript:x">'  # unbalanced, 29 of the 40 characters allowed
NOTE = "请放门口 <i>& </b>"
RECIPIENT = "<u>王五</u>"


class RecordingParagraph(pdf.Paragraph):
    """A Paragraph that remembers itself, so the test reads what reportlab parsed."""

    made: list["RecordingParagraph"] = []

    def __init__(self, text, *args, **kwargs):
        super().__init__(text, *args, **kwargs)
        RecordingParagraph.made.append(self)


@pytest.fixture
def hostile_parcel():
    places = warehouses()
    v = variant(name=PRODUCT)
    stock(places["sh"], v, 10)
    order = paid_order([(v, 1)], payment_method="cod")
    order.note = NOTE
    order.recipient = RECIPIENT
    order.save(update_fields=["note", "recipient"])
    parcel = order.shipments.get()
    Shipment.objects.filter(pk=parcel.pk).update(carrier=Shipment.Carrier.OWN_FLEET, tracking_number=TRACKING)
    return Shipment.objects.select_related("order", "warehouse").get(pk=parcel.pk)


def _context(parcel: Shipment) -> dict:
    lines = list(parcel.lines.select_related("order_line"))
    return {
        "shipment": parcel,
        "order": parcel.order,
        "lines": lines,
        "units": sum(line.quantity for line in lines),
        "insured_value": "0.00",
    }


@pytest.mark.parametrize("kind", ["packing_slip", "delivery_note"])
def test_markup_in_staff_and_carrier_text_prints_literally(monkeypatch, hostile_parcel, kind):
    RecordingParagraph.made = []
    monkeypatch.setattr(pdf, "Paragraph", RecordingParagraph)
    body = pdf.shipment_document(kind, _context(hostile_parcel))  # no ValueError from the parser
    assert body.startswith(b"%PDF")

    texts = [p.getPlainText() for p in RecordingParagraph.made]
    printed = "\n".join(texts)
    assert TRACKING in printed  # the tracking number exactly as typed, tags and all
    assert PRODUCT in printed
    assert NOTE in printed
    assert RECIPIENT in printed
    assert hostile_parcel.number in printed and hostile_parcel.order.number in printed
    # Nothing turned into markup: every paragraph keeps the document's own fonts and sizes.
    for paragraph in RecordingParagraph.made:
        for fragment in paragraph.frags:
            assert getattr(fragment, "fontSize", paragraph.style.fontSize) == paragraph.style.fontSize
            assert getattr(fragment, "fontName", paragraph.style.fontName) == paragraph.style.fontName
            assert not getattr(fragment, "link", None)
            assert not getattr(fragment, "underline", False)


def test_escape_handles_every_markup_character():
    assert pdf.escape('<b a="1">&\'') == "&lt;b a=&quot;1&quot;&gt;&amp;&#39;"
    assert pdf.escape(12) == "12"


def test_staff_download_the_pdf_of_a_parcel_with_hostile_text(client, hostile_parcel):
    staff = factories.UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    for kind in ("packing-slip", "delivery-note"):
        response = client.get(f"/admin/fulfillment/shipment/{hostile_parcel.pk}/{kind}/", {"format": "pdf"})
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf" and response.content.startswith(b"%PDF")
