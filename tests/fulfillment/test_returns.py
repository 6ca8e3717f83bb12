"""What after-sales asks of fulfillment once goods have left: where an order's units are, the
customer's return parcel (typed, or a return waybill the express sandbox issues and then
reports like any parcel) followed to the warehouse without mailing the customer or touching
the order, returned units restocked or written off, and an exchange's replacement parcel
reserved, packed and shipped through the usual path without moving the order."""

from decimal import Decimal

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from catalog.models import Product
from fulfillment import services
from fulfillment.carrier_sandbox import DELIVERED_WITHIN, Sandbox, start_in_thread
from fulfillment.exceptions import FulfillmentError, FulfillmentErrorCode
from fulfillment.models import Reservation, Shipment, Stock, StockMovement
from fulfillment.signals import return_delivered
from orders.models import Notification, Order, OrderEvent
from orders.services import order_confirm_receipt
from tests import factories
from tests.fulfillment.aftersales_support import assert_stock_invariants
from tests.fulfillment.support import paid_order, stock, variant, warehouses
from tests.purchase import english

pytestmark = pytest.mark.django_db
Status = Shipment.Status
Kind = Shipment.Kind
KEY = "returns-test-key"
DELIVERED_BY = round(DELIVERED_WITHIN.total_seconds() / 3600)  # carrier hours: every waybill is delivered by then


@pytest.fixture
def places():
    return warehouses()


@pytest.fixture
def sandbox(settings):
    server = start_in_thread(key=KEY)
    settings.CARRIER_EXPRESS_URL = server.base_url
    settings.CARRIER_EXPRESS_KEY = KEY
    settings.CARRIER_EXPRESS_TIMEOUT = 2.0
    yield server
    server.shutdown()


@pytest.fixture
def returns_seen():
    """The parcels fulfillment.signals.return_delivered announced."""
    seen = []

    def receiver(sender, shipment, **kwargs):
        seen.append(shipment.pk)

    return_delivered.connect(receiver, dispatch_uid="test-returns-seen", weak=False)
    yield seen
    return_delivered.disconnect(dispatch_uid="test-returns-seen")


def levels(warehouse, v) -> tuple[int, int]:
    return tuple(Stock.objects.filter(warehouse=warehouse, variant=v).values_list("on_hand", "reserved").get())


def deliver_by_hand(parcel: Shipment, who: str = "张三", cash: Decimal | None = None) -> None:
    services.shipment_record_event(shipment_id=parcel.pk, kind="delivered", signed_by=who, cod_collected=cash)


def completed_order(items) -> Order:
    """A paid order whose parcels all went with our own fleet, were delivered and confirmed."""
    order = paid_order(items)
    for parcel in order.shipments.all():
        deliver_by_hand(services.shipment_ship(shipment_id=parcel.pk, carrier="own_fleet"))
    order_confirm_receipt(order_id=order.pk, actor_kind="system")
    order.refresh_from_db()
    assert order.status == Order.Status.COMPLETED
    return order


def locked(order: Order) -> Order:
    return Order.objects.select_for_update().get(pk=order.pk)


def mails(order: Order, kind: str, parcel: Shipment | None = None) -> int:
    found = Notification.objects.filter(order=order, kind=kind)
    if parcel is not None:
        found = found.filter(key=f"{kind}:{parcel.pk}")
    return found.count()


# -- where an order's units are -------------------------------------------------------------------


def test_order_units_state_in_one_query(places, django_assert_num_queries):
    shirt, cap = variant(), variant()
    stock(places["sh"], shirt, 2)
    stock(places["bj"], shirt, 3)
    stock(places["sh"], cap, 5)
    order = paid_order([(shirt, 4), (cap, 1)])
    parcels = {p.warehouse_id: p for p in order.shipments.all()}
    shanghai, beijing = parcels[places["sh"].pk], parcels[places["bj"].pk]
    with django_assert_num_queries(1):
        state = services.order_units_state(order=order)
    assert state == {
        shirt.pk: {"pending": 4, "packed": 0, "shipped": 0, "delivered": 0, "warehouses": []},
        cap.pk: {"pending": 1, "packed": 0, "shipped": 0, "delivered": 0, "warehouses": []},
    }

    services.shipment_pack(shipment_id=beijing.pk)
    deliver_by_hand(services.shipment_ship(shipment_id=shanghai.pk, carrier="own_fleet"))
    state = services.order_units_state(order=order)
    assert state[shirt.pk] == {"pending": 0, "packed": 2, "shipped": 2, "delivered": 2, "warehouses": [places["sh"].pk]}
    assert state[cap.pk] == {"pending": 0, "packed": 0, "shipped": 1, "delivered": 1, "warehouses": [places["sh"].pk]}

    services.shipment_ship(shipment_id=beijing.pk, carrier="own_fleet")
    state = services.order_units_state(order=order)
    assert (state[shirt.pk]["shipped"], state[shirt.pk]["delivered"]) == (4, 2)
    assert sorted(state[shirt.pk]["warehouses"]) == sorted([places["sh"].pk, places["bj"].pk])


# -- returned goods into stock ----------------------------------------------------------------------


def test_returned_units_are_restocked_or_written_off(places, django_capture_on_commit_callbacks):
    v = variant()
    stock(places["sh"], v, 0)
    assert not Product.objects.get(pk=v.product_id).in_stock
    with django_capture_on_commit_callbacks(execute=True):
        moved = services.return_receive(
            warehouse_id=places["sh"].pk, variant_id=v.pk, restock=2, write_off=1, reference="AS-R-1"
        )
    assert [(m.reason, m.on_hand_delta, m.reference) for m in moved] == [
        ("return", 3, "AS-R-1"),
        ("write_off", -1, "AS-R-1"),
    ]
    assert levels(places["sh"], v) == (2, 0)
    assert Product.objects.get(pk=v.product_id).in_stock  # refreshed once the receipt committed
    assert_stock_invariants()

    # Into a warehouse that never held the variant; all of it damaged.
    moved = services.return_receive(
        warehouse_id=places["gz"].pk, variant_id=v.pk, restock=0, write_off=2, reference="AS-R-2"
    )
    assert [(m.reason, m.on_hand_delta) for m in moved] == [("return", 2), ("write_off", -2)]
    assert levels(places["gz"], v) == (0, 0)
    assert (
        services.return_receive(warehouse_id=places["gz"].pk, variant_id=v.pk, restock=0, write_off=0, reference="x")
        == []
    )
    with pytest.raises(ValueError):
        services.return_receive(warehouse_id=places["gz"].pk, variant_id=v.pk, restock=-1, write_off=2, reference="x")
    assert StockMovement.objects.filter(variant=v, reference__startswith="AS-R").count() == 4
    assert_stock_invariants()


# -- the return parcel ------------------------------------------------------------------------------


def test_a_typed_own_fleet_return_is_followed_without_mailing_the_customer(places, returns_seen):
    v = variant()
    stock(places["sh"], v, 5)
    order = completed_order([(v, 2)])
    delivered_at, completed_at = order.delivered_at, order.completed_at
    delivered_mails = mails(order, Notification.Kind.SHIPMENT_DELIVERED)

    with transaction.atomic():
        parcel = services.return_parcel_open(
            order=locked(order), warehouse_id=places["sh"].pk, carrier="own_fleet",
            tracking_number=" OF-RET-123 ", reference="AS-T-1", actor=order.customer,
        )  # fmt: skip
    assert (parcel.number, parcel.kind, parcel.status) == ("AS-T-1-R", Kind.RETURN, Status.SHIPPED)
    assert (parcel.carrier, parcel.tracking_number, parcel.cod_amount) == ("own_fleet", "OF-RET-123", 0)
    assert parcel.shipped_by == order.customer and parcel.lines.count() == 0
    # Opened again for the same request (a double click): the same parcel.
    again = services.return_parcel_open(
        order=order, warehouse_id=places["sh"].pk, carrier="own_fleet", tracking_number="OTHER", reference="AS-T-1"
    )
    assert again.pk == parcel.pk and Shipment.objects.filter(kind=Kind.RETURN).count() == 1
    # Another request cannot take a tracking number already in use.
    with pytest.raises(FulfillmentError) as in_use:
        services.return_parcel_open(
            order=order, warehouse_id=places["sh"].pk, carrier="own_fleet", tracking_number="OF-RET-123",
            reference="AS-T-2",
        )  # fmt: skip
    assert in_use.value.code == FulfillmentErrorCode.TRACKING_IN_USE
    with pytest.raises(FulfillmentError) as unknown:
        services.return_parcel_open(
            order=order, warehouse_id=places["sh"].pk, carrier="pigeon", tracking_number="1", reference="AS-T-3"
        )
    assert unknown.value.code == FulfillmentErrorCode.CARRIER_REFUSED
    with pytest.raises(FulfillmentError) as too_long:
        services.return_parcel_open(
            order=order, warehouse_id=places["sh"].pk, carrier="own_fleet", tracking_number="9" * 41,
            reference="AS-T-4",
        )  # fmt: skip
    assert too_long.value.code == FulfillmentErrorCode.TRACKING_TOO_LONG

    # Staff record the own fleet's events; the warehouse signs for it.
    services.shipment_record_event(shipment_id=parcel.pk, kind="in_transit", location="上海")
    deliver_by_hand(parcel, who="上海仓")
    deliver_by_hand(parcel, who="上海仓")  # recorded twice: announced once
    parcel.refresh_from_db()
    order.refresh_from_db()
    assert (parcel.status, parcel.signed_by, parcel.cod_collected) == (Status.DELIVERED, "上海仓", None)
    assert returns_seen == [parcel.pk]
    assert mails(order, Notification.Kind.SHIPMENT_DELIVERED) == delivered_mails  # nothing to the customer
    assert (order.status, order.delivered_at, order.completed_at) == (
        Order.Status.COMPLETED,
        delivered_at,
        completed_at,
    )
    # It is a parcel of the order for the customer's pages, never one to pack or ship.
    with pytest.raises(FulfillmentError):
        services.shipment_pack(shipment_id=parcel.pk)
    with pytest.raises(FulfillmentError):
        services.shipment_ship(shipment_id=parcel.pk, carrier="own_fleet")
    assert_stock_invariants()


def test_the_express_sandbox_issues_a_return_waybill_that_polling_follows_to_the_warehouse(
    places, sandbox, returns_seen
):
    v = variant(weight=800)
    stock(places["bj"], v, 5)
    order = paid_order([(v, 1)], payment_method="cod")  # the outbound parcel collected cash; a return never does
    outbound = order.shipments.get()
    shipped = services.shipment_ship(shipment_id=outbound.pk, carrier="own_fleet")
    deliver_by_hand(shipped, who=order.recipient, cash=order.total)
    order.refresh_from_db()
    delivered_at, status = order.delivered_at, order.status
    delivered_mails = mails(order, Notification.Kind.SHIPMENT_DELIVERED)

    # The customer asks for a waybill; the request is rolled back after the carrier answered
    # (say the caller failed): the retry gets the same waybill, not a second one.
    with pytest.raises(RuntimeError), transaction.atomic():
        first = services.return_parcel_open(
            order=locked(order), warehouse_id=places["bj"].pk, carrier="express", reference="AS-E-1"
        )
        raise RuntimeError("the caller failed")
    with transaction.atomic():
        parcel = services.return_parcel_open(
            order=locked(order), warehouse_id=places["bj"].pk, carrier="express", reference="AS-E-1"
        )
    assert parcel.tracking_number == first.tracking_number and parcel.tracking_number.startswith("SX")
    waybills = sandbox.state()["waybills"]
    assert [(w["reference"], w["type"]) for w in waybills] == [("AS-E-1-R", "return")]
    issued = sandbox.sandbox._waybills[parcel.tracking_number]
    # The customer (the order's delivery address) sends; the warehouse receives.
    assert (issued.sender["name"], issued.sender["phone"], issued.sender["city"]) == (
        order.recipient, order.phone, order.city,
    )  # fmt: skip
    assert (issued.recipient["name"], issued.recipient["city"], issued.cod_amount) == ("北京仓", "北京", "0.00")
    assert issued.weight_grams == 800

    # The periodic poll picks it up like any parcel and follows it to the warehouse.
    later = timezone.now() + timezone.timedelta(hours=1)
    assert parcel.pk in services.shipments_due_for_poll(now=later)
    assert services.shipment_poll(shipment_id=parcel.pk) == 0  # not collected yet
    sandbox.advance(hours=6)
    assert services.shipment_poll(shipment_id=parcel.pk) >= 1
    parcel.refresh_from_db()
    assert parcel.status == Status.IN_TRANSIT
    sandbox.advance(hours=DELIVERED_BY)
    assert services.shipment_poll(shipment_id=parcel.pk) >= 1
    parcel.refresh_from_db()
    assert parcel.status == Status.DELIVERED
    assert parcel.signed_by == "北京仓" and parcel.cod_collected is None
    assert "退货件" in parcel.events.order_by("occurred_at").first().description
    assert returns_seen == [parcel.pk]
    assert services.shipment_poll(shipment_id=parcel.pk) == 0  # delivered: no longer polled
    order.refresh_from_db()
    assert mails(order, Notification.Kind.SHIPMENT_DELIVERED) == delivered_mails
    assert (order.status, order.delivered_at) == (status, delivered_at)
    assert parcel.pk not in services.shipments_due_for_poll(now=later + timezone.timedelta(hours=1))


def test_the_sandbox_checks_return_waybills():
    sandbox = Sandbox(key="k")
    customer = {"province": "上海", "city": "上海", "name": "李四", "address": "浦东新区 1号", "phone": "13800000000"}
    warehouse = {"province": "北京", "city": "北京", "name": "北京仓"}  # no address or phone: optional
    body = {"reference": "AS-1-R", "sender": customer, "recipient": warehouse, "weight_grams": 500, "type": "return"}
    assert sandbox.create_waybill(body)[0] == 201
    assert sandbox.create_waybill({**body, "recipient": customer, "sender": warehouse, "reference": "x"}) == (
        400, {"error": "sender.address is required"},
    )  # fmt: skip
    assert sandbox.create_waybill({**body, "reference": "y", "cod_amount": "10.00"}) == (
        400, {"error": 'a return collects no cash: cod_amount must be "0.00"'},
    )  # fmt: skip
    assert sandbox.create_waybill({**body, "reference": "z", "type": "pigeon"})[0] == 400
    # A standard waybill still needs the recipient's address and phone.
    assert sandbox.create_waybill({**body, "reference": "w", "type": "standard"}) == (
        400, {"error": "recipient.address is required"},
    )  # fmt: skip


# -- the replacement parcel of an exchange ------------------------------------------------------------


def sized(product, size: str, **kwargs):
    v = factories.VariantFactory(product=product, price=Decimal("50.00"), **kwargs)
    v.options.add(factories.AttributeValueFactory(attribute=factories.AttributeFactory(code="size"), value=size))
    return v


def test_an_exchange_ships_a_replacement_through_the_usual_path(places, admin_client):
    small = variant(name="卫衣")
    small.options.add(factories.AttributeValueFactory(attribute=factories.AttributeFactory(code="size"), value="S"))
    medium = sized(small.product, "M", weight_grams=900)
    stock(places["sh"], small, 5)
    stock(places["bj"], medium, 3)
    stock(places["gz"], medium, 3)
    order = completed_order([(small, 2)])
    delivered_at, completed_at = order.delivered_at, order.completed_at
    line = order.lines.get()

    with transaction.atomic():
        parcel = services.replacement_parcel_create(
            order=locked(order), items=[(line.pk, medium.pk, 1)], reference="AS-X-1"
        )
    # The nearest warehouse to Shanghai holding it whole: Beijing (1,070 km) before Guangzhou.
    assert (parcel.number, parcel.kind, parcel.status, parcel.warehouse_id) == (
        "AS-X-1-X", Kind.REPLACEMENT, Status.PENDING, places["bj"].pk,
    )  # fmt: skip
    [shipped_line] = parcel.lines.select_related("reservation")
    assert (shipped_line.order_line_id, shipped_line.reservation.variant_id, shipped_line.quantity) == (
        line.pk, medium.pk, 1,
    )  # fmt: skip
    assert levels(places["bj"], medium) == (3, 1)
    movement = StockMovement.objects.get(variant=medium, reason=StockMovement.Reason.RESERVE)
    assert movement.reference == "AS-X-1"
    # Asked again (a retry): the same parcel, nothing reserved twice.
    again = services.replacement_parcel_create(order=order, items=[(line.pk, medium.pk, 1)], reference="AS-X-1")
    assert again.pk == parcel.pk and levels(places["bj"], medium) == (3, 1)
    assert_stock_invariants()
    assert services.order_units_state(order=order)[medium.pk]["pending"] == 1

    # The warehouse picks and packs the medium one, not the small one the order line names.
    rows = services.pick_list(warehouse_id=places["bj"].pk)
    assert [(r["order_line__sku"], r["order_line__variant_label"], r["units"]) for r in rows] == [(medium.sku, "M", 1)]
    slip = admin_client.get(f"/admin/fulfillment/shipment/{parcel.pk}/packing-slip/").content.decode()
    assert medium.sku in slip and small.sku not in slip
    pdf = admin_client.get(f"/admin/fulfillment/shipment/{parcel.pk}/packing-slip/", {"format": "pdf"})
    assert pdf.content.startswith(b"%PDF")
    change = admin_client.get(f"/admin/fulfillment/shipment/{parcel.pk}/change/").content.decode()
    assert medium.sku in change

    # Packed and shipped from the admin like any parcel: the stock leaves, the order stays put.
    admin_client.post("/admin/fulfillment/shipment/", {"action": "mark_packed", "_selected_action": [parcel.pk]})
    admin_client.post(
        "/admin/fulfillment/shipment/",
        {"action": "ship", "_selected_action": [parcel.pk], "apply": "1", "carrier": "own_fleet"},
    )
    parcel.refresh_from_db()
    assert parcel.status == Status.SHIPPED and parcel.packed_at is not None
    assert levels(places["bj"], medium) == (2, 0)
    assert Reservation.objects.get(pk=shipped_line.reservation_id).state == "shipped"
    shipped_mail = Notification.objects.get(order=order, key=f"shipment_shipped:{parcel.pk}")
    assert shipped_mail.context["lines"] == [{"name": "卫衣", "options": "M", "quantity": 1}]
    order.refresh_from_db()
    assert order.status == Order.Status.COMPLETED

    deliver_by_hand(parcel)
    order.refresh_from_db()
    assert (order.status, order.delivered_at, order.completed_at) == (
        Order.Status.COMPLETED,
        delivered_at,
        completed_at,
    )
    assert mails(order, Notification.Kind.SHIPMENT_DELIVERED, parcel) == 1
    assert_stock_invariants()


def test_a_replacement_no_warehouse_holds_whole_is_out_of_stock(places):
    small = variant()
    medium = sized(small.product, "M")
    stock(places["sh"], small, 5)
    stock(places["bj"], medium, 3)
    stock(places["gz"], medium, 3)
    order = completed_order([(small, 2)])
    line = order.lines.get()
    with pytest.raises(services.OutOfStock) as out, transaction.atomic():
        services.replacement_parcel_create(order=locked(order), items=[(line.pk, medium.pk, 4)], reference="AS-X-2")
    assert out.value.shortages == {medium.pk: (4, 3)}
    assert not Shipment.objects.filter(kind=Kind.REPLACEMENT).exists()
    assert levels(places["bj"], medium) == (3, 0) and levels(places["gz"], medium) == (3, 0)
    other = paid_order([(small, 1)])
    with pytest.raises(ValueError):  # a line of another order
        services.replacement_parcel_create(order=order, items=[(other.lines.get().pk, medium.pk, 1)], reference="x")
    assert_stock_invariants()


def test_two_lines_exchanged_for_one_option_travel_as_one_line_and_reroute_leaves_it(places):
    small = variant()
    large = sized(small.product, "L")
    medium = sized(small.product, "M")
    stock(places["sh"], small, 5)
    stock(places["sh"], large, 5)
    stock(places["sh"], medium, 5)
    order = completed_order([(small, 1), (large, 1)])
    first, second = order.lines.order_by("pk")
    with transaction.atomic():
        parcel = services.replacement_parcel_create(
            order=locked(order), items=[(first.pk, medium.pk, 1), (second.pk, medium.pk, 1)], reference="AS-X-3"
        )
    [only] = parcel.lines.all()
    assert (only.order_line_id, only.quantity) == (first.pk, 2)
    assert levels(places["sh"], medium) == (5, 2)
    with pytest.raises(FulfillmentError) as nothing:
        services.order_reroute(order_id=order.pk)
    assert nothing.value.code == FulfillmentErrorCode.NOTHING_TO_REROUTE
    parcel.refresh_from_db()
    assert parcel.status == Status.PENDING
    assert_stock_invariants()


# -- the admin ----------------------------------------------------------------------------------------


def test_the_admin_shows_the_kind_and_never_packs_or_ships_a_return(places, admin_client):
    v = variant()
    stock(places["sh"], v, 5)
    order = completed_order([(v, 1)])
    outbound = order.shipments.get()
    parcel = services.return_parcel_open(
        order=order, warehouse_id=places["sh"].pk, carrier="own_fleet", tracking_number="RET-1", reference="AS-A-1"
    )
    listing = admin_client.get("/admin/fulfillment/shipment/", {"kind__exact": "return"}).content.decode()
    assert parcel.number in listing and outbound.number not in listing
    everything = admin_client.get("/admin/fulfillment/shipment/").content.decode()
    assert parcel.number in everything and outbound.number in everything

    for action in ("mark_packed", "ship"):
        answer = admin_client.post(
            "/admin/fulfillment/shipment/", {"action": action, "_selected_action": [parcel.pk]}, follow=True
        )
        assert answer.status_code == 200
        assert "ship-form" not in answer.content.decode()  # no ship page offered for a return
    parcel.refresh_from_db()
    assert parcel.status == Status.SHIPPED and parcel.packed_at is None

    change = admin_client.get(f"/admin/fulfillment/shipment/{parcel.pk}/change/")
    assert change.status_code == 200 and "packing-slip" not in change.content.decode()
    assert admin_client.get(f"/admin/fulfillment/shipment/{parcel.pk}/packing-slip/").status_code == 404
    assert admin_client.get(f"/admin/fulfillment/shipment/{parcel.pk}/record-event/").status_code == 200


def test_a_held_replacement_does_not_keep_the_order_awaiting_shipment(places):
    """A parcel lost before the rest of the order left is reshipped (an insurance claim's
    remedy): the order is shipped once its own parcels have left, whatever the replacement does,
    and the replacement's delivery is not the order's."""
    from_beijing, from_guangzhou = variant(), variant()
    stock(places["bj"], from_beijing, 5)
    stock(places["gz"], from_guangzhou, 5)
    order = paid_order([(from_beijing, 1), (from_guangzhou, 1)])
    lost, rest = order.shipments.order_by("number")
    services.shipment_ship(shipment_id=lost.pk, carrier="own_fleet")
    services.shipment_record_event(shipment_id=lost.pk, kind="exception", description="丢失")
    lost_line = lost.lines.get()
    with transaction.atomic():
        replacement = services.replacement_parcel_create(
            order=locked(order),
            items=[(lost_line.order_line_id, lost_line.reservation.variant_id, 1)],
            reference="CL-1",
        )
    services.shipment_ship(shipment_id=rest.pk, carrier="own_fleet")
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED  # the replacement still held does not hold it back
    moves = order.events.exclude(to_status=OrderEvent.DELIVERED)
    events = moves.count()
    deliver_by_hand(services.shipment_ship(shipment_id=replacement.pk, carrier="own_fleet"))
    deliver_by_hand(rest)
    order.refresh_from_db()
    assert moves.count() == events  # shipping the replacement moved nothing
    assert order.events.filter(to_status=OrderEvent.DELIVERED).count() == 2  # each parcel's 已签收 in the history
    assert order.delivered_at is None  # the lost parcel never arrived: the shipping clock rules
    assert_stock_invariants()


def test_the_customers_tracking_page_tells_a_return_and_a_replacement_apart(client, places):
    small = variant(name="卫衣")
    small.options.add(factories.AttributeValueFactory(attribute=factories.AttributeFactory(code="size"), value="S"))
    medium = sized(small.product, "M")
    stock(places["sh"], small, 5)
    stock(places["sh"], medium, 5)
    order = completed_order([(small, 1)])
    services.return_parcel_open(
        order=order, warehouse_id=places["sh"].pk, carrier="own_fleet", tracking_number="RET-9", reference="AS-P-1"
    )
    services.replacement_parcel_create(order=order, items=[(order.lines.get().pk, medium.pk, 1)], reference="AS-P-1")
    english(client).force_login(order.customer)
    page = client.get(reverse("fulfillment:tracking", kwargs={"number": order.number})).content.decode()
    assert "Return from the customer" in page and "back to our warehouse in 上海" in page and "RET-9" in page
    assert "Replacement (exchange)" in page
    # The replacement's line names the product, not the option it replaces (S).
    assert page.count("(S)") == 1
