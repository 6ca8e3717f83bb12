"""Every after-sales request and message mails someone: a customer cannot flood the mailboxes."""

import pytest
from django.urls import reverse

from aftersales.models import AfterSale, AfterSaleMessage
from aftersales.services import requests as svc
from orders.models import Notification
from tests.aftersales.support import completed, line_of, shop

pytestmark = pytest.mark.django_db(transaction=True)


def test_messages_and_new_requests_are_rate_limited_per_customer(client, settings):
    settings.RATELIMIT_AFTERSALES = "3/h"
    _places, v = shop()
    order = completed([(v, 2)])
    request = svc.aftersale_open(
        order_id=order.pk, customer=order.customer, kind=AfterSale.Kind.RETURN, reason=AfterSale.Reason.QUALITY,
        quantities={line_of(order).pk: 1}, description="坏了",
    )  # fmt: skip
    client.force_login(order.customer)
    url = reverse("aftersales:message", kwargs={"number": request.number})
    answers = [client.post(url, {"body": f"第{n}条"}).status_code for n in range(5)]
    assert answers == [302, 302, 302, 429, 429]
    assert AfterSaleMessage.objects.filter(request=request).count() == 3
    assert Notification.objects.filter(kind="aftersale_customer_msg").count() == 3
    # The same budget covers opening requests: the form refuses before the service runs.
    new = reverse("aftersales:new", kwargs={"order_number": order.number})
    assert client.post(new, {"kind": "return", "reason": "quality"}).status_code == 429
    assert client.get(new).status_code == 200  # reading the form is not limited
