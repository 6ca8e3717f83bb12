"""用户信息管理: staff find a customer by email, phone or name, and their page shows their orders,
after-sales requests, wallet balance and latest entries."""

from decimal import Decimal

import pytest
from django.urls import reverse

from aftersales.models import AfterSale
from aftersales.services import requests as svc
from payments.services import wallet_top_up
from tests import factories
from tests.aftersales.support import completed, line_of, shop

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_customers_page_shows_orders_requests_and_wallet(client):
    _places, v = shop()
    order = completed([(v, 1)])
    customer = order.customer
    customer.phone, customer.last_name = "13912345678", "韩"
    customer.save()
    wallet_top_up(user=customer, amount=Decimal("88.00"), reference="TOPUP-42")
    request = svc.aftersale_open(
        order_id=order.pk, customer=customer, kind=AfterSale.Kind.RETURN, reason=AfterSale.Reason.QUALITY,
        quantities={line_of(order).pk: 1}, description="坏了",
    )  # fmt: skip
    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))
    for query in (customer.email, "13912345678", "韩"):
        found = client.get(reverse("admin:shop_user_changelist"), {"q": query}).content.decode()
        assert customer.email in found, query
    page = client.get(reverse("admin:shop_user_change", args=[customer.pk])).content.decode()
    assert order.number in page  # orders' inline
    assert request.number in page  # after-sales' inline
    assert "88.00" in page and "TOPUP-42" in page  # payments' wallet inline: balance and entries
    assert reverse("admin:payments_wallet_adjust", args=[customer.wallet.pk]) in page
