"""After-sales through a real Celery worker: the gateway refund and its mail, and the deadline
job, run by another process on the same Redis and database, as in production."""

from datetime import timedelta

import pytest
from django.utils import timezone

from aftersales.models import AfterSale, RefundNote
from aftersales.services import requests as svc
from aftersales.tasks import enforce_deadlines
from fulfillment.services import shipment_pack
from orders.models import Notification
from payments.models import Refund
from payments.providers.sandbox import sandbox_refunded
from tests.aftersales.support import line_of, paid, shop
from tests.shop.conftest import celery_worker, celery_worker_process  # noqa: F401 - fixtures

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_cancellation_is_refunded_by_the_worker_and_the_customer_mailed(celery_worker):  # noqa: F811
    _places, v = shop()
    order = paid([(v, 1)])
    payment = order.payments.get(provider="sandbox")
    request = svc.aftersale_open(
        order_id=order.pk, customer=order.customer, kind=AfterSale.Kind.CANCEL,
        reason=AfterSale.Reason.CHANGED_MIND, quantities={line_of(order).pk: 1},
    )  # fmt: skip
    # Committed: the refund task went to Redis, and the worker sends it to the gateway.
    celery_worker.wait_for(
        lambda: Refund.objects.filter(payment=payment, state=Refund.State.SUCCEEDED).exists(), "the refund"
    )
    assert celery_worker.wait_for(lambda: celery_worker.ran("payments.tasks.refund_send"), "the task log")
    assert sandbox_refunded(payment.reference) == order.total
    celery_worker.wait_for(
        lambda: Notification.objects.filter(kind="refund_paid", order=order, state="sent").exists(), "the mail"
    )
    request.refresh_from_db()
    assert request.status == AfterSale.Status.COMPLETED
    assert RefundNote.objects.get(request=request).state == RefundNote.State.PAID


def test_the_deadline_job_runs_on_the_worker(celery_worker):  # noqa: F811
    _places, v = shop()
    order = paid([(v, 1)])
    shipment_pack(shipment_id=order.shipments.get().pk)
    request = svc.aftersale_open(
        order_id=order.pk, customer=order.customer, kind=AfterSale.Kind.CANCEL,
        reason=AfterSale.Reason.CHANGED_MIND, quantities={line_of(order).pk: 1},
    )  # fmt: skip
    AfterSale.objects.filter(pk=request.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    result = enforce_deadlines.delay()
    celery_worker.wait_for(lambda: celery_worker.task_done(result.id), "enforce_deadlines")
    celery_worker.wait_for(
        lambda: AfterSale.objects.filter(pk=request.pk, status=AfterSale.Status.COMPLETED).exists(), "the refund"
    )
    assert request.events.get(to_status="refunding").actor_kind == "system"
