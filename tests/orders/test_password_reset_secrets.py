"""A password-reset link is a key to the account: it is made when the mail is sent and kept
nowhere the staff can read it (the outbox row, the admin's lists and pages)."""

import importlib
import re
from urllib.parse import urlsplit

import pytest
from django.apps import apps
from django.core import mail
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import reverse

from orders.models import Notification
from orders.services import notification_deliver
from tests import factories

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-new-and-long-passphrase-42"
LINK = re.compile(r"https?://\S+?(/account/password/reset/([^/\s]+)/([^/\s]+)/)")


@pytest.fixture
def customer():
    return factories.UserFactory(email="li.lei@example.com", language="en")


def _request_reset(client, django_capture_on_commit_callbacks, email="li.lei@example.com"):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/account/password/reset/", {"email": email})
    assert response.status_code == 302


def _secrets(message) -> tuple[str, str]:
    """The path and the token of the one reset link in a mail."""
    links = LINK.findall(message.body)
    assert len(links) == 1, message.body
    path, _uid, token = links[0]
    return path, token


def _row_text(notification: Notification) -> str:
    notification.refresh_from_db()
    return repr(model_to_dict(notification)) + repr(notification.context) + notification.key


def test_the_outbox_and_the_admin_never_hold_the_link(
    client, admin_client, customer, django_capture_on_commit_callbacks
):
    _request_reset(client, django_capture_on_commit_callbacks)
    notification = Notification.objects.get(kind="password_reset")
    assert notification.state == "sent" and len(mail.outbox) == 1
    path, token = _secrets(mail.outbox[0])

    stored = _row_text(notification)
    assert token not in stored and "/reset/" not in stored and "url" not in notification.context

    pages = [
        reverse("admin:orders_notification_changelist"),
        reverse("admin:orders_notification_change", args=[notification.pk]),
        reverse("admin:orders_notification_history", args=[notification.pk]),
    ]
    for url in pages:
        page = admin_client.get(url)
        assert page.status_code == 200, url
        body = page.content.decode()
        assert token not in body and path not in body and "/password/reset/" not in body, url
    # A search by the token finds nothing either.
    search = admin_client.get(reverse("admin:orders_notification_changelist"), {"q": token})
    assert search.context["cl"].result_count == 0

    # The link that was mailed works: it sets a new password, once.
    page = client.get(path, follow=True)
    assert page.context["validlink"] is True
    response = client.post(page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.check_password(NEW_PASSWORD)
    assert Client().get(path, follow=True).context["validlink"] is False


def test_a_mail_sent_late_carries_a_working_link(client, customer, django_capture_on_commit_callbacks):
    """The broker was down: the row waits in the outbox, and the sweeper sends it later."""
    with django_capture_on_commit_callbacks(execute=False):
        client.post("/account/password/reset/", {"email": customer.email})
    notification = Notification.objects.get(kind="password_reset")
    assert notification.state == "pending" and mail.outbox == []
    assert notification_deliver(notification_id=notification.pk) is True
    path, _token = _secrets(mail.outbox[0])
    assert client.get(path, follow=True).context["validlink"] is True


def test_two_requests_are_two_mails_each_with_a_working_link(client, customer, django_capture_on_commit_callbacks):
    _request_reset(client, django_capture_on_commit_callbacks)
    _request_reset(client, django_capture_on_commit_callbacks)
    assert Notification.objects.filter(kind="password_reset", user=customer).count() == 2
    assert len(mail.outbox) == 2
    for message in mail.outbox:
        path, _token = _secrets(message)
        assert Client().get(path, follow=True).context["validlink"] is True


def test_the_migration_removes_links_kept_by_earlier_versions(customer):
    sent = Notification.objects.create(
        kind="password_reset",
        key=f"password_reset:{customer.pk}:c9v1xk-0123456789abcdef0123456789abcdef",
        to=customer.email,
        language="en",
        user=customer,
        context={"url": "/account/password/reset/MQ/c9v1xk-0123456789abcdef0123456789abcdef/"},
        state="sent",
    )
    other = Notification.objects.create(
        kind="welcome", key=f"welcome:{customer.pk}", to=customer.email, language="en", context={"name": "x"}
    )
    migration = importlib.import_module("orders.migrations.0004_password_reset_secrets_blanked")
    migration.blank_reset_secrets(apps, None)
    sent.refresh_from_db()
    assert sent.context == {} and sent.key == f"password_reset:{customer.pk}:legacy-{sent.pk}"
    assert "0123456789abcdef" not in _row_text(sent)
    other.refresh_from_db()
    assert (other.key, other.context) == (f"welcome:{customer.pk}", {"name": "x"})
    # A row that was still pending is sent with a fresh, working link.
    sent.state = "pending"
    sent.save()
    assert notification_deliver(notification_id=sent.pk)
    path, _token = _secrets(mail.outbox[-1])
    assert Client().get(path, follow=True).context["validlink"] is True
    assert urlsplit(path).path.startswith("/account/password/reset/")
