"""Two invoices issued at the same moment (two finance clerks, or a clerk and an order
completing) get two consecutive numbers from the gap-free sequence, never the same one; two
clerks issuing the same invoice issue it once. Real threads, separate connections."""

import pytest

from aftersales.models import Invoice
from aftersales.services import invoices as svc
from orders.models import Notification
from tests.aftersales.support import completed, shop
from tests.orders.test_concurrency import run_at_once

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def requested(settings):
    settings.INVOICE_AUTO_ISSUE = False
    _, v = shop(on_hand=20)
    orders = [completed([(v, 1)]) for _ in range(4)]
    return [
        svc.invoice_request(order_id=o.pk, customer=o.customer, title_type="personal", title=f"买家{n}")
        for n, o in enumerate(orders)
    ]


def test_concurrent_issues_never_share_a_number_and_leave_no_gap(requested):
    results = run_at_once([lambda pk=invoice.pk: svc.invoice_issue(invoice_id=pk) for invoice in requested])
    assert not [r for r in results if isinstance(r, Exception)]
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert [n[-8:] for n in numbers] == ["00000001", "00000002", "00000003", "00000004"]


def test_two_clerks_issuing_the_same_invoice_issue_it_once(requested):
    invoice = requested[0]
    results = run_at_once([lambda: svc.invoice_issue(invoice_id=invoice.pk)] * 2)
    assert not [r for r in results if isinstance(r, Exception)]
    assert results[0].number == results[1].number
    assert Invoice.objects.exclude(number=None).count() == 1
    assert Notification.objects.filter(kind=Notification.Kind.INVOICE_ISSUED).count() == 1
