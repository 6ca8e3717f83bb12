"""Following parcels, against the express carrier's sandbox over real HTTP: the waybill made
when a parcel ships, tracking events polled until delivery and stored once however often they
are reported, a carrier outage backed off, the periodic poll through a real Celery worker, cash
on delivery captured once, own-fleet deliveries recorded by staff, receipt confirmed by the
customer or automatically, and the customer's tracking and confirm-receipt pages."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from fulfillment import carriers, services
from fulfillment.carrier_sandbox import DELIVERED_WITHIN, start_in_thread
from fulfillment.exceptions import FulfillmentError, FulfillmentErrorCode
from fulfillment.models import Reservation, Shipment, Stock, StockMovement, TrackingEvent
from fulfillment.tasks import poll_shipments
from orders.exceptions import OrderError, OrderErrorCode
from orders.models import Notification, Order, OrderEvent
from orders.services import order_confirm_receipt, orders_auto_confirm
from payments.models import Payment
from tests import factories
from tests.fulfillment.support import paid_order, stock, variant, warehouses
from tests.purchase import english, last_message

pytestmark = pytest.mark.django_db

KEY = "tracking-test-key"
# A waybill is delivered 36-60 h after it is made, or by 87.5 h after a failed first attempt.
DELIVERED_BY = round(DELIVERED_WITHIN.total_seconds() / 3600)
Kind = Notification.Kind
Status = Shipment.Status


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


def order_from(warehouse, *, quantity: int = 2, payment_method: str = "sandbox") -> Order:
    """A paid order of a Shanghai customer for goods held only in `warehouse`: one parcel."""
    v = variant(price="80.00", weight=700)
    stock(warehouse, v, 10)
    return paid_order([(v, quantity)], payment_method=payment_method)


def ship_express(parcel: Shipment, sandbox, *, exception: bool = False) -> Shipment:
    """Ship with the express carrier (which makes the waybill) and fix the story the sandbox
    tells: with or without a failed first delivery, rather than as the waybill's hash decides."""
    shipped = services.shipment_ship(shipment_id=parcel.pk, carrier="express")
    sandbox.scenario(shipped.tracking_number, exception=exception)
    return shipped


def waybill_state(sandbox, number: str) -> dict:
    [row] = [row for row in sandbox.state()["waybills"] if row["tracking_number"] == number]
    return row


def carrier_events(number: str) -> list[carriers.TrackingUpdate]:
    """What the carrier reports for a waybill now (one more /v1 request)."""
    return carriers.carrier("express").fetch_events(number)


def poll(parcel: Shipment) -> int:
    return services.shipment_poll(shipment_id=parcel.pk)


def stored_ids(parcel: Shipment) -> list[str]:
    return list(TrackingEvent.objects.filter(shipment=parcel).values_list("external_id", flat=True))


def mails(order: Order, kind: str) -> int:
    return Notification.objects.filter(order=order, kind=kind).count()


# -- shipping ---------------------------------------------------------------------------------


def test_shipping_with_express_gets_the_waybill_from_the_carrier_once(sandbox, places):
    v = variant(price="80.00", weight=700)
    stock(places["bj"], v, 10)
    order = paid_order([(v, 2)])
    parcel = order.shipments.get()
    row = Stock.objects.get(warehouse=places["bj"], variant=v)
    assert (row.on_hand, row.reserved) == (10, 2)

    shipped = services.shipment_ship(shipment_id=parcel.pk, carrier="express")

    assert re.fullmatch(r"SX\d{12}", shipped.tracking_number)
    [waybill] = sandbox.state()["waybills"]  # made by the carrier, for this parcel
    assert (waybill["tracking_number"], waybill["reference"]) == (shipped.tracking_number, parcel.number)
    parcel.refresh_from_db()
    assert (parcel.status, parcel.carrier, parcel.tracking_number) == (
        Status.SHIPPED,
        "express",
        waybill["tracking_number"],
    )
    assert parcel.next_poll_at is not None and parcel.next_poll_at > parcel.shipped_at
    row.refresh_from_db()
    assert (row.on_hand, row.reserved) == (8, 0)  # committed: the goods left
    assert set(Reservation.objects.filter(order=order).values_list("state", flat=True)) == {"shipped"}
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    mail = Notification.objects.get(order=order, kind=Kind.SHIPMENT_SHIPPED)
    assert (mail.context["shipment"], mail.context["tracking_number"]) == (parcel.number, parcel.tracking_number)

    # Shipping it again is refused before the carrier is asked: the injected fault stays unused.
    movements = StockMovement.objects.count()
    sandbox.fail_next(1)
    for tracking_number in ("", "SX000000000001"):
        with pytest.raises(FulfillmentError) as refused:
            services.shipment_ship(shipment_id=parcel.pk, carrier="express", tracking_number=tracking_number)
        assert refused.value.code == FulfillmentErrorCode.NOT_OPEN
    assert sandbox.state()["faults"]["fail_next"] == 1
    assert len(sandbox.state()["waybills"]) == 1
    parcel.refresh_from_db()
    assert (parcel.status, parcel.tracking_number) == (Status.SHIPPED, shipped.tracking_number)
    row.refresh_from_db()
    assert (row.on_hand, row.reserved) == (8, 0)
    assert StockMovement.objects.count() == movements
    assert mails(order, Kind.SHIPMENT_SHIPPED) == 1


def test_a_carrier_outage_or_refusal_while_shipping_ships_nothing(sandbox, places):
    order = order_from(places["bj"])
    parcel = order.shipments.get()

    sandbox.fail_next(1)  # 503: try again later
    with pytest.raises(FulfillmentError) as unavailable:
        services.shipment_ship(shipment_id=parcel.pk, carrier="express")
    assert unavailable.value.code == FulfillmentErrorCode.CARRIER_UNAVAILABLE
    sandbox.fail_next(1, status=400)  # refused: retrying will not help
    with pytest.raises(FulfillmentError) as refused:
        services.shipment_ship(shipment_id=parcel.pk, carrier="express")
    assert refused.value.code == FulfillmentErrorCode.CARRIER_REFUSED

    parcel.refresh_from_db()
    assert (parcel.status, parcel.tracking_number) == (Status.PENDING, "")
    assert sandbox.state()["waybills"] == []
    assert set(Reservation.objects.filter(order=order).values_list("state", flat=True)) == {"held"}
    assert mails(order, Kind.SHIPMENT_SHIPPED) == 0

    shipped = services.shipment_ship(shipment_id=parcel.pk, carrier="express")  # the carrier is back
    assert shipped.status == Status.SHIPPED
    assert [w["tracking_number"] for w in sandbox.state()["waybills"]] == [shipped.tracking_number]


# -- polling ----------------------------------------------------------------------------------


def test_polling_stores_each_event_once_and_delivers_the_parcel(sandbox, places):
    order = order_from(places["bj"])
    parcel = ship_express(order.shipments.get(), sandbox)
    number = parcel.tracking_number

    assert poll(parcel) == 0  # not collected yet
    parcel.refresh_from_db()
    assert parcel.status == Status.SHIPPED

    sandbox.advance(hours=6)  # collected 0.5-1.5 h after the waybill was made
    shown = waybill_state(sandbox, number)["events_shown"]
    assert shown >= 1
    assert poll(parcel) == shown
    assert poll(parcel) == 0  # nothing new: nothing stored
    assert stored_ids(parcel) == [f"{number}-{n}" for n in range(1, shown + 1)]
    parcel.refresh_from_db()
    assert parcel.status == Status.IN_TRANSIT
    assert parcel.next_poll_at > timezone.now()

    sandbox.advance(hours=DELIVERED_BY)
    planned = waybill_state(sandbox, number)["events_planned"]
    assert poll(parcel) == planned - shown
    reported = carrier_events(number)
    assert stored_ids(parcel) == [u.external_id for u in reported]  # every event, each once
    delivery = reported[-1]
    assert delivery.kind == carriers.DELIVERED and delivery.signed_by
    parcel.refresh_from_db()
    assert parcel.status == Status.DELIVERED
    assert (parcel.delivered_at, parcel.signed_by) == (delivery.occurred_at, delivery.signed_by)

    # Polled again, or the whole history reported again: nothing stored, nothing mailed twice.
    assert poll(parcel) == 0
    assert services.shipment_record_updates(shipment_id=parcel.pk, updates=reported) == 0
    assert TrackingEvent.objects.filter(shipment=parcel).count() == planned
    assert mails(order, Kind.SHIPMENT_DELIVERED) == 1
    order.refresh_from_db()
    assert order.delivered_at == parcel.delivered_at
    assert order.status == Order.Status.SHIPPED  # delivered; the customer (or the clock) confirms


def test_the_parcel_follows_a_failed_first_delivery(sandbox, places):
    """Polled every 20 minutes of carrier time: the parcel goes in transit, has a delivery
    problem, goes out again and is delivered; every event is stored once."""
    order = order_from(places["bj"])
    parcel = ship_express(order.shipments.get(), sandbox, exception=True)
    statuses, stored = [Status.SHIPPED], 0
    for _step in range(3 * DELIVERED_BY):  # a 20-minute step is shorter than any status lasts
        sandbox.advance(hours=1 / 3)
        stored += poll(parcel)
        parcel.refresh_from_db()
        if parcel.status != statuses[-1]:
            statuses.append(parcel.status)
        if parcel.status == Status.DELIVERED:
            break
    assert statuses == [Status.SHIPPED, Status.IN_TRANSIT, Status.EXCEPTION, Status.IN_TRANSIT, Status.DELIVERED]
    kinds = list(TrackingEvent.objects.filter(shipment=parcel).values_list("kind", flat=True))
    assert kinds[-4:] == ["out_for_delivery", "exception", "out_for_delivery", "delivered"]
    assert stored == len(kinds) == waybill_state(sandbox, parcel.tracking_number)["events_planned"]
    assert mails(order, Kind.SHIPMENT_DELIVERED) == 1


def test_the_order_is_delivered_with_its_last_parcel(sandbox, places):
    from_beijing, from_guangzhou = variant(), variant()
    stock(places["bj"], from_beijing, 5)
    stock(places["gz"], from_guangzhou, 5)
    order = paid_order([(from_beijing, 1), (from_guangzhou, 1)])
    first, second = order.shipments.order_by("number")
    first = ship_express(first, sandbox)
    sandbox.advance(hours=DELIVERED_BY)
    second = ship_express(second, sandbox)  # a waybill made 80 carrier hours later

    assert poll(first) > 0 and poll(second) == 0
    first.refresh_from_db()
    order.refresh_from_db()
    assert first.status == Status.DELIVERED
    assert order.delivered_at is None  # one parcel still on its way
    assert mails(order, Kind.SHIPMENT_DELIVERED) == 1

    sandbox.advance(hours=DELIVERED_BY)
    assert poll(second) > 0
    second.refresh_from_db()
    order.refresh_from_db()
    assert second.status == Status.DELIVERED
    assert order.delivered_at == second.delivered_at > first.delivered_at
    assert mails(order, Kind.SHIPMENT_DELIVERED) == 2  # one per parcel


# -- carrier errors ---------------------------------------------------------------------------


def test_an_unreachable_carrier_is_asked_again_later_and_later(sandbox, places, settings):
    settings.CARRIER_POLL_SECONDS = 60
    settings.CARRIER_POLL_BACKOFF_MAX_SECONDS = 300
    order = order_from(places["bj"])
    parcel = ship_express(order.shipments.get(), sandbox)
    sandbox.advance(hours=6)

    sandbox.fail_next(4)
    for failures, delay in ((1, 120), (2, 240), (3, 300), (4, 300)):  # doubling, up to the cap
        before = timezone.now()
        with pytest.raises(carriers.CarrierUnavailable):
            poll(parcel)
        after = timezone.now()
        parcel.refresh_from_db()
        assert (parcel.poll_failures, parcel.status) == (failures, Status.SHIPPED)
        assert "503" in parcel.last_poll_error
        assert before + timedelta(seconds=delay) <= parcel.next_poll_at <= after + timedelta(seconds=delay)
    assert stored_ids(parcel) == []

    # The periodic poll leaves it alone until then.
    assert services.shipments_due_for_poll(now=parcel.next_poll_at - timedelta(seconds=1)) == []
    assert services.shipments_due_for_poll(now=parcel.next_poll_at) == [parcel.pk]

    before = timezone.now()
    assert poll(parcel) > 0  # the faults are used up: the carrier answers again
    parcel.refresh_from_db()
    assert (parcel.poll_failures, parcel.last_poll_error, parcel.status) == (0, "", Status.IN_TRANSIT)
    assert before + timedelta(seconds=60) <= parcel.next_poll_at <= timezone.now() + timedelta(seconds=60)


def test_an_unknown_waybill_is_recorded_not_raised(sandbox, places, settings):
    settings.CARRIER_POLL_SECONDS = 60
    order = order_from(places["bj"])
    parcel = services.shipment_ship(  # a number typed by staff that the carrier never issued
        shipment_id=order.shipments.get().pk, carrier="express", tracking_number="SX000000000001"
    )
    before = timezone.now()
    assert poll(parcel) == 0
    parcel.refresh_from_db()
    assert (parcel.poll_failures, parcel.status) == (1, Status.SHIPPED)
    assert "unknown waybill" in parcel.last_poll_error
    assert parcel.next_poll_at >= before + timedelta(seconds=120)
    assert stored_ids(parcel) == []


# -- through a real worker ------------------------------------------------------------------


def worker_log_since(worker, start: int) -> list[str]:
    return worker.log()[start:].splitlines()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_periodic_poll_runs_in_the_worker_until_delivered(tracking_worker, worker_sandbox, places, settings):
    settings.CARRIER_POLL_SECONDS = 0  # due for a poll as soon as it ships
    start = len(tracking_worker.log())
    order = order_from(places["bj"])
    parcel = ship_express(order.shipments.get(), worker_sandbox)
    worker_sandbox.advance(hours=DELIVERED_BY)

    sent = poll_shipments.delay()
    tracking_worker.wait_for(
        lambda: Shipment.objects.filter(pk=parcel.pk, status=Status.DELIVERED).exists(), "the worker to deliver"
    )
    assert tracking_worker.task_done(sent.id)
    planned = waybill_state(worker_sandbox, parcel.tracking_number)["events_planned"]
    assert TrackingEvent.objects.filter(shipment=parcel).count() == planned
    assert mails(order, Kind.SHIPMENT_DELIVERED) == 1
    order.refresh_from_db()
    assert order.delivered_at is not None

    again = poll_shipments.delay()  # a delivered parcel is not due any more
    tracking_worker.wait_for(lambda: tracking_worker.task_done(again.id), "the second periodic poll")
    [done] = [line for line in worker_log_since(tracking_worker, start) if f"[{again.id}] succeeded" in line]
    assert done.endswith(": 0")
    tracked = [line for line in worker_log_since(tracking_worker, start) if "track_shipment" in line]
    assert sum("succeeded" in line for line in tracked) == 1
    assert TrackingEvent.objects.filter(shipment=parcel).count() == planned


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_retries_an_unreachable_carrier_and_still_delivers(
    tracking_worker, worker_sandbox, places, settings
):
    settings.CARRIER_POLL_SECONDS = 0
    start = len(tracking_worker.log())
    order = order_from(places["bj"], payment_method="cod")
    parcel = ship_express(order.shipments.get(), worker_sandbox)
    worker_sandbox.advance(hours=DELIVERED_BY)
    worker_sandbox.fail_next(2)

    poll_shipments.delay()
    tracking_worker.wait_for(
        lambda: Shipment.objects.filter(pk=parcel.pk, status=Status.DELIVERED).exists(),
        "the worker to deliver after retrying",
    )
    log = worker_log_since(tracking_worker, start)
    retries = [line for line in log if "fulfillment.tasks.track_shipment" in line and " retry: " in line]
    assert len(retries) == 2, "\n".join(log)
    assert all("injected fault (HTTP 503)" in line for line in retries)
    assert worker_sandbox.state()["faults"]["fail_next"] == 0
    parcel.refresh_from_db()
    assert (parcel.poll_failures, parcel.last_poll_error) == (0, "")
    ids = stored_ids(parcel)
    assert len(ids) == len(set(ids)) == waybill_state(worker_sandbox, parcel.tracking_number)["events_planned"]
    assert mails(order, Kind.SHIPMENT_DELIVERED) == 1
    assert Payment.objects.get(order=order, provider="cod").state == Payment.State.CAPTURED


# -- cash on delivery and the own fleet -------------------------------------------------------


def test_cash_on_delivery_is_captured_once_when_the_carrier_delivers(sandbox, places):
    order = order_from(places["bj"], payment_method="cod")
    payment = Payment.objects.get(order=order, provider="cod")
    assert payment.state == Payment.State.AWAITING_COLLECTION
    parcel = ship_express(order.shipments.get(), sandbox)
    assert parcel.cod_amount == order.total
    sandbox.advance(hours=DELIVERED_BY)

    assert poll(parcel) > 0
    reported = carrier_events(parcel.tracking_number)
    assert f"代收货款{order.total}元" in reported[-2].description  # the carrier knew the cash to take
    parcel.refresh_from_db()
    assert (parcel.status, parcel.cod_collected, parcel.signed_by) == (Status.DELIVERED, order.total, "张三")
    payment.refresh_from_db()
    assert (payment.state, payment.transaction_id) == (Payment.State.CAPTURED, parcel.number)
    captured_at = payment.captured_at

    assert poll(parcel) == 0  # re-polled
    assert services.shipment_record_updates(shipment_id=parcel.pk, updates=reported) == 0
    assert Payment.objects.filter(order=order).count() == 1
    payment.refresh_from_db()
    assert (payment.state, payment.captured_at) == (Payment.State.CAPTURED, captured_at)


def test_staff_record_own_fleet_events_and_a_signed_delivery_collects_the_cash(places):
    staff = factories.UserFactory(is_staff=True)
    order = order_from(places["bj"], payment_method="cod")
    parcel = services.shipment_ship(shipment_id=order.shipments.get().pk, carrier="own_fleet", actor=staff)
    assert parcel.tracking_number.startswith("OF")
    assert services.shipments_due_for_poll(now=timezone.now() + timedelta(days=30)) == []  # nothing to poll

    assert (
        services.shipment_record_event(
            shipment_id=parcel.pk, kind="collected", description="司机已取件", location="北京", actor=staff
        )
        == 1
    )
    parcel.refresh_from_db()
    assert parcel.status == Status.IN_TRANSIT
    assert TrackingEvent.objects.get(shipment=parcel).recorded_by == staff

    with pytest.raises(FulfillmentError) as unsigned:
        services.shipment_record_event(
            shipment_id=parcel.pk, kind="delivered", signed_by="  ", cod_collected=order.total
        )
    assert unsigned.value.code == FulfillmentErrorCode.SIGNATURE_REQUIRED
    parcel.refresh_from_db()
    assert (parcel.status, TrackingEvent.objects.filter(shipment=parcel).count()) == (Status.IN_TRANSIT, 1)
    assert Payment.objects.get(order=order, provider="cod").state == Payment.State.AWAITING_COLLECTION

    services.shipment_record_event(
        shipment_id=parcel.pk, kind="delivered", signed_by=" 张三 ", cod_collected=order.total, actor=staff
    )
    parcel.refresh_from_db()
    assert (parcel.status, parcel.signed_by, parcel.cod_collected) == (Status.DELIVERED, "张三", order.total)
    payment = Payment.objects.get(order=order, provider="cod")
    assert (payment.state, payment.transaction_id) == (Payment.State.CAPTURED, parcel.number)
    order.refresh_from_db()
    assert order.delivered_at == parcel.delivered_at
    assert mails(order, Kind.SHIPMENT_DELIVERED) == 1


# -- confirming receipt -----------------------------------------------------------------------


def test_a_delivered_order_is_confirmed_automatically_after_the_days_allowed(sandbox, places, settings):
    settings.ORDER_AUTO_CONFIRM_DAYS_AFTER_DELIVERY = 7
    settings.ORDER_AUTO_CONFIRM_DAYS_AFTER_SHIPPING = 15
    order = order_from(places["bj"])
    parcel = ship_express(order.shipments.get(), sandbox)
    sandbox.advance(hours=DELIVERED_BY)
    poll(parcel)
    order.refresh_from_db()
    due = order.delivered_at + timedelta(days=7)
    assert due < order.shipped_at + timedelta(days=15)  # the delivery rule decides, not the shipping one

    with time_machine.travel(due - timedelta(hours=1), tick=False):
        assert orders_auto_confirm() == 0
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    assert mails(order, Kind.ORDER_COMPLETED) == 0

    with time_machine.travel(due, tick=False):
        assert orders_auto_confirm() == 1
    order.refresh_from_db()
    assert (order.status, order.completed_at) == (Order.Status.COMPLETED, due)
    event = OrderEvent.objects.filter(order=order).latest("pk")
    assert (event.actor_kind, event.note) == ("system", "auto-confirmed after delivery")
    assert mails(order, Kind.ORDER_COMPLETED) == 1

    with time_machine.travel(due + timedelta(days=30), tick=False):
        assert orders_auto_confirm() == 0  # once


def test_a_shipped_order_never_reported_delivered_is_confirmed_after_the_shipping_days(places, settings):
    settings.ORDER_AUTO_CONFIRM_DAYS_AFTER_DELIVERY = 7
    settings.ORDER_AUTO_CONFIRM_DAYS_AFTER_SHIPPING = 15
    unshipped = order_from(places["sh"])
    order = order_from(places["bj"])
    services.shipment_ship(shipment_id=order.shipments.get().pk, carrier="own_fleet")
    order.refresh_from_db()
    due = order.shipped_at + timedelta(days=15)

    with time_machine.travel(due - timedelta(hours=1), tick=False):
        assert orders_auto_confirm() == 0
    with time_machine.travel(due, tick=False):
        assert orders_auto_confirm() == 1
    order.refresh_from_db()
    assert order.status == Order.Status.COMPLETED
    assert OrderEvent.objects.filter(order=order).latest("pk").note == "auto-confirmed: no delivery reported"
    assert mails(order, Kind.ORDER_COMPLETED) == 1
    unshipped.refresh_from_db()
    assert unshipped.status == Order.Status.PAID  # nothing to confirm before it ships


def test_the_customer_confirms_receipt_at_once_but_not_before_shipping(places):
    order = order_from(places["bj"])
    owner, stranger = order.customer, factories.UserFactory()

    with pytest.raises(OrderError) as early:
        order_confirm_receipt(order_id=order.pk, customer=owner)
    assert early.value.code == OrderErrorCode.NOT_SHIPPED
    order.refresh_from_db()
    assert order.status == Order.Status.PAID

    services.shipment_ship(shipment_id=order.shipments.get().pk, carrier="own_fleet")
    with pytest.raises(Order.DoesNotExist):
        order_confirm_receipt(order_id=order.pk, customer=stranger)
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED

    order_confirm_receipt(order_id=order.pk, customer=owner)  # no delivery reported: no matter
    order.refresh_from_db()
    assert order.status == Order.Status.COMPLETED
    assert mails(order, Kind.ORDER_COMPLETED) == 1
    assert order_confirm_receipt(order_id=order.pk, customer=owner).status == Order.Status.COMPLETED  # idempotent
    assert mails(order, Kind.ORDER_COMPLETED) == 1


# -- the customer's pages -----------------------------------------------------------------------


def test_the_tracking_page_shows_the_timeline_to_its_owner_only(client, sandbox, places):
    order = order_from(places["bj"])
    parcel = ship_express(order.shipments.get(), sandbox)
    sandbox.advance(hours=DELIVERED_BY)
    poll(parcel)
    parcel.refresh_from_db()
    url = reverse("fulfillment:tracking", kwargs={"number": order.number})
    english(client)

    assert client.get(url).status_code == 302  # to the login page

    client.force_login(order.customer)
    page = client.get(url).content.decode()
    assert parcel.tracking_number in page
    for event in carrier_events(parcel.tracking_number):
        assert event.description in page
    assert f"signed by {parcel.signed_by}" in page
    assert 'id="confirm-receipt"' in page  # delivered, not yet confirmed

    client.force_login(factories.UserFactory())
    answer = client.get(url)
    assert answer.status_code == 404
    assert parcel.tracking_number not in answer.content.decode()


def test_confirm_receipt_page_completes_the_owners_order_only(client, places):
    order = order_from(places["bj"])
    url = reverse("orders:confirm_receipt", kwargs={"number": order.number})
    english(client)

    client.force_login(order.customer)
    answer = client.post(url)  # not shipped yet
    assert answer.status_code == 302
    assert last_message(answer) == "Receipt can be confirmed only once the order has shipped."
    order.refresh_from_db()
    assert order.status == Order.Status.PAID

    services.shipment_ship(shipment_id=order.shipments.get().pk, carrier="own_fleet")
    events = OrderEvent.objects.filter(order=order).count()
    client.force_login(factories.UserFactory())
    assert client.post(url).status_code == 404
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    assert OrderEvent.objects.filter(order=order).count() == events

    client.force_login(order.customer)
    assert client.get(url).status_code == 405  # changes state: POST only
    answer = client.post(url)
    assert answer.status_code == 302 and answer["Location"] == order.get_absolute_url()
    assert last_message(answer) == f"Thank you! Order {order.number} is complete."
    order.refresh_from_db()
    assert order.status == Order.Status.COMPLETED
    assert mails(order, Kind.ORDER_COMPLETED) == 1
