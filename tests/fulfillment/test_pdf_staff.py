"""What the warehouse prints: the packing slip PDF in the shop's local time with the shipping
method, every character it draws present in the embedded font (no empty boxes: the tick boxes are
drawn squares, not ☐, which the font lacks), and the pick list as a PDF with each row's bin."""

from datetime import UTC, datetime

import pytest
from reportlab.pdfbase import pdfmetrics

from fulfillment import services
from fulfillment.models import Shipment
from orders.models import Order
from shop.core import pdf as shop_pdf
from tests.fulfillment.support import paid_order, stock, variant, warehouses

pytestmark = pytest.mark.django_db

PLACED_UTC = datetime(2026, 11, 28, 23, 40, tzinfo=UTC)  # 2026-11-29 07:40 in Shanghai


@pytest.fixture
def drawn(monkeypatch):
    """Every piece of text reportlab draws with the shop's font, as it reaches the font."""
    face = pdfmetrics.getFont(shop_pdf.font())
    texts: list[str] = []
    split = face.splitString

    def recording(text, doc, *args, **kwargs):
        texts.append(text if isinstance(text, str) else text.decode("utf-8"))
        return split(text, doc, *args, **kwargs)

    monkeypatch.setattr(face, "splitString", recording)
    return texts


@pytest.fixture
def parcel():
    places = warehouses()
    v = variant(name="纯棉圆领T恤")
    stock(places["sh"], v, 10)
    order = paid_order([(v, 2)], insured=True)
    Order.objects.filter(pk=order.pk).update(placed_at=PLACED_UTC, note="请放门口 · 谢谢")
    return Shipment.objects.select_related("order", "warehouse").get(order=order)


def _uncovered(texts: list[str]) -> set[str]:
    cmap = pdfmetrics.getFont(shop_pdf.font()).face.charToGlyph
    return {c for text in texts for c in text if ord(c) not in cmap and c not in "\n\xa0"}


def test_packing_slip_pdf_in_local_time_with_the_shipping_method_and_every_glyph(admin_client, parcel, drawn):
    response = admin_client.get(f"/admin/fulfillment/shipment/{parcel.pk}/packing-slip/", {"format": "pdf"})
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    printed = "\n".join(drawn)
    assert "2026-11-29 07:40" in printed  # Asia/Shanghai, settings.TIME_ZONE
    assert "2026-11-28 23:40" not in printed  # not UTC
    assert parcel.order.get_shipping_method_display() in printed
    assert "·" in printed  # the separator is drawn, from the font
    assert "纯棉圆领T恤" in printed and parcel.number in printed
    assert not _uncovered(drawn)
    assert not {"☐", "□"} & set(printed)  # the tick boxes are drawn squares


def test_delivery_note_draws_only_characters_the_font_has(admin_client, parcel, drawn):
    response = admin_client.get(f"/admin/fulfillment/shipment/{parcel.pk}/delivery-note/", {"format": "pdf"})
    assert response.status_code == 200
    assert drawn and not _uncovered(drawn)


def test_the_coverage_check_sees_a_missing_glyph(parcel, drawn):
    # The check above is not vacuous: a character the font lacks is reported.
    assert _uncovered(["☐ 已签收"]) == {"☐"}


def test_pick_list_pdf_lists_each_rows_bin_location(admin_client, parcel, drawn):
    services.stock_locate(
        warehouse_id=parcel.warehouse_id, variant_id=parcel.lines.get().reservation.variant_id, location="B-07-3"
    )
    query = {"warehouse": parcel.warehouse_id}
    page = admin_client.get("/admin/fulfillment/shipment/pick-list/", query).content.decode()
    assert "B-07-3" in page and "format=pdf" in page  # the HTML list has the bin and a PDF link

    response = admin_client.get("/admin/fulfillment/shipment/pick-list/", {**query, "format": "pdf"})
    assert response["Content-Type"] == "application/pdf" and response.content.startswith(b"%PDF")
    printed = "\n".join(drawn)
    assert "B-07-3" in printed and "纯棉圆领T恤" in printed and parcel.number in printed
    assert not _uncovered(drawn)


def test_pick_list_runs_in_bin_order_rows_without_a_bin_last():
    places = warehouses()
    a, b, c = variant(), variant(), variant()
    for v, location in ((a, ""), (b, "C-01-1"), (c, "A-02-4")):
        stock(places["sh"], v, 10)
        services.stock_locate(warehouse_id=places["sh"].pk, variant_id=v.pk, location=location)
    paid_order([(a, 1), (b, 1), (c, 1)])
    rows = services.pick_list(warehouse_id=places["sh"].pk)
    assert [(r["order_line__sku"], r["location"]) for r in rows] == [(c.sku, "A-02-4"), (b.sku, "C-01-1"), (a.sku, "")]


def test_staff_set_a_rows_bin_on_the_stock_page(admin_client):
    places = warehouses()
    v = variant()
    row = stock(places["sh"], v, 5)
    response = admin_client.post(
        f"/admin/fulfillment/stock/{row.pk}/change/",
        {"variant": v.pk, "warehouse": places["sh"].pk, "location": " A-01-1 ", "on_hand": 5},
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.location, row.on_hand) == ("A-01-1", 5)
