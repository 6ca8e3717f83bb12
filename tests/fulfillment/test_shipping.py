"""Parcels from paid orders, picked, packed and shipped by staff in the admin; purchase orders
received into stock; what warehouse staff may and may not do; the low-stock digest."""

import threading
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import close_old_connections

from catalog.models import Supplier
from fulfillment import services
from fulfillment.exceptions import FulfillmentError, FulfillmentErrorCode
from fulfillment.models import PurchaseOrder, Reservation, Shipment, Stock, StockMovement
from fulfillment.services.staff import WAREHOUSE_GROUP
from orders.models import Notification
from tests import factories
from tests.fulfillment.support import paid_order, placed_order, stock, variant, warehouses

pytestmark = pytest.mark.django_db


def levels(warehouse, v) -> tuple[int, int]:
    return tuple(Stock.objects.filter(warehouse=warehouse, variant=v).values_list("on_hand", "reserved").get())


def movement_sums(stock_row: Stock) -> tuple[int, int]:
    rows = StockMovement.objects.filter(stock=stock_row).values_list("on_hand_delta", "reserved_delta")
    return sum(r[0] for r in rows), sum(r[1] for r in rows)


@pytest.fixture
def places():
    return warehouses()


@pytest.fixture
def staff_user():
    user = factories.UserFactory(email="picker@example.com", is_staff=True)
    user.groups.add(services.staff_groups_ensure())
    return user


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


# -- stock movements ------------------------------------------------------------------------


def test_every_change_writes_a_movement_and_the_sums_match(places):
    v = variant()
    stock(places["sh"], v, 10)
    stock(places["sh"], v, 7)  # a stocktake finds 3 fewer
    order = paid_order([(v, 2)])
    row = Stock.objects.get(warehouse=places["sh"], variant=v)
    reasons = list(
        StockMovement.objects.filter(stock=row).order_by("pk").values_list("reason", "on_hand_delta", "reserved_delta")
    )
    assert reasons == [("count", 10, 0), ("count", -3, 0), ("reserve", 0, 2)]
    assert movement_sums(row) == (row.on_hand, row.reserved) == (7, 2)
    services.shipment_ship(shipment_id=order.shipments.get().pk, carrier="own_fleet")
    row.refresh_from_db()
    assert (row.on_hand, row.reserved) == (5, 0)
    assert movement_sums(row) == (5, 0)
    last = StockMovement.objects.filter(stock=row).order_by("-pk").first()
    assert (last.reason, last.reference, last.on_hand_after, last.reserved_after) == ("ship", f"{order.number}-1", 5, 0)


def test_counting_below_reserved_is_refused_and_writes_nothing(places):
    v = variant()
    stock(places["sh"], v, 5)
    placed_order([(v, 4)])
    before = StockMovement.objects.count()
    with pytest.raises(ValueError):
        services.stock_set_on_hand(warehouse_id=places["sh"].pk, variant_id=v.pk, on_hand=3)
    assert StockMovement.objects.count() == before
    assert levels(places["sh"], v) == (5, 4)


def test_movement_history_is_read_only_in_the_admin(admin_client, places):
    v = variant(name="历史商品")
    stock(places["sh"], v, 5)
    row = Stock.objects.get(variant=v)
    page = admin_client.get("/admin/fulfillment/stockmovement/", {"stock__id__exact": row.pk})
    assert page.status_code == 200 and v.sku in page.content.decode()
    assert admin_client.get("/admin/fulfillment/stockmovement/add/").status_code == 403
    movement = StockMovement.objects.get(stock=row)
    response = admin_client.post(f"/admin/fulfillment/stockmovement/{movement.pk}/change/", {"on_hand_delta": 99})
    assert response.status_code in (200, 403)
    movement.refresh_from_db()
    assert movement.on_hand_delta == 5


# -- parcels -----------------------------------------------------------------------------------


def test_paying_creates_one_parcel_per_warehouse_of_the_route(places):
    a, b = variant(), variant()
    stock(places["bj"], a, 5)
    stock(places["cd"], b, 5)
    order = paid_order([(a, 1), (b, 2)], province="广东", city="广州")
    parcels = {p.warehouse.code: p for p in order.shipments.all()}
    assert set(parcels) == {"bj", "cd"}
    assert [(line.order_line.sku, line.quantity) for line in parcels["cd"].lines.all()] == [(b.sku, 2)]
    assert {p.number for p in parcels.values()} == {f"{order.number}-1", f"{order.number}-2"}
    assert all(p.status == "pending" and p.cod_amount == 0 for p in parcels.values())


def test_an_unpaid_order_has_no_parcels_and_cod_parcels_carry_the_cash(places):
    v = variant(price="30.00")
    stock(places["sh"], v, 5)
    assert not placed_order([(v, 1)]).shipments.exists()
    cod = paid_order([(v, 1)], payment_method="cod")
    assert cod.status == "paid"
    assert cod.shipments.get().cod_amount == cod.total > 0


def test_partial_shipping_leaves_the_order_awaiting_shipment_until_the_last_parcel(places):
    a, b = variant(), variant()
    stock(places["bj"], a, 5)
    stock(places["gz"], b, 5)
    order = paid_order([(a, 1), (b, 1)], province="上海", city="上海")
    first, second = order.shipments.order_by("number")
    services.shipment_ship(shipment_id=first.pk, carrier="own_fleet", tracking_number="OF-1")
    order.refresh_from_db()
    assert order.status == "paid"
    services.shipment_ship(shipment_id=second.pk, carrier="own_fleet")
    order.refresh_from_db()
    assert order.status == "shipped" and order.shipped_at
    mails = Notification.objects.filter(order=order, kind="shipment_shipped")
    assert mails.count() == 2
    assert {m.context["tracking_number"] for m in mails} == {"OF-1", Shipment.objects.get(pk=second.pk).tracking_number}


def test_shipping_twice_is_refused_and_changes_nothing(places):
    v = variant()
    stock(places["sh"], v, 5)
    parcel = paid_order([(v, 2)]).shipments.get()
    services.shipment_ship(shipment_id=parcel.pk, carrier="own_fleet", tracking_number="OF-100")
    movements = StockMovement.objects.count()
    with pytest.raises(FulfillmentError) as refused:
        services.shipment_ship(shipment_id=parcel.pk, carrier="own_fleet", tracking_number="OF-200")
    assert refused.value.code == FulfillmentErrorCode.NOT_OPEN
    parcel.refresh_from_db()
    assert parcel.tracking_number == "OF-100"
    assert StockMovement.objects.count() == movements
    assert levels(places["sh"], v) == (3, 0)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("run", range(5))
def test_two_staff_shipping_the_same_parcel_at_once_ship_it_once(run):
    places = warehouses()
    v = variant()
    stock(places["sh"], v, 5)
    parcel = paid_order([(v, 2)]).shipments.get()
    barrier = threading.Barrier(2)
    outcomes = []

    def ship(number):
        try:
            barrier.wait()
            services.shipment_ship(shipment_id=parcel.pk, carrier="own_fleet", tracking_number=number)
            outcomes.append("shipped")
        except FulfillmentError as exc:
            outcomes.append(exc.code)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=ship, args=(f"OF-{run}-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == sorted(["shipped", FulfillmentErrorCode.NOT_OPEN])
    assert levels(places["sh"], v) == (3, 0)
    assert StockMovement.objects.filter(reason="ship").count() == 1


def test_a_tracking_number_is_used_once_per_carrier(places):
    v = variant()
    stock(places["sh"], v, 5)
    one = paid_order([(v, 1)]).shipments.get()
    two = paid_order([(v, 1)]).shipments.get()
    services.shipment_ship(shipment_id=one.pk, carrier="own_fleet", tracking_number="SAME-1")
    with pytest.raises(FulfillmentError) as refused:
        services.shipment_ship(shipment_id=two.pk, carrier="own_fleet", tracking_number="SAME-1")
    assert refused.value.code == FulfillmentErrorCode.TRACKING_IN_USE
    two.refresh_from_db()
    assert two.status == "pending"
    assert Reservation.objects.get(shipment_line__shipment=two).state == "held"


def test_pick_list_adds_up_units_per_sku(places):
    a, b = variant(), variant()
    stock(places["sh"], a, 10)
    stock(places["sh"], b, 10)
    paid_order([(a, 2), (b, 1)])
    paid_order([(a, 3)])
    rows = {r["order_line__sku"]: (r["units"], r["parcels"]) for r in services.pick_list(warehouse_id=places["sh"].pk)}
    assert rows == {a.sku: (5, 2), b.sku: (1, 1)}
    assert services.pick_list(warehouse_id=places["bj"].pk) == []


# -- the admin ----------------------------------------------------------------------------------


def test_staff_print_pick_list_slip_note_and_pdf(staff_client, places):
    v = variant(name="纯棉圆领T恤")
    stock(places["sh"], v, 10)
    order = paid_order([(v, 2)], insured=True)
    parcel = order.shipments.get()
    pick = staff_client.get("/admin/fulfillment/shipment/pick-list/", {"warehouse": places["sh"].pk})
    assert pick.status_code == 200 and v.sku in pick.content.decode()
    slip = staff_client.get(f"/admin/fulfillment/shipment/{parcel.pk}/packing-slip/").content.decode()
    assert "纯棉圆领T恤" in slip and order.recipient in slip
    note = staff_client.get(f"/admin/fulfillment/shipment/{parcel.pk}/delivery-note/").content.decode()
    assert str(services.shipment_insured_value(parcel)) in note  # the insurance shows on the parcel
    for kind in ("packing-slip", "delivery-note"):
        pdf = staff_client.get(f"/admin/fulfillment/shipment/{parcel.pk}/{kind}/", {"format": "pdf"})
        assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    change = staff_client.get(f"/admin/fulfillment/shipment/{parcel.pk}/change/").content.decode()
    assert str(services.shipment_insured_value(parcel)) in change and str(order.insurance_fee) in change


def test_staff_pack_and_ship_many_at_once_from_the_list(staff_client, places):
    v = variant()
    stock(places["sh"], v, 10)
    parcels = [paid_order([(v, 1)]).shipments.get() for _ in range(3)]
    ids = [p.pk for p in parcels]
    url = "/admin/fulfillment/shipment/"
    staff_client.post(url, {"action": "mark_packed", "_selected_action": ids})
    assert set(Shipment.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"packed"}
    form = staff_client.post(url, {"action": "ship", "_selected_action": ids})
    assert form.status_code == 200 and f'name="tracking-{ids[0]}"'.encode() in form.content
    staff_client.post(
        url,
        {
            "action": "ship",
            "_selected_action": ids,
            "apply": "1",
            "carrier": "own_fleet",
            f"tracking-{ids[0]}": "YT123",
        },
    )
    shipped = {s.pk: s for s in Shipment.objects.filter(pk__in=ids)}
    assert {s.status for s in shipped.values()} == {"shipped"}
    assert shipped[ids[0]].tracking_number == "YT123"
    assert all(s.tracking_number.startswith("OF") for pk, s in shipped.items() if pk != ids[0])
    assert all(s.shipped_by.email == "picker@example.com" for s in shipped.values())
    assert levels(places["sh"], v) == (7, 0)


def test_staff_record_an_own_fleet_delivery(staff_client, places):
    v = variant()
    stock(places["sh"], v, 5)
    order = paid_order([(v, 1)])
    parcel = order.shipments.get()
    services.shipment_ship(shipment_id=parcel.pk, carrier="own_fleet")
    url = f"/admin/fulfillment/shipment/{parcel.pk}/record-event/"
    refused = staff_client.post(url, {"kind": "delivered"})
    assert refused.status_code == 200  # a delivery needs who signed
    parcel.refresh_from_db()
    assert parcel.status == "shipped"
    staff_client.post(url, {"kind": "delivered", "signed_by": "王芳", "location": "上海"})
    parcel.refresh_from_db()
    order.refresh_from_db()
    assert (parcel.status, parcel.signed_by) == ("delivered", "王芳")
    assert order.delivered_at == parcel.delivered_at


def test_staff_reroute_from_the_admin(staff_client, places):
    v = variant()
    stock(places["sh"], v, 5)
    stock(places["bj"], v, 5)
    order = paid_order([(v, 2)], province="上海", city="上海")
    parcel = order.shipments.get()
    assert parcel.warehouse.code == "sh"
    staff_client.post(
        "/admin/fulfillment/shipment/",
        {"action": "reroute", "_selected_action": [parcel.pk], "apply": "1", "warehouse": places["bj"].pk},
    )
    parcel.refresh_from_db()
    assert parcel.status == "cancelled"
    new = order.shipments.exclude(pk=parcel.pk).get()
    assert new.warehouse.code == "bj"
    assert levels(places["sh"], v) == (5, 0) and levels(places["bj"], v) == (5, 2)


def test_order_page_in_the_admin_lists_its_parcels(admin_client, places):
    v = variant()
    stock(places["sh"], v, 5)
    order = paid_order([(v, 1)])
    page = admin_client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    assert f"{order.number}-1" in page


# -- purchase orders -------------------------------------------------------------------------


def purchase_order(warehouse, lines, user=None):
    supplier = Supplier.objects.create(name=f"供应商{Supplier.objects.count() + 1}")
    po = PurchaseOrder.objects.create(
        number=services.purchase_order_number_new(), supplier=supplier, warehouse=warehouse, created_by=user
    )
    for v, quantity, cost in lines:
        po.lines.create(variant=v, quantity=quantity, unit_cost=Decimal(cost))
    return po


def test_purchase_order_received_in_parts(places, staff_user):
    a, b = variant(), variant()
    po = purchase_order(places["gz"], [(a, 10, "12.50"), (b, 4, "30.00")], staff_user)
    with pytest.raises(FulfillmentError):  # a draft is not awaiting goods
        services.purchase_order_receive(po_id=po.pk, quantities={po.lines.first().pk: 1})
    services.purchase_order_place(po_id=po.pk)
    line_a, line_b = po.lines.order_by("pk")
    services.purchase_order_receive(po_id=po.pk, quantities={line_a.pk: 6}, actor=staff_user)
    po.refresh_from_db()
    assert po.status == "partly_received"
    assert levels(places["gz"], a) == (6, 0)
    movement = StockMovement.objects.get(variant=a)
    assert (movement.reason, movement.reference, movement.actor) == ("receive", po.number, staff_user)

    with pytest.raises(FulfillmentError) as over:
        services.purchase_order_receive(po_id=po.pk, quantities={line_a.pk: 4, line_b.pk: 5})
    assert over.value.code == FulfillmentErrorCode.PO_OVER_RECEIVED
    assert levels(places["gz"], a) == (6, 0)  # all or nothing: line a's 4 were not taken either
    assert not Stock.objects.filter(variant=b, on_hand__gt=0).exists()

    services.purchase_order_receive(po_id=po.pk, quantities={line_a.pk: 4, line_b.pk: 4})
    po.refresh_from_db()
    assert po.status == "received" and po.received_at
    assert levels(places["gz"], a) == (10, 0) and levels(places["gz"], b) == (4, 0)
    a.product.refresh_from_db()
    assert a.product.in_stock


def test_purchase_order_admin_receive_page(staff_client, places, staff_user):
    v = variant()
    po = purchase_order(places["sh"], [(v, 5, "8.00")], staff_user)
    services.purchase_order_place(po_id=po.pk)
    line = po.lines.get()
    url = f"/admin/fulfillment/purchaseorder/{po.pk}/receive/"
    assert staff_client.get(url).status_code == 200
    too_many = staff_client.post(url, {f"line-{line.pk}": 6})
    assert too_many.status_code == 200  # the form again, with the error
    assert not Stock.objects.filter(variant=v, on_hand__gt=0).exists()
    staff_client.post(url, {f"line-{line.pk}": 2})
    assert levels(places["sh"], v) == (2, 0)
    assert PurchaseOrder.objects.get(pk=po.pk).status == "partly_received"


def test_a_placed_purchase_order_cannot_be_edited_or_cancelled_after_receiving(places, staff_user):
    v = variant()
    po = purchase_order(places["sh"], [(v, 5, "8.00")], staff_user)
    services.purchase_order_place(po_id=po.pk)
    with pytest.raises(FulfillmentError):
        services.purchase_order_place(po_id=po.pk)
    services.purchase_order_receive(po_id=po.pk, quantities={po.lines.get().pk: 1})
    with pytest.raises(FulfillmentError) as refused:
        services.purchase_order_cancel(po_id=po.pk)
    assert refused.value.code == FulfillmentErrorCode.PO_NOT_CANCELLABLE


# -- warehouse staff permissions -------------------------------------------------------------


def test_warehouse_staff_can_ship_and_receive_but_not_change_prices_or_money(staff_client, places):
    v = variant(price="50.00")
    stock(places["sh"], v, 5)
    order = paid_order([(v, 1)])
    assert staff_client.get("/admin/fulfillment/shipment/").status_code == 200
    assert staff_client.get("/admin/fulfillment/purchaseorder/add/").status_code == 200
    assert staff_client.get(f"/admin/orders/order/{order.pk}/change/").status_code == 200  # view only
    product_url = f"/admin/catalog/product/{v.product_id}/change/"
    page = staff_client.get(product_url)
    assert page.status_code == 200 and b'name="price"' not in page.content  # read-only
    staff_client.post(product_url, {"name": v.product.name, "price": "1.00"})
    v.refresh_from_db()
    assert v.price == Decimal("50.00")
    assert staff_client.get("/admin/payments/payment/").status_code == 403
    assert staff_client.get("/admin/payments/wallet/").status_code == 403
    index = staff_client.get("/admin/").content.decode()
    assert "/admin/payments/" not in index


def test_staff_without_the_group_cannot_ship_or_receive(client, places):
    clerk = factories.UserFactory(email="clerk@example.com", is_staff=True)
    client.force_login(clerk)
    v = variant()
    stock(places["sh"], v, 5)
    parcel = paid_order([(v, 1)]).shipments.get()
    assert client.get("/admin/fulfillment/shipment/").status_code == 403
    assert client.get(f"/admin/fulfillment/shipment/{parcel.pk}/record-event/").status_code == 403
    po = purchase_order(places["sh"], [(v, 5, "8.00")])
    assert client.get(f"/admin/fulfillment/purchaseorder/{po.pk}/receive/").status_code == 403


def test_the_group_is_made_by_migrate():
    group = Group.objects.get(name=WAREHOUSE_GROUP)
    codenames = set(group.permissions.values_list("codename", flat=True))
    assert {"change_shipment", "receive_purchaseorder"} <= codenames
    assert not {"change_product", "change_productvariant", "change_payment", "change_wallet"} & codenames


# -- low stock digest ----------------------------------------------------------------------------


def test_low_stock_digest_goes_to_warehouse_staff_once_a_day(places, staff_user):
    low, plenty = variant(), variant()
    low.low_stock_threshold = 3
    low.save()
    stock(places["sh"], low, 4)
    stock(places["sh"], plenty, 50)
    assert services.low_stock_digest_queue() == 0  # 4 available > 3: nothing low yet
    placed_order([(low, 2)])  # 2 available now
    assert services.low_stock_digest_queue() == 1
    assert services.low_stock_digest_queue() == 1  # the same day again: still one mail
    mail = Notification.objects.get(kind="low_stock")
    assert mail.to == "picker@example.com"
    rows = mail.context["warehouses"][places["sh"].name]
    assert [(r["sku"], r["available"], r["threshold"]) for r in rows] == [(low.sku, 2, 3)]


def test_purchase_orders_placed_and_cancelled_from_the_admin_list(staff_client, places, staff_user):
    v = variant()
    draft = purchase_order(places["sh"], [(v, 5, "8.00")], staff_user)
    empty = purchase_order(places["sh"], [], staff_user)
    url = "/admin/fulfillment/purchaseorder/"
    staff_client.post(url, {"action": "place", "_selected_action": [draft.pk, empty.pk]})
    draft.refresh_from_db()
    empty.refresh_from_db()
    assert (draft.status, empty.status) == ("ordered", "draft")  # an empty PO is refused, the other placed
    staff_client.post(url, {"action": "cancel", "_selected_action": [draft.pk]})
    draft.refresh_from_db()
    assert draft.status == "cancelled"


def test_staff_write_a_purchase_order_in_the_admin(staff_client, places, staff_user):
    v = variant()
    supplier = Supplier.objects.create(name="义乌供应商")
    response = staff_client.post(
        "/admin/fulfillment/purchaseorder/add/",
        {
            "supplier": supplier.pk,
            "warehouse": places["gz"].pk,
            "expected_on": "2026-12-01",
            "note": "年货",
            "lines-TOTAL_FORMS": "1",
            "lines-INITIAL_FORMS": "0",
            "lines-MIN_NUM_FORMS": "0",
            "lines-MAX_NUM_FORMS": "1000",
            "lines-0-variant": v.pk,
            "lines-0-quantity": "40",
            "lines-0-unit_cost": "9.90",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    po = PurchaseOrder.objects.get(supplier=supplier)
    assert po.number.startswith("PO") and po.status == "draft" and po.created_by == staff_user
    assert [(line.variant_id, line.quantity, line.unit_cost) for line in po.lines.all()] == [
        (v.pk, 40, Decimal("9.90"))
    ]
    listing = staff_client.get("/admin/fulfillment/purchaseorder/").content.decode()
    assert po.number in listing and "396.00" in listing  # total cost


def test_an_imported_stock_count_is_a_movement_by_the_importer(places, staff_user):
    import tablib

    from fulfillment.resources import StockResource

    v = variant()
    stock(places["sh"], v, 5)
    data = tablib.Dataset(["sh", v.sku, 12, ""], headers=["warehouse", "sku", "on_hand", "reserved"])
    result = StockResource().import_data(data, dry_run=False, user=staff_user)
    assert not result.has_errors() and not result.has_validation_errors()
    movement = StockMovement.objects.filter(variant=v).order_by("-pk").first()
    assert (movement.reason, movement.on_hand_delta, movement.actor, movement.note) == (
        "count",
        7,
        staff_user,
        "imported count",
    )


# -- found in review -----------------------------------------------------------------------------


def test_choosing_cash_on_delivery_on_the_order_page_makes_the_parcel_collect(places):
    from payments.services import cod_accept

    v = variant(price="58.00")
    stock(places["sh"], v, 5)
    order = placed_order([(v, 1)], payment_method="sandbox")
    cod_accept(order_id=order.pk, user=order.customer)
    order.refresh_from_db()
    assert order.payment_method == "cod"
    assert order.shipments.get().cod_amount == order.total


def test_paying_online_an_order_placed_for_cash_on_delivery_collects_nothing(places):
    from orders.services import order_mark_paid

    v = variant(price="58.00")
    stock(places["sh"], v, 5)
    order = placed_order([(v, 1)], payment_method="cod")
    order_mark_paid(order_id=order.pk, amount=order.total, reference="GW-1", method="sandbox")
    order.refresh_from_db()
    assert order.payment_method == "sandbox"
    assert order.shipments.get().cod_amount == 0  # paid already: the courier must not collect again


def test_a_cash_on_delivery_delivery_needs_the_cash_collected(places):
    v = variant(price="30.00")
    stock(places["sh"], v, 5)
    order = paid_order([(v, 1)], payment_method="cod")
    parcel = order.shipments.get()
    services.shipment_ship(shipment_id=parcel.pk, carrier="own_fleet")
    with pytest.raises(FulfillmentError) as refused:
        services.shipment_record_event(shipment_id=parcel.pk, kind="delivered", signed_by="王芳")
    assert refused.value.code == FulfillmentErrorCode.CASH_REQUIRED
    parcel.refresh_from_db()
    assert parcel.status == "shipped"


def test_a_tracking_number_too_long_is_refused_cleanly(staff_client, places):
    v = variant()
    stock(places["sh"], v, 5)
    parcel = paid_order([(v, 1)]).shipments.get()
    with pytest.raises(FulfillmentError) as refused:
        services.shipment_ship(shipment_id=parcel.pk, carrier="own_fleet", tracking_number="9" * 41)
    assert refused.value.code == FulfillmentErrorCode.TRACKING_TOO_LONG
    response = staff_client.post(
        "/admin/fulfillment/shipment/",
        {
            "action": "ship",
            "_selected_action": [parcel.pk],
            "apply": "1",
            "carrier": "own_fleet",
            f"tracking-{parcel.pk}": "9" * 41,
        },
    )
    assert response.status_code == 302  # back to the list with the message, not a 500
    parcel.refresh_from_db()
    assert parcel.status == "pending"


def test_pick_list_with_a_bad_warehouse_is_a_404(staff_client):
    assert staff_client.get("/admin/fulfillment/shipment/pick-list/", {"warehouse": "abc"}).status_code == 404


def test_the_same_delivery_submitted_twice_is_received_once(staff_client, places, staff_user):
    v = variant()
    po = purchase_order(places["sh"], [(v, 10, "8.00")], staff_user)
    services.purchase_order_place(po_id=po.pk)
    line = po.lines.get()
    url = f"/admin/fulfillment/purchaseorder/{po.pk}/receive/"
    form = {f"line-{line.pk}": 5, f"seen-{line.pk}": 0}
    staff_client.post(url, form)
    again = staff_client.post(url, form)  # the browser resends the same page
    assert again.status_code == 302 and again.url == url
    assert levels(places["sh"], v) == (5, 0)
    line.refresh_from_db()
    assert line.received_quantity == 5


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("run", range(10))
def test_rerouting_while_customers_check_out_never_deadlocks(run):
    """Re-routing locks the variants' stock rows in the same order as checkout before it
    releases anything; releasing first deadlocked against a concurrent checkout."""
    from cart.exceptions import CartError

    places = warehouses()
    v = variant()
    stock(places["bj"], v, 50)
    stock(places["sh"], v, 50)
    order = paid_order([(v, 2)], province="上海", city="上海")
    barrier = threading.Barrier(3)
    errors = []

    def reroute():
        try:
            barrier.wait()
            services.order_reroute(order_id=order.pk, warehouse_id=places["bj"].pk)
        except Exception as exc:  # any error is the failure we look for
            errors.append(exc)
        finally:
            close_old_connections()

    def checkout(city):
        try:
            barrier.wait()
            placed_order([(v, 1)], province=city, city=city)
        except CartError:
            pass
        except Exception as exc:
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=reroute)] + [
        threading.Thread(target=checkout, args=(c,)) for c in ("北京", "上海")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(Stock.objects.filter(variant=v).values_list("reserved", flat=True)) == 4


def test_a_gateway_success_after_accepting_cash_on_delivery_stops_the_collection(places):
    """The customer opened the gateway, came back and chose cash on delivery, then paid at the
    gateway after all: the money is ours, so the courier must not collect as well."""
    from payments.models import Payment
    from payments.providers import GatewayResult
    from payments.services import cod_accept, payment_apply, payment_start

    v = variant(price="58.00")
    stock(places["sh"], v, 5)
    order = placed_order([(v, 1)], payment_method="sandbox")
    payment_start(order=order, provider="sandbox", return_url="http://x/r", notify_url="http://x/n")
    online = Payment.objects.get(order=order, provider="sandbox")
    cod_accept(order_id=order.pk, user=order.customer)
    assert order.shipments.get().cod_amount == order.total
    result = GatewayResult(
        reference=online.reference, transaction_id="T-1", amount=order.total, currency=order.currency,
        merchant_id="", succeeded=True,
    )  # fmt: skip
    payment_apply(payment_id=online.pk, result=result)
    order.refresh_from_db()
    assert order.payment_method == "sandbox" and order.status == "paid"
    assert order.shipments.get().cod_amount == 0
    states = dict(Payment.objects.filter(order=order).values_list("provider", "state"))
    assert states == {"sandbox": "captured", "cod": "withdrawn"}
    payment_apply(payment_id=online.pk, result=result)  # the gateway's retry changes nothing
    assert dict(Payment.objects.filter(order=order).values_list("provider", "state")) == states


@pytest.mark.parametrize("url", ["/admin/fulfillment/shipment/", "/admin/fulfillment/purchaseorder/"])
def test_staff_lists_take_the_same_queries_for_2_or_6_rows(admin_client, places, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    v = variant()
    stock(places["sh"], v, 50)

    def add_rows(n):
        for _ in range(n):
            paid_order([(v, 1)], insured=True)
            purchase_order(places["sh"], [(v, 3, "8.00"), (variant(), 2, "5.00")])

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(url).status_code == 200
        return len(captured)

    add_rows(2)
    few = queries()
    add_rows(4)
    assert queries() == few


def test_staff_see_low_stock_and_mail_the_digest_from_the_admin(staff_client, places):
    low, plenty = variant(), variant()
    low.low_stock_threshold = 3
    low.save()
    stock(places["sh"], low, 2)
    stock(places["sh"], plenty, 50)
    page = staff_client.get("/admin/fulfillment/stock/", {"level": "low"}).content.decode()
    assert low.sku in page and plenty.sku not in page
    staff_client.post(
        "/admin/fulfillment/warehouse/", {"action": "mail_low_stock_digest", "_selected_action": [places["sh"].pk]}
    )
    assert Notification.objects.filter(kind="low_stock", to="picker@example.com").count() == 1
