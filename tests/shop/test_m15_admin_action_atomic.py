"""A list action and its admin-log record share one transaction (issue 12, part M): an action whose
record cannot be written takes its change back, and an action that fails after its service wrote
leaves neither the change nor a record. Actions that call a carrier themselves are marked and run
outside one (their services commit row by row, and must not hold rows while the carrier answers)."""

import pytest
from django.contrib import admin
from django.db import DatabaseError
from django.test import Client, RequestFactory
from django.urls import reverse

from catalog.admin import ProductAdmin
from catalog.models import Product
from fulfillment.models import Shipment
from orders.models import Order
from shop.models import AdminLogEntry
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def root():
    client = Client(REMOTE_ADDR="198.51.100.23", raise_request_exception=True)
    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))
    return client


def hide(client, product):
    return client.post(
        reverse("admin:catalog_product_changelist"),
        {"action": "make_inactive", "_selected_action": [str(product.pk)], "index": "0"},
    )


def test_a_list_action_whose_record_cannot_be_written_takes_its_change_back(root, monkeypatch):
    product = factories.ProductFactory()

    def refused(*args, **kwargs):
        raise DatabaseError("the log's table refused the row")

    monkeypatch.setattr(AdminLogEntry.objects, "bulk_create", refused)
    with pytest.raises(DatabaseError):
        hide(root, product)
    assert Product.objects.get(pk=product.pk).is_active  # not hidden without its record

    monkeypatch.undo()
    assert hide(root, product).status_code == 302
    assert not Product.objects.get(pk=product.pk).is_active
    entry = AdminLogEntry.objects.get()
    assert (entry.action, entry.object_pk, entry.changes["is_active"]) == (
        "make_inactive",
        str(product.pk),
        [True, False],
    )


def test_a_list_action_that_fails_after_its_service_wrote_leaves_neither_change_nor_record(root, monkeypatch):
    product = factories.ProductFactory()

    def fails(*args, **kwargs):
        raise RuntimeError("the action broke after the service")

    monkeypatch.setattr(ProductAdmin, "message_user", fails)
    with pytest.raises(RuntimeError):
        hide(root, product)
    assert Product.objects.get(pk=product.pk).is_active
    assert not AdminLogEntry.objects.exists()


def test_only_the_actions_that_call_a_carrier_or_lock_stock_run_row_by_row():
    request = RequestFactory().get("/")
    request.user = factories.UserFactory(is_staff=True, is_superuser=True)
    row_by_row = {
        (model._meta.label, name)
        for model, model_admin in admin.site._registry.items()
        for name, (func, _n, _d) in model_admin.get_actions(request).items()
        if getattr(func, "admin_log_row_by_row", False)
    }
    assert row_by_row == {
        (Shipment._meta.label, "ship"),
        (Shipment._meta.label, "poll_now"),
        (Shipment._meta.label, "reroute"),
        (Order._meta.label, "cancel_orders"),
    }


@pytest.mark.django_db(transaction=True)
def test_cancelling_a_selection_commits_order_by_order_so_checkout_is_not_stalled(root, monkeypatch):
    """Each order's cancel commits before the next starts: a checkout (here another connection)
    can lock the first order and its stock while the batch goes on. In one transaction around
    the batch, the first order stayed locked until the last was done."""
    import threading

    from django.db import connection, transaction
    from django.db.utils import OperationalError

    from fulfillment.models import Stock
    from orders import admin as orders_admin
    from tests.fulfillment.support import placed_order, stock, variant, warehouses

    item = variant()
    stock(warehouses()["sh"], item, 10)
    first, second = placed_order([(item, 1)]), placed_order([(item, 1)])
    cancel, seen, done = orders_admin.services.order_cancel, [], []

    def lock_first_elsewhere() -> None:
        try:
            with transaction.atomic():
                Order.objects.select_for_update(nowait=True).get(pk=done[0])
                list(Stock.objects.select_for_update(nowait=True).filter(variant=item))
            seen.append("locked")
        except OperationalError:
            seen.append("waiting")
        finally:
            connection.close()

    def cancel_then_look(*, order_id, **kwargs):
        if done:  # the second order: is the first one's cancel committed?
            thread = threading.Thread(target=lock_first_elsewhere)
            thread.start()
            thread.join()
        done.append(order_id)
        return cancel(order_id=order_id, **kwargs)

    monkeypatch.setattr(orders_admin.services, "order_cancel", cancel_then_look)
    root.post(
        reverse("admin:orders_order_changelist"),
        {"action": "cancel_orders", "_selected_action": [str(first.pk), str(second.pk)], "apply": "1", "reason": "x"},
    )
    assert seen == ["locked"]
    assert set(Order.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", flat=True)) == {
        Order.Status.CANCELLED
    }
