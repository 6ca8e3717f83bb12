"""Tracking events entered by hand: only for our own fleet, and the cash of a cash-on-delivery
parcel (which captures its payment) only by someone allowed to record cash collections.

An express parcel is reported by the carrier's API: a delivery typed in the admin would mark it
delivered, and "collect" its cash, while the carrier still holds it."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from fulfillment import services
from fulfillment.exceptions import FulfillmentError, FulfillmentErrorCode
from fulfillment.models import Shipment, TrackingEvent
from fulfillment.services.staff import WAREHOUSE_GROUP
from payments.models import Payment
from tests import factories
from tests.fulfillment.support import paid_order, stock, variant, warehouses

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


@pytest.fixture
def picker():
    user = factories.UserFactory(email="picker@example.com", is_staff=True)
    user.groups.add(services.staff_groups_ensure())
    return user


@pytest.fixture
def cashier(picker):
    """A warehouse clerk who is also trusted with the couriers' cash."""
    user = factories.UserFactory(email="cashier@example.com", is_staff=True)
    user.groups.add(services.staff_groups_ensure())
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="payments", codename="record_cash_collection")
    )
    return user


def _cod_parcel(carrier: str) -> Shipment:
    places = warehouses()
    v = variant(price="30.00")
    stock(places["sh"], v, 5)
    order = paid_order([(v, 1)], payment_method="cod")
    parcel = order.shipments.get()
    if carrier == "own_fleet":
        services.shipment_ship(shipment_id=parcel.pk, carrier="own_fleet")
    else:  # handed to the express carrier (its API is not needed to be refused)
        Shipment.objects.filter(pk=parcel.pk).update(carrier=carrier, status="shipped", tracking_number="EX100")
    parcel.refresh_from_db()
    assert parcel.cod_amount == order.total
    return parcel


def _cod_state(parcel) -> str:
    return Payment.objects.get(order_id=parcel.order_id, provider="cod").state


def _url(parcel) -> str:
    return f"/admin/fulfillment/shipment/{parcel.pk}/record-event/"


DELIVERED = {"kind": "delivered", "signed_by": "王芳", "location": "上海"}


def test_the_service_refuses_events_for_an_express_parcel():
    parcel = _cod_parcel("express")
    for kind in ("in_transit", "delivered"):
        with pytest.raises(FulfillmentError) as refused:
            services.shipment_record_event(
                shipment_id=parcel.pk, kind=kind, signed_by="王芳", cod_collected=parcel.cod_amount
            )
        assert refused.value.code == FulfillmentErrorCode.NOT_OWN_FLEET
    parcel.refresh_from_db()
    assert (parcel.status, parcel.cod_collected) == ("shipped", None)
    assert not TrackingEvent.objects.filter(shipment=parcel).exists()
    assert _cod_state(parcel) == Payment.State.AWAITING_COLLECTION


@pytest.mark.parametrize("who", ["picker", "cashier", "admin_user"])
def test_nobody_records_an_express_delivery_in_the_admin(request, who):
    client = _client(request.getfixturevalue(who))
    parcel = _cod_parcel("express")
    page = client.get(f"/admin/fulfillment/shipment/{parcel.pk}/change/")
    assert page.status_code == 200 and _url(parcel) not in page.content.decode()
    response = client.post(_url(parcel), {**DELIVERED, "cod_collected": str(parcel.cod_amount)}, follow=True)
    assert response.redirect_chain[0] == (f"/admin/fulfillment/shipment/{parcel.pk}/change/", 302)
    assert "reports its own tracking" in response.content.decode()
    parcel.refresh_from_db()
    assert parcel.status == "shipped" and _cod_state(parcel) == Payment.State.AWAITING_COLLECTION


def test_warehouse_staff_cannot_record_cash_collected(picker):
    client = _client(picker)
    parcel = _cod_parcel("own_fleet")
    page = client.get(_url(parcel))
    assert page.status_code == 200 and "cod_collected" not in page.context["form"].fields
    response = client.post(_url(parcel), {**DELIVERED, "cod_collected": str(parcel.cod_amount)})
    assert response.status_code == 200
    assert "needs the permission to record cash collections" in response.content.decode()
    parcel.refresh_from_db()
    assert (parcel.status, parcel.cod_collected) == ("shipped", None)
    assert _cod_state(parcel) == Payment.State.AWAITING_COLLECTION
    # Events that move no money remain theirs to record.
    assert client.post(_url(parcel), {"kind": "in_transit", "location": "上海"}).status_code == 302
    parcel.refresh_from_db()
    assert parcel.status == "in_transit"


def test_the_cash_permission_records_a_cash_delivery(cashier):
    client = _client(cashier)
    parcel = _cod_parcel("own_fleet")
    assert "cod_collected" in client.get(_url(parcel)).context["form"].fields
    response = client.post(_url(parcel), {**DELIVERED, "cod_collected": str(parcel.cod_amount)})
    assert response.status_code == 302
    parcel.refresh_from_db()
    assert (parcel.status, parcel.cod_collected) == ("delivered", parcel.cod_amount)
    assert _cod_state(parcel) == Payment.State.CAPTURED


def test_warehouse_staff_record_a_delivery_that_collects_nothing(picker):
    places = warehouses()
    v = variant()
    stock(places["sh"], v, 5)
    parcel = paid_order([(v, 1)]).shipments.get()
    services.shipment_ship(shipment_id=parcel.pk, carrier="own_fleet")
    assert _client(picker).post(_url(parcel), DELIVERED).status_code == 302
    parcel.refresh_from_db()
    assert parcel.status == "delivered"


def test_the_permission_is_made_by_migrate_and_not_given_to_warehouse_staff():
    permission = Permission.objects.get(content_type__app_label="payments", codename="record_cash_collection")
    assert permission.content_type.model == "payment"
    assert not Group.objects.get(name=WAREHOUSE_GROUP).permissions.filter(pk=permission.pk).exists()
