"""A custom admin page's change and its admin-log record share one transaction: a page that
fails after its service wrote leaves neither the change nor a record, and a record that cannot
be written takes the change back with it."""

from decimal import Decimal

import pytest
from django.db import DatabaseError
from django.test import Client
from django.urls import reverse

from aftersales.admin.requests import AfterSaleAdmin
from aftersales.models import AfterSale
from payments.models import Wallet
from shop.models import AdminLogEntry
from tests import factories
from tests.shop.test_admin_log import ADDRESS, a_pending_return

pytestmark = pytest.mark.django_db


@pytest.fixture
def root():
    client = Client(REMOTE_ADDR=ADDRESS, raise_request_exception=True)
    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))
    return client


def test_a_page_that_fails_after_its_service_wrote_leaves_neither_the_change_nor_a_record(root, monkeypatch):
    request = a_pending_return()

    def fails(*args, **kwargs):
        raise RuntimeError("the page broke after the service")

    monkeypatch.setattr(AfterSaleAdmin, "message_user", fails)
    with pytest.raises(RuntimeError):
        root.post(reverse("admin:aftersales_aftersale_approve", args=[request.pk]), {"approve-note": "同意"})
    assert AfterSale.objects.get(pk=request.pk).status == AfterSale.Status.PENDING
    assert not AdminLogEntry.objects.exists()

    monkeypatch.undo()  # the same page working: the change and its record, together
    root.post(reverse("admin:aftersales_aftersale_approve", args=[request.pk]), {"approve-note": "同意"})
    assert AfterSale.objects.get(pk=request.pk).status == AfterSale.Status.AWAITING_RETURN
    assert AdminLogEntry.objects.get().action == "approve"


def test_a_record_that_cannot_be_written_takes_the_change_back(root, monkeypatch):
    wallet = Wallet.objects.get(user=factories.UserFactory())
    url = reverse("admin:payments_wallet_adjust", args=[wallet.pk])

    def refused(*args, **kwargs):
        raise DatabaseError("the log's table refused the row")

    monkeypatch.setattr(AdminLogEntry.objects, "bulk_create", refused)
    with pytest.raises(DatabaseError):
        root.post(url, {"amount": "25.00", "note": "补偿", "key": "k1"})
    wallet.refresh_from_db()
    assert wallet.balance == 0 and not wallet.entries.exists()

    monkeypatch.undo()
    root.post(url, {"amount": "25.00", "note": "补偿", "key": "k2"})
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("25.00") and AdminLogEntry.objects.get().action == "adjust"


def test_the_admin_sites_own_password_page_keeps_the_password_when_its_record_fails(monkeypatch):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(email="pw-atomic@example.com", password="Old-pass-2468", is_staff=True)
    client = Client(REMOTE_ADDR=ADDRESS, raise_request_exception=True)
    client.force_login(user)

    def refused(*args, **kwargs):
        raise DatabaseError("the log's table refused the row")

    monkeypatch.setattr(AdminLogEntry.objects, "bulk_create", refused)
    with pytest.raises(DatabaseError):
        client.post(
            "/admin/password_change/",
            {"old_password": "Old-pass-2468", "new_password1": "New-pass-13579x", "new_password2": "New-pass-13579x"},
        )
    user.refresh_from_db()
    assert user.check_password("Old-pass-2468") and not AdminLogEntry.objects.exists()
