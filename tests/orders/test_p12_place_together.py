"""The place step's rows sent together (P12): the customer's lock and the new order's key taken by
the cart's statement; the cart's lines read with their options; the order, its lines, its two
events, its mail and its payment inserted by one statement (shop.core.inserts.rows_together);
its parcel and the parcel's lines by one. The same rows as before, the mail queued once at the
commit, nothing sent when the block fails, and no batch left open on the connection for the next
request."""

from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from fulfillment.models import Reservation, Shipment, ShipmentLine
from orders.models import Notification, Order, OrderEvent
from orders.services import notification_queue
from payments.models import Payment
from payments.services import wallet_top_up
from shop.core.inserts import rows_insert, rows_together, rows_together_open
from tests.orders.test_checkout_queries import place_with_wallet, variants
from tests.purchase import buyer_with_cart, place

pytestmark = pytest.mark.django_db


def _statements_writing(sqls: list[str], table: str) -> list[str]:
    return [s for s in sqls if f'INSERT INTO "{table}"' in s]


def test_placing_sends_the_orders_rows_in_one_statement_and_the_parcels_in_one(client):
    order, _n = place_with_wallet(client, 2)  # warms the statements up (built once per process)
    user, address, cart = buyer_with_cart([(v, 1) for v in variants(3)])
    wallet_top_up(user=user, amount=Decimal("1000.00"), reference="top-up-p12")

    with CaptureQueriesContext(connection) as queries:
        order = place(user, address, cart, payment_method="wallet")

    sqls = [q["sql"] for q in queries]
    (rows,) = _statements_writing(sqls, "orders_order")
    for table in ("orders_orderline", "orders_orderevent", "orders_notification", "payments_payment"):
        assert _statements_writing(sqls, table) == [rows], table
    (parcels,) = _statements_writing(sqls, "fulfillment_shipment")
    assert _statements_writing(sqls, "fulfillment_shipmentline") == [parcels]
    # The lines are read with their options (one statement: each line's options a JSON column).
    (read,) = [s for s in sqls if 'FROM "cart_cartline"' in s]
    assert "JSONB_AGG" in read and not [s for s in sqls if s.startswith('SELECT "catalog_productvariant_options"')]
    # The customer is locked by the cart's statement, not by one of its own.
    assert not [s for s in sqls if "FOR NO KEY UPDATE" in s and 'FROM "cart_cart"' not in s], sqls
    (lookup,) = [s for s in sqls if 'FROM "cart_cart"' in s]
    assert 'FOR NO KEY UPDATE OF "shop_user"' in lookup and "nextval(" in lookup

    # The same rows, each with its key and its links.
    order = Order.objects.get(pk=order.pk)
    assert order.status == Order.Status.PAID and order.lines.count() == 3
    events = list(OrderEvent.objects.filter(order=order).order_by("pk").values_list("from_status", "to_status"))
    assert events == [("", Order.Status.PENDING_PAYMENT), (Order.Status.PENDING_PAYMENT, Order.Status.PAID)]
    (mail,) = Notification.objects.filter(order=order)
    assert (mail.key, mail.kind, mail.user_id) == (f"order_paid:{order.pk}", "order_paid", user.pk)
    assert mail.context["placed"] is True and len(mail.context["lines"]) == 3
    (payment,) = Payment.objects.filter(order=order)
    assert payment.state == Payment.State.CAPTURED and payment.amount == order.total
    (parcel,) = Shipment.objects.filter(order=order)
    lines = ShipmentLine.objects.filter(shipment=parcel)
    assert sorted(lines.values_list("order_line__variant_id", flat=True)) == sorted(
        order.lines.values_list("variant_id", flat=True)
    )
    assert all(line.reservation.order_id == order.pk for line in lines.select_related("reservation"))


def test_the_mail_written_together_is_queued_once_at_the_commit(django_capture_on_commit_callbacks):
    user, address, cart = buyer_with_cart([(v, 1) for v in variants(1)])
    wallet_top_up(user=user, amount=Decimal("1000.00"), reference="top-up-p12")
    with django_capture_on_commit_callbacks() as callbacks:
        order = place(user, address, cart, payment_method="wallet")
    sends = [c for c in callbacks if c.__qualname__.startswith("notification_queue.")]
    assert len(sends) == 1 and Notification.objects.filter(order=order).count() == 1


def test_a_mail_already_written_is_not_written_again_nor_queued_inside_rows_together(
    django_capture_on_commit_callbacks,
):
    user, address, cart = buyer_with_cart([(v, 1) for v in variants(1)])
    order = place(user, address, cart, payment_method="sandbox")
    owed = {"kind": "order_placed", "key": f"order_placed:{order.pk}", "to": user.email, "language": "en"}
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        with rows_together():
            again = notification_queue(**owed, context={}, order=order, user=user)
        assert again.pk is None  # the row already there was not inserted a second time
    assert Notification.objects.filter(key=owed["key"]).count() == 1
    assert len([c for c in callbacks if c.__qualname__.startswith("notification_queue.")]) == 1


def test_rows_together_sends_nothing_when_its_block_fails_and_leaves_no_batch_open():
    user, address, cart = buyer_with_cart([(v, 1) for v in variants(1)])
    order = place(user, address, cart, payment_method="sandbox")
    before = OrderEvent.objects.count()
    with CaptureQueriesContext(connection) as queries, pytest.raises(RuntimeError), rows_together():
        rows_insert([OrderEvent(order=order, to_status=order.status, actor_kind="system")])
        assert rows_together_open()
        raise RuntimeError("a failure inside the block")
    assert not rows_together_open()  # the next request's rows are sent at once again
    assert len(queries) == 0 and OrderEvent.objects.count() == before
    (event,) = rows_insert([OrderEvent(order=order, to_status=order.status, actor_kind="system")])
    assert event.pk is not None


def test_a_row_refers_to_one_inserted_by_the_same_statement():
    user, address, cart = buyer_with_cart([(v, 1) for v in variants(2)])
    order = place(user, address, cart, payment_method="sandbox")  # reserved, no parcel yet
    held = list(Reservation.objects.filter(order=order).select_related("stock").order_by("pk"))
    lines = {line.variant_id: line for line in order.lines.all()}
    with CaptureQueriesContext(connection) as queries, rows_together():
        parcels = []
        for n, reservation in enumerate(held, start=1):
            parcel = Shipment(order=order, warehouse_id=reservation.stock.warehouse_id, number=f"{order.number}-{n}")
            rows_insert([parcel])
            line = lines[reservation.variant_id]
            rows_insert([ShipmentLine(shipment=parcel, order_line=line, reservation=reservation, quantity=1)])
            assert parcel.pk is None  # not sent yet
            parcels.append(parcel)
    assert len(queries) == 1 and len(parcels) == 2
    for parcel, reservation in zip(parcels, held, strict=True):
        (made,) = ShipmentLine.objects.filter(reservation=reservation)
        assert parcel.pk is not None and made.shipment_id == parcel.pk
