"""After-sales requests through the services: every transition, deadline and refund rule."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from aftersales.exceptions import AfterSaleError, AfterSaleErrorCode
from aftersales.models import AfterSale, RefundNote
from aftersales.services import requests as svc
from fulfillment.models import Reservation, Shipment, Stock, StockMovement
from fulfillment.services import shipment_pack, shipment_record_event, stock_movement_totals
from orders.models import Notification, Order
from payments.models import Payment, Refund, Wallet
from payments.providers.sandbox import sandbox_refunded
from payments.services import refund_send
from tests import factories
from tests.aftersales.support import completed, line_of, paid, photo, ship_all, shop
from tests.fulfillment.support import stock
from tests.orders.test_concurrency import run_at_once

pytestmark = pytest.mark.django_db(transaction=True)

Kind, Reason, Status = AfterSale.Kind, AfterSale.Reason, AfterSale.Status


def open_request(order, kind, reason, quantities, **kwargs):
    kwargs.setdefault("description", "说明")
    return svc.aftersale_open(
        order_id=order.pk, customer=order.customer, kind=kind, reason=reason, quantities=quantities, **kwargs
    )


def staff(supervisor: bool = False):
    from django.contrib.auth.models import Permission

    user = factories.UserFactory(is_staff=True)
    codenames = ["decide_aftersale", "receive_return"] + (["supervise_aftersale"] if supervisor else [])
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="aftersales", codename__in=codenames))
    return type(user).objects.get(pk=user.pk)  # a fresh instance: no cached permissions


def send_pending_refunds() -> None:
    """What the worker does after commit: send every pending gateway refund."""
    for refund_id in Refund.objects.filter(state=Refund.State.PENDING).values_list("pk", flat=True):
        refund_send(refund_id=refund_id)


def assert_ledgers_balance():
    for wallet in Wallet.objects.all():
        assert wallet.balance == sum(e.amount for e in wallet.entries.all())
    totals = stock_movement_totals()
    for row in Stock.objects.all():
        assert (row.on_hand, row.reserved) == totals.get(row.pk, (0, 0))
        assert 0 <= row.reserved <= row.on_hand
    for payment in Payment.objects.all():
        assert payment.refunded == sum(r.amount for r in payment.refunds.all())
        assert payment.refunded <= payment.amount


# -- refund before shipping -----------------------------------------------------------------------


def test_cancelling_a_whole_paid_unshipped_order_closes_it_and_refunds_everything_through_the_gateway():
    _places, v = shop()
    order = paid([(v, 2)], insured=True)
    payment = order.payments.get(state=Payment.State.CAPTURED)
    request = open_request(order, Kind.CANCEL, Reason.CHANGED_MIND, {line_of(order).pk: 2})
    request.refresh_from_db()
    order.refresh_from_db()
    # Approved at once (nothing packed), the money decided, then paid out by the task the
    # commit queued (tests run tasks eagerly): REFUNDING, then COMPLETED.
    assert list(request.events.values_list("to_status", flat=True)) == ["pending", "refunding", "completed"]
    assert order.status == Order.Status.CLOSED
    assert Stock.objects.get(variant=v).reserved == 0
    note = request.refund_note
    assert note.amount == order.total and note.shipping_amount == order.shipping_fee
    assert note.insurance_amount == order.insurance_fee > 0
    assert note.state == RefundNote.State.PAID and note.payment_refund.destination == "original"
    send_pending_refunds()  # nothing left to send
    assert sandbox_refunded(payment.reference) == order.total
    assert Notification.objects.filter(kind="refund_paid", order=order).count() == 1
    assert Order.objects.get(pk=order.pk).shipments.exclude(status=Shipment.Status.CANCELLED).count() == 0
    assert_ledgers_balance()


def test_a_partial_cancellation_refunds_the_units_less_their_share_of_the_coupon_and_keeps_the_fees():
    places, v = shop(price="100.00")
    w = factories.VariantFactory(product=factories.ProductFactory(), price=Decimal("50.00"))
    from tests.fulfillment.support import stock

    stock(places["sh"], w, 10)
    factories.CouponFactory(code="TEN", kind="fixed", value=Decimal("30.00"), min_spend=0)
    from tests.fulfillment.support import place
    from tests.purchase import buyer_with_cart

    user, address, cart = buyer_with_cart([(v, 2), (w, 2)], coupon="TEN")
    address.province = address.city = "上海"
    address.save()
    order = place(user, address, cart)
    from tests.aftersales.support import pay_by_gateway

    pay_by_gateway(order)
    order.refresh_from_db()
    assert order.discount == Decimal("30.00")  # over goods of 300: 20 on the 200 line, 10 on the 100 line
    request = open_request(order, Kind.CANCEL, Reason.CHANGED_MIND, {line_of(order, v).pk: 1})
    note = RefundNote.objects.get(request=request)
    assert note.goods_amount == Decimal("90.00")  # 100 less half of the line's 20 share
    assert note.shipping_amount == 0 and note.insurance_amount == 0
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    # The other unit of that line later: the line's net total (180) exactly, over both refunds.
    open_request(order, Kind.CANCEL, Reason.CHANGED_MIND, {line_of(order, v).pk: 1})
    assert sum(RefundNote.objects.filter(order=order).values_list("goods_amount", flat=True)) == Decimal("180.00")
    # The rest ships: the order moves on to shipped.
    ship_all(order, deliver=False)
    assert Order.objects.get(pk=order.pk).status == Order.Status.SHIPPED
    assert_ledgers_balance()


def test_a_cancellation_of_packed_units_waits_for_staff_and_is_approved_when_they_do_not_answer():
    _places, v = shop()
    order = paid([(v, 1)])
    shipment_pack(shipment_id=order.shipments.get().pk)
    request = open_request(order, Kind.CANCEL, Reason.CHANGED_MIND, {line_of(order).pk: 1})
    request.refresh_from_db()
    assert request.status == Status.PENDING
    assert abs(request.due_at - (timezone.now() + timedelta(hours=24))) < timedelta(minutes=1)
    assert svc.aftersales_enforce_deadlines() == {}  # not yet
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        assert svc.aftersales_enforce_deadlines() == {"approved": 1}
        assert svc.aftersales_enforce_deadlines() == {}  # idempotent
    request.refresh_from_db()
    assert request.status == Status.COMPLETED  # approved by the system, refunded by the gateway
    assert request.events.get(to_status="refunding").actor_kind == "system"
    assert Order.objects.get(pk=order.pk).status == Order.Status.CLOSED
    assert Stock.objects.get(variant=v).reserved == 0


def test_staff_cannot_approve_a_cancellation_whose_units_shipped_meanwhile():
    _places, v = shop()
    order = paid([(v, 1)])
    shipment_pack(shipment_id=order.shipments.get().pk)
    request = open_request(order, Kind.CANCEL, Reason.CHANGED_MIND, {line_of(order).pk: 1})
    ship_all(order, deliver=False)
    with pytest.raises(AfterSaleError) as exc:
        svc.aftersale_approve(request_id=request.pk, actor=staff())
    assert exc.value.code == AfterSaleErrorCode.ALREADY_SHIPPED
    request.refresh_from_db()
    assert request.status == Status.PENDING and not RefundNote.objects.exists()
    assert_ledgers_balance()


def test_a_wallet_order_is_refunded_to_the_wallet_at_once():
    _places, v = shop()
    order = paid([(v, 1)], how="wallet")
    before = Wallet.objects.get(user=order.customer).balance
    request = open_request(order, Kind.CANCEL, Reason.CHANGED_MIND, {line_of(order).pk: 1})
    request.refresh_from_db()
    assert request.status == Status.COMPLETED
    assert Wallet.objects.get(user=order.customer).balance == before + order.total
    assert_ledgers_balance()


def test_cash_on_delivery_not_collected_has_nothing_to_refund_and_the_courier_collects_less():
    places, v = shop(price="100.00")
    w = factories.VariantFactory(product=factories.ProductFactory(), price=Decimal("40.00"))
    from tests.fulfillment.support import stock

    stock(places["sh"], w, 5)
    order = paid([(v, 1), (w, 1)], how="cod")
    parcel = order.shipments.get()
    assert parcel.cod_amount == order.total
    request = open_request(order, Kind.CANCEL, Reason.CHANGED_MIND, {line_of(order, w).pk: 1})
    request.refresh_from_db()
    assert request.status == Status.COMPLETED
    assert request.refund_note.state == RefundNote.State.NOTHING_DUE
    parcel.refresh_from_db()
    assert parcel.cod_amount == order.total - Decimal("40.00")
    # Then the rest: the order closes, and no cash is due any more.
    open_request(order, Kind.CANCEL, Reason.CHANGED_MIND, {line_of(order, v).pk: 1})
    order.refresh_from_db()
    assert order.status == Order.Status.CLOSED
    assert order.payments.get(provider="cod").state == Payment.State.CANCELLED


def test_the_smaller_sum_collected_after_a_partial_cod_cancellation_captures_the_payment():
    """Found by the settlement's reconciliation: the payment kept the old total, so the cash the
    courier collected (less) never captured it and the completed order showed nothing paid."""
    _places, v = shop(price="33.33")
    order = paid([(v, 2)], how="cod")
    open_request(order, Kind.CANCEL, Reason.CHANGED_MIND, {line_of(order).pk: 1})
    assert order.payments.get(provider="cod").amount == order.total - Decimal("33.33")
    ship_all(order)  # the courier collects the parcel's (lowered) cash due
    payment = order.payments.get(provider="cod")
    assert payment.state == Payment.State.CAPTURED and payment.amount == order.total - Decimal("33.33")
    assert_ledgers_balance()


# -- returns -------------------------------------------------------------------------------------


def test_a_return_with_a_photo_goes_back_to_the_shipping_warehouse_and_is_refunded_to_the_wallet():
    places, v = shop()
    order = completed([(v, 2)])
    request = open_request(
        order, Kind.RETURN, Reason.QUALITY, {line_of(order).pk: 1}, photos=[photo()], refund_to="wallet"
    )
    assert request.status == Status.PENDING and request.photos.count() == 1
    assert Notification.objects.filter(kind="aftersale_received", order=order).count() == 1
    svc.aftersale_approve(request_id=request.pk, actor=staff())
    request.refresh_from_db()
    assert request.status == Status.AWAITING_RETURN
    assert request.return_warehouse == places["sh"] and "上海" in request.return_address
    svc.aftersale_return_shipped(
        request_id=request.pk, customer=order.customer, carrier="own_fleet", tracking_number="RT1"
    )
    request.refresh_from_db()
    assert request.status == Status.RETURN_SHIPPED and request.return_shipment.tracking_number == "RT1"
    mails = Notification.objects.filter(order=order).count()
    shipment_record_event(shipment_id=request.return_shipment_id, kind="delivered", signed_by="仓库")
    assert request.events.filter(note="return parcel delivered to the warehouse").exists()
    assert Notification.objects.filter(order=order).count() == mails  # the customer is not told "delivered"
    on_hand = Stock.objects.get(variant=v).on_hand
    svc.aftersale_receive(request_id=request.pk, actor=staff(), restock={request.lines.get().pk: 1}, write_off={})
    request.refresh_from_db()
    assert request.status == Status.COMPLETED
    assert Stock.objects.get(variant=v).on_hand == on_hand + 1
    assert StockMovement.objects.filter(reference=request.number, reason="return").exists()
    assert request.refund_note.amount == line_of(order).unit_price  # no fees after shipping
    assert Wallet.objects.get(user=order.customer).balance == request.refund_note.amount
    assert_ledgers_balance()


def test_damaged_returned_units_are_written_off_with_a_movement():
    _places, v = shop()
    order = completed([(v, 2)])
    request = open_request(order, Kind.RETURN, Reason.DAMAGED, {line_of(order).pk: 2})
    svc.aftersale_approve(request_id=request.pk, actor=staff())
    svc.aftersale_return_shipped(
        request_id=request.pk, customer=order.customer, carrier="own_fleet", tracking_number="RT2"
    )
    on_hand = Stock.objects.get(variant=v).on_hand
    line = request.lines.get()
    with pytest.raises(AfterSaleError):  # the counts must add up to the units returned
        svc.aftersale_receive(request_id=request.pk, actor=staff(), restock={line.pk: 1}, write_off={})
    svc.aftersale_receive(request_id=request.pk, actor=staff(), restock={line.pk: 1}, write_off={line.pk: 1})
    request.refresh_from_db()
    parcel = Shipment.objects.get(pk=request.return_shipment_id)  # in hand: no longer with the carrier
    assert parcel.status == Shipment.Status.DELIVERED and parcel.next_poll_at is None
    assert Stock.objects.get(variant=v).on_hand == on_hand + 1
    assert StockMovement.objects.filter(reference=request.number, reason="write_off", on_hand_delta=-1).exists()
    assert_ledgers_balance()


def test_an_exchange_ships_the_other_option_and_falls_back_to_a_refund_when_it_is_out_of_stock():
    places, v = shop()
    other = factories.VariantFactory(product=v.product, price=v.price)
    from tests.fulfillment.support import stock

    stock(places["sh"], other, 1)
    order = completed([(v, 1)])
    el = svc.aftersale_eligibility(order=order).line(line_of(order).pk)
    assert Kind.EXCHANGE in el.kinds and [o[0] for o in el.exchange_options] == [other.pk]
    request = open_request(
        order, Kind.EXCHANGE, Reason.QUALITY, {line_of(order).pk: 1}, exchange_variants={line_of(order).pk: other.pk}
    )
    svc.aftersale_approve(request_id=request.pk, actor=staff())
    svc.aftersale_return_shipped(
        request_id=request.pk, customer=order.customer, carrier="own_fleet", tracking_number="RT3"
    )
    svc.aftersale_receive(request_id=request.pk, actor=staff(), restock={request.lines.get().pk: 1}, write_off={})
    request.refresh_from_db()
    assert request.status == Status.EXCHANGE_SHIPPING
    replacement = request.replacement_shipment
    assert replacement.kind == Shipment.Kind.REPLACEMENT
    assert Stock.objects.get(variant=other).reserved == 1
    ship_all_replacement(replacement)
    assert svc.aftersales_enforce_deadlines() == {"exchanges_shipped": 1}
    request.refresh_from_db()
    assert request.status == Status.COMPLETED
    assert Order.objects.get(pk=order.pk).status == Order.Status.COMPLETED
    # A second exchange of the same kind now finds the option out of stock: refunded instead.
    order2 = completed([(v, 1)])
    r2 = open_request(
        order2, Kind.EXCHANGE, Reason.QUALITY, {line_of(order2).pk: 1}, exchange_variants={line_of(order2).pk: other.pk}
    )
    svc.aftersale_approve(request_id=r2.pk, actor=staff())
    svc.aftersale_return_shipped(request_id=r2.pk, customer=order2.customer, carrier="own_fleet", tracking_number="RT4")
    svc.aftersale_receive(request_id=r2.pk, actor=staff(), restock={r2.lines.get().pk: 1}, write_off={})
    r2.refresh_from_db()
    assert r2.status in (Status.REFUNDING, Status.COMPLETED) and r2.refund_note.amount == line_of(order2).line_total
    assert_ledgers_balance()


def ship_all_replacement(parcel):
    from fulfillment.services import shipment_ship

    shipment_pack(shipment_id=parcel.pk)
    shipment_ship(shipment_id=parcel.pk, carrier="own_fleet")


# -- eligibility ---------------------------------------------------------------------------------


def test_no_reason_returns_only_within_seven_days_and_only_for_goods_that_allow_them():
    _places, v = shop()
    fresh = factories.ProductFactory()
    fresh.category.no_reason_returns = False
    fresh.category.save()
    f = factories.VariantFactory(product=fresh, price=Decimal("20.00"))
    from tests.fulfillment.support import stock

    stock(_places["sh"], f, 5)
    order = completed([(v, 1), (f, 1)])
    el = svc.aftersale_eligibility(order=order)
    assert Reason.NO_REASON in el.line(line_of(order, v).pk).reasons[Kind.RETURN]
    assert Reason.NO_REASON not in el.line(line_of(order, f).pk).reasons[Kind.RETURN]
    with pytest.raises(AfterSaleError) as exc:
        open_request(order, Kind.RETURN, Reason.NO_REASON, {line_of(order, f).pk: 1})
    assert exc.value.code == AfterSaleErrorCode.NO_REASON_EXCLUDED
    fresh.no_reason_returns = True  # the product overrides its category
    fresh.save()
    assert Reason.NO_REASON in svc.aftersale_eligibility(order=order).line(line_of(order, f).pk).reasons[Kind.RETURN]
    with time_machine.travel(order.delivered_at + timedelta(days=8)):
        el = svc.aftersale_eligibility(order=order)
        assert Reason.NO_REASON not in el.line(line_of(order, v).pk).reasons[Kind.RETURN]
        assert Reason.QUALITY in el.line(line_of(order, v).pk).reasons[Kind.RETURN]
        with pytest.raises(AfterSaleError) as exc:
            open_request(order, Kind.RETURN, Reason.NO_REASON, {line_of(order, v).pk: 1})
        assert exc.value.code == AfterSaleErrorCode.NO_REASON_WINDOW
    with time_machine.travel(order.delivered_at + timedelta(days=16)):
        el = svc.aftersale_eligibility(order=order)
        assert el.kinds == [] and el.why_not
        with pytest.raises(AfterSaleError):
            open_request(order, Kind.RETURN, Reason.QUALITY, {line_of(order, v).pk: 1})


def test_never_more_units_than_bought_less_those_in_requests_and_at_most_n_requests_per_line(settings):
    settings.AFTERSALES_MAX_REQUESTS_PER_LINE = 2
    _places, v = shop()
    order = completed([(v, 3)])
    line = line_of(order)
    with pytest.raises(AfterSaleError) as exc:
        open_request(order, Kind.RETURN, Reason.QUALITY, {line.pk: 4})
    assert exc.value.code == AfterSaleErrorCode.TOO_MANY_UNITS
    first = open_request(order, Kind.RETURN, Reason.QUALITY, {line.pk: 2})
    assert svc.aftersale_eligibility(order=order).line(line.pk).available == 1
    with pytest.raises(AfterSaleError):
        open_request(order, Kind.RETURN, Reason.QUALITY, {line.pk: 2})
    svc.aftersale_cancel(request_id=first.pk, customer=order.customer)  # withdrawn: units free again
    assert svc.aftersale_eligibility(order=order).line(line.pk).available == 3
    open_request(order, Kind.RETURN, Reason.QUALITY, {line.pk: 1})
    el = svc.aftersale_eligibility(order=order).line(line.pk)
    assert el.available == 0 and el.why_not  # two requests: the most allowed
    with pytest.raises(AfterSaleError):
        open_request(order, Kind.RETURN, Reason.QUALITY, {line.pk: 1})


def test_a_request_needs_a_description_and_bounded_real_photos_and_writes_nothing_when_refused():
    _places, v = shop()
    order = completed([(v, 1)])
    line = line_of(order)
    cases = [
        ({"description": ""}, AfterSaleErrorCode.DESCRIPTION_REQUIRED),
        ({"photos": [photo() for _ in range(7)]}, AfterSaleErrorCode.TOO_MANY_PHOTOS),
        ({"photos": [photo(), photo("x.jpg", size=(10, 10))]}, AfterSaleErrorCode.BAD_PHOTO),
    ]
    from django.core.files.uploadedfile import SimpleUploadedFile

    cases.append(({"photos": [SimpleUploadedFile("a.jpg", b"<?php echo 1; ?>")]}, AfterSaleErrorCode.BAD_PHOTO))
    for kwargs, code in cases:
        with pytest.raises(AfterSaleError) as exc:
            open_request(order, Kind.RETURN, Reason.QUALITY, {line.pk: 1}, **kwargs)
        assert exc.value.code == code
    assert not AfterSale.objects.exists()


def test_photos_are_reencoded_without_their_metadata():
    from PIL import Image

    _places, v = shop()
    order = completed([(v, 1)])
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    request = open_request(
        order, Kind.RETURN, Reason.QUALITY, {line_of(order).pk: 1}, photos=[photo(exif=exif.tobytes())]
    )
    stored = request.photos.get().image
    with Image.open(stored.open("rb")) as image:
        assert not image.getexif()
        assert image.format == "JPEG"


def test_another_customers_order_and_request_are_not_found():
    _places, v = shop()
    order = completed([(v, 1)])
    stranger = factories.UserFactory()
    with pytest.raises(Order.DoesNotExist):
        svc.aftersale_open(
            order_id=order.pk, customer=stranger, kind=Kind.RETURN, reason=Reason.QUALITY,
            quantities={line_of(order).pk: 1}, description="x",
        )  # fmt: skip
    request = open_request(order, Kind.RETURN, Reason.QUALITY, {line_of(order).pk: 1})
    for call in (
        lambda: svc.aftersale_cancel(request_id=request.pk, customer=stranger),
        lambda: svc.aftersale_appeal(request_id=request.pk, customer=stranger, text="x"),
        lambda: svc.aftersale_message_post(request_id=request.pk, author=stranger, body="x", from_staff=False),
    ):
        with pytest.raises(AfterSale.DoesNotExist):
            call()


# -- rejection, appeal, escalation, deadlines ------------------------------------------------------


def test_a_rejection_may_be_appealed_once_and_a_supervisors_rejection_is_final():
    _places, v = shop()
    order = completed([(v, 1)])
    request = open_request(order, Kind.RETURN, Reason.QUALITY, {line_of(order).pk: 1})
    with pytest.raises(AfterSaleError):
        svc.aftersale_reject(request_id=request.pk, actor=staff(), reason=" ")
    svc.aftersale_reject(request_id=request.pk, actor=staff(), reason="图片不清楚")
    request.refresh_from_db()
    assert request.status == Status.REJECTED and request.reject_reason == "图片不清楚"
    assert Notification.objects.filter(kind="aftersale_rejected", order=order).count() == 1
    svc.aftersale_appeal(request_id=request.pk, customer=order.customer, text="请再看看")
    request.refresh_from_db()
    assert request.status == Status.ESCALATED
    with pytest.raises(AfterSaleError) as exc:
        svc.aftersale_approve(request_id=request.pk, actor=staff())
    assert exc.value.code == AfterSaleErrorCode.NEEDS_SUPERVISOR
    svc.aftersale_reject(request_id=request.pk, actor=staff(supervisor=True), reason="确认无质量问题")
    request.refresh_from_db()
    assert request.status == Status.CLOSED
    with pytest.raises(AfterSaleError):
        svc.aftersale_appeal(request_id=request.pk, customer=order.customer, text="again")


def test_an_appeal_after_the_window_is_refused_and_the_request_closes():
    _places, v = shop()
    order = completed([(v, 1)])
    request = open_request(order, Kind.RETURN, Reason.QUALITY, {line_of(order).pk: 1})
    svc.aftersale_reject(request_id=request.pk, actor=staff(), reason="no")
    with time_machine.travel(timezone.now() + timedelta(days=6)):
        with pytest.raises(AfterSaleError) as exc:
            svc.aftersale_appeal(request_id=request.pk, customer=order.customer, text="late")
        assert exc.value.code == AfterSaleErrorCode.APPEAL_LATE
        assert svc.aftersales_enforce_deadlines() == {"closed_after_rejection": 1}
    assert AfterSale.objects.get(pk=request.pk).status == Status.CLOSED


def test_escalated_requests_are_decided_by_a_supervisor_within_the_same_deadline():
    _places, v = shop()
    order = completed([(v, 1)])
    request = open_request(order, Kind.REFUND, Reason.DAMAGED, {line_of(order).pk: 1})
    svc.aftersale_escalate(request_id=request.pk, actor=staff(), note="大额")
    svc.aftersale_approve(request_id=request.pk, actor=staff(supervisor=True))
    request.refresh_from_db()
    assert request.status == Status.COMPLETED and request.refund_note.amount == line_of(order).line_total
    assert request.events.filter(to_status="refunding", actor__isnull=False).exists()


def test_deadlines_close_a_return_never_sent_and_refund_a_return_never_confirmed():
    _places, v = shop()
    order = completed([(v, 2)])
    never_sent = open_request(order, Kind.RETURN, Reason.QUALITY, {line_of(order).pk: 1})
    svc.aftersale_approve(request_id=never_sent.pk, actor=staff())
    unconfirmed = open_request(order, Kind.RETURN, Reason.QUALITY, {line_of(order).pk: 1})
    svc.aftersale_approve(request_id=unconfirmed.pk, actor=staff())
    svc.aftersale_return_shipped(
        request_id=unconfirmed.pk, customer=order.customer, carrier="own_fleet", tracking_number="RT9"
    )
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        assert svc.aftersales_enforce_deadlines() == {"closed_no_return": 1}
    with time_machine.travel(timezone.now() + timedelta(days=11)):
        assert svc.aftersales_enforce_deadlines() == {"refunded_unconfirmed_return": 1}
        assert svc.aftersales_enforce_deadlines() == {}
    assert AfterSale.objects.get(pk=never_sent.pk).status == Status.CLOSED
    assert AfterSale.objects.get(pk=unconfirmed.pk).refund_note.amount == line_of(order).unit_price


def test_a_pending_request_the_shop_never_answers_is_approved():
    _places, v = shop()
    order = completed([(v, 1)])
    request = open_request(order, Kind.RETURN, Reason.QUALITY, {line_of(order).pk: 1})
    with time_machine.travel(timezone.now() + timedelta(hours=49)):
        assert svc.aftersales_enforce_deadlines() == {"approved": 1}
    assert AfterSale.objects.get(pk=request.pk).status == Status.AWAITING_RETURN


def test_messages_are_mailed_both_ways(settings):
    _places, v = shop()
    order = completed([(v, 1)])
    request = open_request(order, Kind.RETURN, Reason.QUALITY, {line_of(order).pk: 1})
    svc.aftersale_message_post(request_id=request.pk, author=order.customer, body="在吗", from_staff=False)
    svc.aftersale_message_post(request_id=request.pk, author=staff(), body="请上传照片", from_staff=True)
    mails = Notification.objects.filter(kind="aftersale_message", order=order)
    assert mails.count() == 1 and mails.get().context["message"] == "请上传照片"
    assert mails.get().to == order.customer.email
    # Both ways: the customer's message goes to customer service's mailbox, with the admin link.
    to_staff = Notification.objects.get(kind="aftersale_customer_msg", order=order)
    assert to_staff.to == settings.AFTERSALES_STAFF_EMAIL and to_staff.context["message"] == "在吗"
    assert to_staff.context["admin_url"].endswith(f"/aftersales/aftersale/{request.pk}/change/")
    assert to_staff.state == Notification.State.SENT  # sent on commit (tasks run eagerly here): it renders
    with pytest.raises(AfterSaleError):
        svc.aftersale_message_post(request_id=request.pk, author=order.customer, body="  ", from_staff=False)


# -- concurrency and idempotency ------------------------------------------------------------------


def _together(calls) -> list[Exception]:
    """Run the calls in threads released at once; the exceptions they raised."""
    return [r for r in run_at_once(calls) if isinstance(r, Exception)]


def test_two_staff_approving_the_same_request_at_once_give_one_refund():
    _places, v = shop()
    order = completed([(v, 1)])
    request = open_request(order, Kind.REFUND, Reason.DAMAGED, {line_of(order).pk: 1})
    a, b = staff(), staff()
    errors = _together([lambda: svc.aftersale_approve(request_id=request.pk, actor=a),
                        lambda: svc.aftersale_approve(request_id=request.pk, actor=b)])  # fmt: skip
    assert len(errors) == 1 and isinstance(errors[0], AfterSaleError)
    assert RefundNote.objects.filter(order=order).count() == 1
    assert Refund.objects.filter(payment__order=order).count() == 1


@pytest.mark.parametrize("run", range(20))
def test_a_replayed_or_concurrent_payout_refunds_once(run):
    _places, v = shop()
    order = paid([(v, 1)])
    payment = order.payments.get(state=Payment.State.CAPTURED)
    open_request(order, Kind.CANCEL, Reason.CHANGED_MIND, {line_of(order).pk: 1})
    refund = Refund.objects.get(payment=payment)
    errors = _together([lambda: refund_send(refund_id=refund.pk) for _ in range(3)])
    refund_send(refund_id=refund.pk)  # a replay after the fact
    assert errors == []
    assert sandbox_refunded(payment.reference) == order.total
    refund.refresh_from_db()
    assert refund.state == Refund.State.SUCCEEDED
    assert RefundNote.objects.get(order=order).state == RefundNote.State.PAID


def test_the_database_refuses_refunds_beyond_what_a_payment_took():
    from django.db import IntegrityError, transaction

    _places, v = shop()
    order = paid([(v, 1)])
    payment = order.payments.get(state=Payment.State.CAPTURED)
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.filter(pk=payment.pk).update(refunded=payment.amount + Decimal("0.01"))


def test_reservations_of_a_partly_cancelled_order_stay_consistent():
    _places, v = shop()
    order = paid([(v, 3)])
    open_request(order, Kind.CANCEL, Reason.CHANGED_MIND, {line_of(order).pk: 2})
    held = Reservation.objects.filter(order=order, state=Reservation.State.HELD)
    assert sum(r.quantity for r in held) == 1 == Stock.objects.get(variant=v).reserved
    assert sum(x.quantity for x in order.shipments.get().lines.all()) == 1
    assert_ledgers_balance()


def test_closing_an_order_charged_a_shipping_supplement_gives_back_the_supplement_too():
    from cart.services import order_change_address
    from payments.services import wallet_top_up

    places, v = shop(price="50.00")
    order = paid([(v, 1)])
    wallet_top_up(user=order.customer, amount=Decimal("100.00"), reference="top-up")
    remote = factories.AddressFactory(
        user=order.customer, province="新疆", city="乌鲁木齐", district="", is_default=False
    )
    stock(places["bj"], v, 5)
    order_change_address(order_id=order.pk, customer=order.customer, address_id=remote.pk)
    order.refresh_from_db()
    supplement = order.payments.get(purpose=Payment.Purpose.SUPPLEMENT)
    request = open_request(order, Kind.CANCEL, Reason.CHANGED_MIND, {line_of(order).pk: 1})
    order.refresh_from_db()
    assert order.status == Order.Status.CLOSED
    assert request.refund_note.amount == order.total  # goods, the re-priced shipping, everything
    supplement.refresh_from_db()
    main = order.payments.get(purpose=Payment.Purpose.ORDER)
    assert supplement.refunded == supplement.amount and main.refunded == main.amount
    assert Wallet.objects.get(user=order.customer).balance == Decimal("100.00")
    assert_ledgers_balance()
