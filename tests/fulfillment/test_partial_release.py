"""Cancelling part of a paid, unshipped order (after-sales' refund before shipping): held units
released from open parcels, reservations split or released whole, parcels shrunk or cancelled,
the slips and pick lists following; and the cash a cash-on-delivery parcel collects."""

from decimal import Decimal

import pytest
from django.db import transaction

from fulfillment import services
from fulfillment.exceptions import FulfillmentError, FulfillmentErrorCode
from fulfillment.models import Reservation, Shipment, ShipmentLine, Stock, StockMovement
from tests.fulfillment.aftersales_support import assert_stock_invariants
from tests.fulfillment.support import paid_order, stock, variant, warehouses

pytestmark = pytest.mark.django_db
Status = Shipment.Status


@pytest.fixture
def places():
    return warehouses()


def levels(warehouse, v) -> tuple[int, int]:
    return tuple(Stock.objects.filter(warehouse=warehouse, variant=v).values_list("on_hand", "reserved").get())


def release(order, v, quantity: int, reference: str = "AS-TEST-1") -> int:
    with transaction.atomic():
        order = type(order).objects.select_for_update().get(pk=order.pk)
        return services.stock_release_units(
            order=order, variant_id=v.pk, quantity=quantity, note="after-sales", reference=reference
        )


def split_order(places):
    """A Shanghai customer buys 4 of `shirt` (2 in Shanghai, 3 in Beijing) and 1 `cap` (Shanghai
    only): the Shanghai parcel holds shirt × 2 and cap × 1, the Beijing parcel shirt × 2."""
    shirt, cap = variant(name="衬衫"), variant(name="帽子")
    stock(places["sh"], shirt, 2)
    stock(places["bj"], shirt, 3)
    stock(places["sh"], cap, 5)
    order = paid_order([(shirt, 4), (cap, 1)])
    parcels = {p.warehouse_id: p for p in order.shipments.all()}
    return order, shirt, cap, parcels[places["sh"].pk], parcels[places["bj"].pk]


def test_units_are_released_across_two_parcels_splitting_a_reservation(places, admin_client):
    order, shirt, cap, shanghai, beijing = split_order(places)
    services.shipment_pack(shipment_id=beijing.pk)  # packed: it gives its units last
    assert_stock_invariants()

    assert release(order, shirt, 3) == 3
    assert_stock_invariants()
    # The parcel still to pack gave both its shirts (its line left the box, the cap stays) ...
    shanghai.refresh_from_db()
    assert shanghai.status == Status.PENDING
    assert [(line.order_line.variant_id, line.quantity) for line in shanghai.lines.all()] == [(cap.pk, 1)]
    assert levels(places["sh"], shirt) == (2, 0)
    # ... and the packed one gave one of its two: its reservation split, the line shrank.
    beijing.refresh_from_db()
    assert beijing.status == Status.PACKED
    [line] = beijing.lines.select_related("reservation")
    assert (line.quantity, line.reservation.quantity, line.reservation.state) == (1, 1, "held")
    assert levels(places["bj"], shirt) == (3, 1)
    shirts = Reservation.objects.filter(order=order, variant=shirt)
    assert sorted(shirts.values_list("state", "quantity")) == [("held", 1), ("released", 1), ("released", 2)]
    # Every unit ever reserved is still accounted for, and each release is a movement.
    assert sum(shirts.values_list("quantity", flat=True)) == 4
    releases = StockMovement.objects.filter(variant=shirt, reason=StockMovement.Reason.RELEASE)
    assert sorted(releases.values_list("reserved_delta", flat=True)) == [-2, -1]
    assert set(releases.values_list("reference", "note")) == {("AS-TEST-1", "after-sales")}

    # What the warehouse sees: the Shanghai pick list has the cap only, the slip of the packed
    # parcel one shirt.
    rows = services.pick_list(warehouse_id=places["sh"].pk)
    assert [(r["order_line__sku"], r["units"]) for r in rows] == [(cap.sku, 1)]
    slip = admin_client.get(f"/admin/fulfillment/shipment/{beijing.pk}/packing-slip/").content.decode()
    assert shirt.sku in slip and '<td class="num">1</td>' in slip

    # Asking for more than is left releases what is left; the emptied parcel is cancelled and
    # keeps its line as its record.
    assert release(order, shirt, 5) == 1
    assert_stock_invariants()
    beijing.refresh_from_db()
    assert beijing.status == Status.CANCELLED and beijing.lines.count() == 1
    assert levels(places["bj"], shirt) == (3, 0)
    assert release(order, shirt, 1) == 0  # nothing left: nothing moves
    assert release(order, cap, 0) == 0
    assert StockMovement.objects.filter(variant=shirt, reason=StockMovement.Reason.RELEASE).count() == 3

    # The rest ships as usual, and with it the order.
    services.shipment_ship(shipment_id=shanghai.pk, carrier="own_fleet")
    order.refresh_from_db()
    assert order.status == "shipped"
    assert levels(places["sh"], cap) == (4, 0)
    assert_stock_invariants()


def test_shipped_units_are_never_released(places):
    v = variant()
    stock(places["sh"], v, 5)
    order = paid_order([(v, 2)])
    services.shipment_ship(shipment_id=order.shipments.get().pk, carrier="own_fleet")
    assert release(order, v, 2) == 0
    assert levels(places["sh"], v) == (3, 0)
    with pytest.raises(ValueError):
        release(order, v, -1)
    assert_stock_invariants()


def test_a_whole_parcel_released_is_cancelled(places):
    v = variant()
    stock(places["sh"], v, 5)
    order = paid_order([(v, 2)])
    parcel = order.shipments.get()
    assert release(order, v, 2) == 2
    parcel.refresh_from_db()
    assert parcel.status == Status.CANCELLED
    assert Reservation.objects.get(order=order).state == "released"
    assert levels(places["sh"], v) == (5, 0)
    assert services.pick_list(warehouse_id=places["sh"].pk) == []
    assert_stock_invariants()


# -- cash on delivery -------------------------------------------------------------------------------


def cod_due(order) -> dict[str, tuple[str, Decimal]]:
    return {p.number: (p.status, p.cod_amount) for p in Shipment.objects.filter(order=order).order_by("number")}


def set_due(order, amount) -> int:
    with transaction.atomic():
        order = type(order).objects.select_for_update().get(pk=order.pk)
        return services.shipments_set_cod_due(order=order, amount=Decimal(amount))


def test_the_cash_to_collect_follows_what_is_left(places):
    from_beijing, from_guangzhou = variant(price="30.00"), variant(price="70.00")
    stock(places["bj"], from_beijing, 5)
    stock(places["gz"], from_guangzhou, 5)
    order = paid_order([(from_beijing, 1), (from_guangzhou, 1)], payment_method="cod")
    first, second = order.shipments.order_by("number")
    assert (first.cod_amount, second.cod_amount) == (order.total, 0)  # the first parcel collects all

    # Part of the order cancelled: the same parcel collects less. Idempotent.
    assert set_due(order, "80.00") == 1
    assert set_due(order, "80.00") == 0
    assert cod_due(order) == {first.number: ("pending", Decimal("80.00")), second.number: ("pending", 0)}

    # The parcel carrying the cash is cancelled whole: the cash moves to the parcel left.
    assert release(order, first.lines.get().order_line.variant, 1) == 1
    first.refresh_from_db()
    assert (first.status, first.cod_amount) == (Status.CANCELLED, 0)
    assert set_due(order, "70.00") == 1
    assert cod_due(order)[second.number] == ("pending", Decimal("70.00"))

    # Nothing to collect (0): no parcel collects; more than there is a parcel for: refused.
    assert set_due(order, "0") == 1
    assert cod_due(order)[second.number] == ("pending", 0)
    assert set_due(order, "70.00") == 1

    # Once the parcel is with the carrier, its waybill says what to collect: a change is refused,
    # the same amount is no change.
    services.shipment_ship(shipment_id=second.pk, carrier="own_fleet")
    assert set_due(order, "70.00") == 0
    with pytest.raises(FulfillmentError) as refused:
        set_due(order, "50.00")
    assert refused.value.code == FulfillmentErrorCode.NOT_OPEN
    with pytest.raises(ValueError):
        set_due(order, "-1")
    assert_stock_invariants()


def test_an_amount_with_no_parcel_to_carry_it_is_refused(places):
    v = variant()
    stock(places["sh"], v, 5)
    order = paid_order([(v, 1)], payment_method="cod")
    assert release(order, v, 1) == 1
    assert set_due(order, "0.00") == 0
    with pytest.raises(ValueError):
        set_due(order, "10.00")


def test_lines_of_a_parcel_stay_one_per_reservation(places):
    order, shirt, _cap, _shanghai, _beijing = split_order(places)
    release(order, shirt, 1)
    # OneToOne: every held reservation of the order is in exactly one line of an open parcel.
    held = Reservation.objects.filter(order=order, state="held")
    assert ShipmentLine.objects.filter(reservation__in=held, shipment__status__in=Shipment.OPEN).count() == held.count()
