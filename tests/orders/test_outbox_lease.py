"""The outbox's claim before send: a row a live worker is sending is nobody else's, a dead
worker's lease runs out and the row is taken over, and every send of a row is the same message
(one Message-ID), so a resend after a crash mid-send is deduplicated by mail systems."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.utils import timezone

from orders import services
from orders.models import Notification
from orders.services import notification_deliver, notification_queue, notification_sweep
from tests import factories

pytestmark = pytest.mark.django_db


def owe(key: str = "welcome:lease") -> Notification:
    user = factories.UserFactory()
    return notification_queue(kind="welcome", key=key, to=user.email, language="en", context={}, user=user)


def message_id(message) -> str:
    return message.message()["Message-ID"]


class RacingBackend(EmailBackend):
    """A mail server slow enough that the same row's task runs again (a redelivery, the
    sweeper's re-queue) while the first send is still in progress."""

    seen: list = []

    def send_messages(self, email_messages):
        if not RacingBackend.seen:
            notification = Notification.objects.get()
            RacingBackend.seen.append(notification.lease_until)
            RacingBackend.seen.append(notification_deliver(notification_id=notification.pk))
        return super().send_messages(email_messages)


def test_a_second_sender_skips_a_row_a_live_worker_is_sending(settings):
    settings.EMAIL_BACKEND = f"{__name__}.RacingBackend"
    RacingBackend.seen = []
    notification = owe()

    assert notification_deliver(notification_id=notification.pk) is True

    lease_while_sending, second_sender_sent = RacingBackend.seen
    assert lease_while_sending is not None  # claimed before the mail went out
    assert second_sender_sent is False
    assert len(mail.outbox) == 1
    notification.refresh_from_db()
    assert (notification.state, notification.attempts, notification.lease_until) == (
        Notification.State.SENT,
        1,
        None,
    )


def test_an_expired_lease_is_taken_over_and_a_live_one_is_not(settings):
    notification = owe()
    start = timezone.now()
    # A worker claimed the row and died before marking it (kill -9 mid-send).
    Notification.objects.filter(pk=notification.pk).update(
        lease_until=start + timedelta(seconds=settings.NOTIFICATION_LEASE_SECONDS), attempts=1
    )

    with time_machine.travel(start + timedelta(seconds=settings.NOTIFICATION_LEASE_SECONDS - 1), tick=False):
        assert notification_deliver(notification_id=notification.pk) is False
    assert mail.outbox == []

    with time_machine.travel(start + timedelta(seconds=settings.NOTIFICATION_LEASE_SECONDS + 1), tick=False):
        assert notification_deliver(notification_id=notification.pk) is True
    assert len(mail.outbox) == 1
    notification.refresh_from_db()
    assert (notification.state, notification.attempts) == (Notification.State.SENT, 2)


def test_the_message_id_is_the_same_on_every_send_of_a_row_and_differs_between_rows(settings):
    settings.SITE_URL = "https://shop.example.com"
    notification, other = owe("welcome:one"), owe("welcome:two")
    assert notification_deliver(notification_id=notification.pk) is True
    # The worker died after the mail server accepted it, before the row was marked: sent again.
    Notification.objects.filter(pk=notification.pk).update(state=Notification.State.PENDING, sent_at=None)
    assert notification_deliver(notification_id=notification.pk) is True
    assert notification_deliver(notification_id=other.pk) is True

    first, resent, different = (message_id(m) for m in mail.outbox)
    assert first == resent
    assert first.startswith("<") and first.endswith("@shop.example.com>")
    assert different != first


def test_the_sweeper_queues_an_expired_lease_and_leaves_a_live_one(monkeypatch, settings):
    queued: list[int] = []
    monkeypatch.setattr(services, "notification_dispatch", lambda *, notification_id: queued.append(notification_id))
    lease = settings.NOTIFICATION_LEASE_SECONDS
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        notification = owe()
    claimed_at = start + timedelta(seconds=31)
    Notification.objects.filter(pk=notification.pk).update(
        lease_until=claimed_at + timedelta(seconds=lease), attempts=1
    )

    with time_machine.travel(claimed_at + timedelta(seconds=lease - 1), tick=False):
        assert notification_sweep() == 0  # a live worker is sending it
    with time_machine.travel(claimed_at + timedelta(seconds=lease + 1), tick=False):
        assert notification_sweep() == 1  # its worker died: queued again at once
    assert queued == [notification.pk]
