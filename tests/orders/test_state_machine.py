"""The order state machine (Order.TRANSITIONS through orders.services.order_transition) and the
notification outbox (queue once, deliver once, keep failures pending, sweep what was missed)."""

from datetime import timedelta
from smtplib import SMTPServerDisconnected

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction
from django.utils import timezone, translation

from fulfillment.models import Reservation, Stock
from orders import services
from orders.exceptions import OrderError, OrderErrorCode
from orders.models import Coupon, Notification, Order, OrderEvent
from orders.services import notification_deliver, notification_queue, notification_sweep, order_transition
from shop.celery import app as celery_app
from tests import factories
from tests.purchase import buyer_with_cart, place, stocked_variant

pytestmark = pytest.mark.django_db
S = Order.Status
ALLOWED = [(before, after) for before, targets in Order.TRANSITIONS.items() for after in sorted(targets)]
DISALLOWED = [(before, after) for before in S for after in S if after not in Order.TRANSITIONS[before]]
STAMPS = {S.PAID: "paid_at", S.SHIPPED: "shipped_at", S.COMPLETED: "completed_at", S.CANCELLED: "cancelled_at"}
MAILS = {S.PAID: "order_paid", S.CANCELLED: "order_cancelled", S.COMPLETED: "order_completed"}


def test_the_table_is_the_design():
    assert set(ALLOWED) == {
        (S.PENDING_PAYMENT, S.PAID),
        (S.PENDING_PAYMENT, S.CANCELLED),
        (S.PAID, S.SHIPPED),
        (S.PAID, S.CLOSED),
        (S.SHIPPED, S.COMPLETED),
    }
    assert len(DISALLOWED) == len(S) ** 2 - len(ALLOWED)


def order_in(status: str) -> Order:
    """A placed order, put straight into `status` (test set-up, not a transition)."""
    user, address, cart = buyer_with_cart([(stocked_variant(on_hand=10), 1)])
    order = place(user, address, cart)
    Order.objects.filter(pk=order.pk).update(status=status)
    return Order.objects.get(pk=order.pk)


def move(order: Order, to: str, **kwargs) -> Order:
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        return order_transition(locked, to, **kwargs)


def mails_owed(order: Order) -> list[str]:
    return sorted(Notification.objects.filter(order=order).values_list("kind", flat=True))


@pytest.mark.parametrize(("before", "after"), ALLOWED, ids=[f"{b}->{a}" for b, a in ALLOWED])
def test_every_allowed_transition_is_applied_recorded_and_notified(before, after):
    order = order_in(before)
    staff = factories.UserFactory(is_staff=True)
    events_before = order.events.count()
    moment = timezone.now().replace(microsecond=0) + timedelta(hours=1)

    with time_machine.travel(moment, tick=False):
        move(order, after, actor=staff, actor_kind="staff", note="by hand")

    order.refresh_from_db()
    assert order.status == after
    if after in STAMPS:
        assert getattr(order, STAMPS[after]) == moment
    assert order.events.count() == events_before + 1
    event = order.events.last()
    assert (event.from_status, event.to_status, event.actor, event.actor_kind, event.note) == (
        before,
        after,
        staff,
        "staff",
        "by hand",
    )
    assert event.created_at == moment
    expected = sorted(["order_placed"] + ([MAILS[after]] if after in MAILS else []))
    assert mails_owed(order) == expected
    if after in MAILS:
        notification = Notification.objects.get(order=order, kind=MAILS[after])
        assert (notification.to, notification.key) == (order.customer.email, f"{MAILS[after]}:{order.pk}")
        assert notification.context["number"] == order.number


@pytest.mark.parametrize(("before", "after"), DISALLOWED, ids=[f"{b}->{a}" for b, a in DISALLOWED])
def test_every_other_transition_is_refused_and_changes_nothing(before, after):
    order = order_in(before)
    row_before = Order.objects.filter(pk=order.pk).values().get()
    events_before = list(OrderEvent.objects.filter(order=order).values_list("pk", flat=True))
    mails_before = mails_owed(order)

    with translation.override("en"), pytest.raises(OrderError) as error:
        move(order, after, actor_kind="staff")

    assert error.value.code == OrderErrorCode.BAD_TRANSITION
    with translation.override("en"):
        assert error.value.message == f"This order cannot go from “{S(before).label}” to “{S(after).label}”."
    assert Order.objects.filter(pk=order.pk).values().get() == row_before
    assert list(OrderEvent.objects.filter(order=order).values_list("pk", flat=True)) == events_before
    assert mails_owed(order) == mails_before


def test_services_refuse_what_the_table_refuses():
    paid = order_in(S.PAID)
    with pytest.raises(OrderError) as error:
        services.order_cancel(order_id=paid.pk, actor_kind="customer", reason="too late")
    assert error.value.code == OrderErrorCode.BAD_TRANSITION
    paid.refresh_from_db()
    assert (paid.status, paid.cancel_reason) == (S.PAID, "")  # the reason was rolled back too
    assert not Reservation.objects.get(order=paid).released

    cancelled = order_in(S.CANCELLED)
    with pytest.raises(OrderError) as error:
        services.order_mark_paid(order_id=cancelled.pk, amount=cancelled.total, reference="late")
    assert error.value.code == OrderErrorCode.NOT_PAYABLE
    assert Order.objects.get(pk=cancelled.pk).status == S.CANCELLED

    pending = order_in(S.PENDING_PAYMENT)
    with pytest.raises(OrderError) as error:
        services.order_mark_paid(order_id=pending.pk, amount=pending.total - 1, reference="short")
    assert error.value.code == OrderErrorCode.AMOUNT_MISMATCH
    assert Order.objects.get(pk=pending.pk).status == S.PENDING_PAYMENT


def test_marking_paid_twice_records_it_once():
    order = order_in(S.PENDING_PAYMENT)
    for _ in range(3):
        services.order_mark_paid(order_id=order.pk, amount=order.total, reference="P1")
    assert OrderEvent.objects.filter(order=order, to_status=S.PAID).count() == 1
    assert mails_owed(order) == ["order_paid", "order_placed"]


def test_cancelling_twice_is_idempotent():
    code = factories.CouponFactory(usage_limit=5).code
    variant = stocked_variant(on_hand=10, price="60.00")
    user, address, cart = buyer_with_cart([(variant, 4)], coupon=code)
    order = place(user, address, cart)
    assert Coupon.objects.get(code=code).used_count == 1

    first = services.order_cancel(order_id=order.pk, actor=user, actor_kind="customer", reason="first")
    second = services.order_cancel(order_id=order.pk, actor_kind="system", reason="second")

    assert first.status == second.status == S.CANCELLED
    order.refresh_from_db()
    assert order.cancel_reason == "first"
    assert OrderEvent.objects.filter(order=order, to_status=S.CANCELLED).count() == 1
    assert Notification.objects.filter(order=order, kind="order_cancelled").count() == 1
    stock = Stock.objects.get(variant=variant)
    assert (stock.on_hand, stock.reserved) == (10, 0)  # released once, never below zero
    assert Coupon.objects.get(code=code).used_count == 0


# -- the outbox -----------------------------------------------------------------------------


class FailingBackend(BaseEmailBackend):
    """A mail server that is down."""

    def send_messages(self, email_messages):
        raise SMTPServerDisconnected("the mail server went away")


def owe(key: str = "welcome:test", **overrides) -> Notification:
    user = overrides.pop("user", None) or factories.UserFactory()
    fields = {"kind": "welcome", "key": key, "to": user.email, "language": "en", "context": {}, "user": user}
    return notification_queue(**{**fields, **overrides})


def test_queueing_the_same_key_twice_writes_one_row_and_queues_one_send(django_capture_on_commit_callbacks):
    user = factories.UserFactory()
    with django_capture_on_commit_callbacks() as callbacks:
        first = owe(user=user)
        second = owe(user=user, to="someone.else@example.com")
    assert first.pk == second.pk
    assert Notification.objects.count() == 1
    assert Notification.objects.get().to == user.email  # the first writing wins
    assert len(callbacks) == 1


def test_a_notification_is_sent_once():
    notification = owe()  # on-commit dispatch never runs inside this test's transaction
    assert mail.outbox == []

    assert notification_deliver(notification_id=notification.pk) is True
    assert notification_deliver(notification_id=notification.pk) is False

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [notification.to]
    assert mail.outbox[0].subject == "Welcome to the shop"
    notification.refresh_from_db()
    assert (notification.state, notification.attempts) == (Notification.State.SENT, 1)
    assert notification.sent_at is not None


def test_a_failing_mail_server_leaves_it_pending_with_its_attempts_counted(settings):
    settings.EMAIL_BACKEND = f"{__name__}.FailingBackend"
    settings.NOTIFICATION_MAX_ATTEMPTS = 3
    notification = owe()

    for attempt in (1, 2):
        with pytest.raises(SMTPServerDisconnected):
            notification_deliver(notification_id=notification.pk)
        notification.refresh_from_db()
        assert (notification.state, notification.attempts) == (Notification.State.PENDING, attempt)
        assert notification.last_error == "the mail server went away"
        assert notification.sent_at is None

    with pytest.raises(SMTPServerDisconnected):
        notification_deliver(notification_id=notification.pk)
    notification.refresh_from_db()
    assert (notification.state, notification.attempts) == (Notification.State.FAILED, 3)  # given up
    assert notification_deliver(notification_id=notification.pk) is False


def test_a_mail_that_failed_once_is_sent_when_the_server_is_back(settings):
    notification = owe()
    settings.EMAIL_BACKEND = f"{__name__}.FailingBackend"
    with pytest.raises(SMTPServerDisconnected):
        notification_deliver(notification_id=notification.pk)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    assert notification_deliver(notification_id=notification.pk) is True
    notification.refresh_from_db()
    assert (notification.state, notification.attempts) == (Notification.State.SENT, 2)
    assert len(mail.outbox) == 1


def test_the_sweeper_queues_again_only_pending_mail_older_than_thirty_seconds(monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr(services, "notification_dispatch", lambda *, notification_id: queued.append(notification_id))
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        stuck = owe("stuck")
        sent = owe("sent")
        failed = owe("failed")
    Notification.objects.filter(pk=sent.pk).update(state=Notification.State.SENT)
    Notification.objects.filter(pk=failed.pk).update(state=Notification.State.FAILED)
    with time_machine.travel(start + timedelta(seconds=20), tick=False):
        recent = owe("recent")

    with time_machine.travel(start + timedelta(seconds=29), tick=False):
        assert notification_sweep() == 0
    assert queued == []

    with time_machine.travel(start + timedelta(seconds=31), tick=False):
        assert notification_sweep() == 1
    assert queued == [stuck.pk]

    with time_machine.travel(start + timedelta(seconds=51), tick=False):
        assert notification_sweep() == 2
    assert sorted(queued[1:]) == sorted([stuck.pk, recent.pk])


def test_the_sweeper_gets_a_missed_mail_sent(monkeypatch):
    """End to end, with tasks run in-process: a mail whose dispatch was lost is sent by the
    sweep, once."""
    monkeypatch.setattr(celery_app.conf, "task_always_eager", True)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        notification = owe()
    with time_machine.travel(start + timedelta(seconds=31), tick=False):
        assert notification_sweep() == 1
        assert notification_sweep() == 0
    notification.refresh_from_db()
    assert notification.state == Notification.State.SENT
    assert len(mail.outbox) == 1
