"""A ¥0 order (a 100 % coupon and free shipping) is paid as it is placed, with no payment, ledger
entry or gateway (cart.services.checkout_place_order). Cancelling it before shipping and refunding
a line after it shipped must work all the same (issue 12, part M): no crash, no negative money,
no gateway or wallet, the coupon's use given back when the whole order is refunded before
shipping (not for one line), the stock returned."""

from decimal import Decimal
from unittest import mock

import pytest

from aftersales.models import AfterSale, RefundNote
from aftersales.services import requests as svc
from fulfillment.models import Stock
from orders.models import Coupon, CouponRedemption, Order
from payments.models import Payment, Refund, WalletEntry
from tests import factories
from tests.aftersales.support import line_of, ship_all, shop
from tests.fulfillment.support import place, stock, variant
from tests.purchase import buyer_with_cart

pytestmark = pytest.mark.django_db

Kind, Reason = AfterSale.Kind, AfterSale.Reason


def free_order(items, *, method: str = "sandbox") -> Order:
    """Goods over the free-shipping threshold, all taken off by a 100 % coupon: ¥0, paid as placed."""
    factories.CouponFactory(code="ALLFREE", kind="percent", value=Decimal("100"), min_spend=0, usage_limit=5)
    user, address, cart = buyer_with_cart(items, coupon="ALLFREE")
    address.province = address.city = "上海"
    address.save()
    order = place(user, address, cart, payment_method=method)
    order.refresh_from_db()
    assert (order.total, order.status) == (Decimal("0.00"), Order.Status.PAID)
    assert Coupon.objects.get(code="ALLFREE").used_count == 1
    return order


def staff():
    from django.contrib.auth.models import Permission

    user = factories.UserFactory(is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="aftersales", codename__in=["decide_aftersale"])
    )
    return type(user).objects.get(pk=user.pk)


def no_money_moved():
    assert not Payment.objects.exists()
    assert not Refund.objects.exists()
    assert not WalletEntry.objects.exists()
    for note in RefundNote.objects.all():
        assert note.amount == note.goods_amount == Decimal("0.00")
        assert note.shipping_amount == note.insurance_amount == Decimal("0.00")
        assert note.state == RefundNote.State.NOTHING_DUE and note.payment_refund_id is None


@pytest.mark.parametrize("method", ["sandbox", "cod", "wallet"])
def test_a_free_order_cancelled_before_shipping_closes_returns_its_stock_and_its_coupon(method):
    _places, v = shop(price="120.00")
    order = free_order([(v, 2)], method=method)
    assert Stock.objects.get(variant=v).reserved == 2

    with (
        mock.patch("payments.services.payment_refund") as gateway,
        mock.patch("aftersales.services.requests.payment_refund") as refund,
    ):
        request = svc.aftersale_open(
            order_id=order.pk, customer=order.customer, kind=Kind.CANCEL, reason=Reason.CHANGED_MIND,
            quantities={line_of(order).pk: 2},
        )  # fmt: skip
    assert not gateway.called and not refund.called

    order.refresh_from_db()
    request.refresh_from_db()
    assert order.status == Order.Status.CLOSED
    assert request.status == AfterSale.Status.COMPLETED
    assert Stock.objects.get(variant=v).reserved == 0
    assert Coupon.objects.get(code="ALLFREE").used_count == 0
    assert not CouponRedemption.objects.exists()
    assert RefundNote.objects.get(order=order).amount == Decimal("0.00")
    no_money_moved()


def test_one_line_of_a_free_order_cancelled_before_shipping_keeps_the_coupon_and_the_rest():
    places, v = shop(price="120.00")
    other = variant(price="80.00")
    stock(places["sh"], other, 5)
    order = free_order([(v, 1), (other, 1)])

    request = svc.aftersale_open(
        order_id=order.pk, customer=order.customer, kind=Kind.CANCEL, reason=Reason.CHANGED_MIND,
        quantities={line_of(order, other).pk: 1},
    )  # fmt: skip

    order.refresh_from_db()
    request.refresh_from_db()
    assert order.status == Order.Status.PAID  # the rest still ships
    assert request.status == AfterSale.Status.COMPLETED
    assert Stock.objects.get(variant=other).reserved == 0
    assert Stock.objects.get(variant=v).reserved == 1
    assert Coupon.objects.get(code="ALLFREE").used_count == 1  # not refunded in full
    no_money_moved()


@pytest.mark.parametrize("method", ["sandbox", "cod"])
def test_a_line_of_a_free_order_refunded_after_shipping_moves_no_money(method):
    _places, v = shop(price="120.00")
    order = free_order([(v, 2)], method=method)
    ship_all(order)
    assert order.status == Order.Status.SHIPPED

    request = svc.aftersale_open(
        order_id=order.pk, customer=order.customer, kind=Kind.REFUND, reason=Reason.DAMAGED,
        quantities={line_of(order).pk: 1}, description="坏了",
    )  # fmt: skip
    svc.aftersale_approve(request_id=request.pk, actor=staff())

    request.refresh_from_db()
    assert request.status == AfterSale.Status.COMPLETED
    assert Coupon.objects.get(code="ALLFREE").used_count == 1
    no_money_moved()
