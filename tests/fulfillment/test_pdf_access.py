"""The session's new printouts (pick list PDF, packing slip PDF, bin locations) seen by an
attacker, with production-like settings (bin/test runs DEBUG=0): anonymous visitors go to the
admin's login, staff without the warehouse role get 403, an unknown parcel or warehouse is 404,
a NUL byte or junk in the query is refused without a 500, and nothing is printed for them."""

import pytest

from fulfillment.models import Shipment, Stock
from tests import factories
from tests.fulfillment.support import paid_order, stock, variant, warehouses

pytestmark = pytest.mark.django_db

PICK_LIST = "/admin/fulfillment/shipment/pick-list/"


@pytest.fixture
def parcel():
    places = warehouses()
    v = variant(name="纯棉圆领T恤")
    stock(places["sh"], v, 10)
    order = paid_order([(v, 1)])
    return Shipment.objects.get(order=order)


def _clerk(client):
    """Staff with no role at all: may log into the admin, may print nothing."""
    clerk = factories.UserFactory(email="clerk@example.com", is_staff=True)
    client.force_login(clerk)
    return clerk


@pytest.mark.parametrize("kind", ["pick list", "packing slip", "delivery note"])
def test_anonymous_visitors_are_sent_to_log_in(client, parcel, kind):
    url = {
        "pick list": PICK_LIST,
        "packing slip": f"/admin/fulfillment/shipment/{parcel.pk}/packing-slip/",
        "delivery note": f"/admin/fulfillment/shipment/{parcel.pk}/delivery-note/",
    }[kind]
    response = client.get(url, {"warehouse": parcel.warehouse_id, "format": "pdf"})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert not response.content.startswith(b"%PDF")


@pytest.mark.parametrize("kind", ["pick list", "packing slip", "delivery note"])
def test_staff_without_the_warehouse_role_get_403_and_no_pdf(client, parcel, kind):
    _clerk(client)
    url = {
        "pick list": PICK_LIST,
        "packing slip": f"/admin/fulfillment/shipment/{parcel.pk}/packing-slip/",
        "delivery note": f"/admin/fulfillment/shipment/{parcel.pk}/delivery-note/",
    }[kind]
    response = client.get(url, {"warehouse": parcel.warehouse_id, "format": "pdf"})
    assert response.status_code == 403
    assert not response.content.startswith(b"%PDF")


def test_unknown_parcel_or_warehouse_is_404(admin_client, parcel):
    assert admin_client.get("/admin/fulfillment/shipment/999999/packing-slip/?format=pdf").status_code == 404
    assert admin_client.get(PICK_LIST, {"warehouse": 999999, "format": "pdf"}).status_code == 404


@pytest.mark.parametrize("junk", ["x", "1\x00", "-1", "9" * 40, ""])
def test_junk_warehouse_or_shipment_ids_are_refused_without_a_500(admin_client, parcel, junk):
    response = admin_client.get(PICK_LIST, {"warehouse": junk, "format": "pdf"})
    assert response.status_code in (400, 404)
    response = admin_client.get(PICK_LIST, {"warehouse": parcel.warehouse_id, "shipment": junk, "format": "pdf"})
    assert response.status_code in (200, 400)  # junk shipment ids are ignored: the whole list
    assert response.status_code == 400 or response.content.startswith(b"%PDF")


def test_staff_without_the_role_cannot_set_a_bin_location(client, parcel):
    _clerk(client)
    row = Stock.objects.filter(warehouse=parcel.warehouse).first()
    response = client.post(f"/admin/fulfillment/stock/{row.pk}/change/", {"location": "HACK-1"})
    assert response.status_code == 403
    row.refresh_from_db()
    assert row.location != "HACK-1"
