"""Issue 11's leftovers on money and after-sales: a coupon's use comes back when its order closes
unpaid or is refunded before shipping (once), refunded units leave the sales counts (once, never
below zero), and a line refunded in full can no longer be reviewed."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from aftersales.exceptions import AfterSaleError, AfterSaleErrorCode
from aftersales.models import AfterSale, Review
from aftersales.selectors.reviews import order_review_states
from aftersales.services import requests as svc
from aftersales.services.reviews import review_create, reviews_default
from catalog.models import Product
from orders.models import Coupon, CouponRedemption, Order
from orders.sales_count import sales_baseline_set, sales_count_refresh
from orders.services import coupon_check, coupon_release, orders_cancel_expired
from payments.models import Payment
from payments.providers import GatewayResult
from payments.services import payment_apply, payment_start
from tests import factories
from tests.aftersales.support import completed, line_of, pay_by_gateway, shop
from tests.fulfillment.support import place
from tests.purchase import buyer_with_cart, english, messages_of

pytestmark = pytest.mark.django_db

Kind, Reason = AfterSale.Kind, AfterSale.Reason


def staff():
    from django.contrib.auth.models import Permission

    user = factories.UserFactory(is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="aftersales", codename__in=["decide_aftersale"])
    )
    return type(user).objects.get(pk=user.pk)


def order_with_coupon(v, code: str) -> Order:
    user, address, cart = buyer_with_cart([(v, 1)], coupon=code)
    address.province = address.city = "上海"
    address.save()
    return place(user, address, cart)


def refund_units(order, quantities: dict, kind=Kind.REFUND):
    """The customer asks for a refund of units of a completed order; staff approve it."""
    reason = Reason.CHANGED_MIND if kind == Kind.CANCEL else Reason.DAMAGED
    request = svc.aftersale_open(
        order_id=order.pk, customer=order.customer, kind=kind, reason=reason, quantities=quantities, description="坏了"
    )
    if kind != Kind.CANCEL:
        svc.aftersale_approve(request_id=request.pk, actor=staff())
    return request


# -- coupons ------------------------------------------------------------------------------


def test_a_paid_order_refunded_in_full_before_shipping_gives_its_coupon_use_back_once():
    _places, v = shop(price="100.00")
    code = factories.CouponFactory(code="BACK", kind="fixed", value=Decimal("10.00"), min_spend=0).code
    mine, theirs = order_with_coupon(v, code), order_with_coupon(v, code)
    pay_by_gateway(mine)
    assert Coupon.objects.get(code=code).used_count == 2

    refund_units(mine, {line_of(mine).pk: 1}, kind=Kind.CANCEL)
    assert Order.objects.get(pk=mine.pk).status == Order.Status.CLOSED
    assert Coupon.objects.get(code=code).used_count == 1  # theirs still holds its use
    assert list(CouponRedemption.objects.values_list("order_id", flat=True)) == [theirs.pk]
    coupon_release(order=mine)  # a second close of the same order gives nothing more back
    assert Coupon.objects.get(code=code).used_count == 1
    # The customer may use it again (one use per customer).
    assert coupon_check(code=code, subtotal=Decimal("100.00"), customer=mine.customer)[1] == Decimal("10.00")


def test_an_unpaid_order_closed_by_the_timeout_gives_its_coupon_back_once_retried_or_paid_late():
    _places, v = shop(price="100.00")
    code = factories.CouponFactory(code="LATE", kind="fixed", value=Decimal("10.00"), min_spend=0).code
    late, on_time, _other = (order_with_coupon(v, code) for _ in range(3))
    for order in (late, on_time):
        payment_start(order=order, provider="sandbox", return_url="http://x/r", notify_url="http://x/n")
    pay_by_gateway(on_time)
    assert Coupon.objects.get(code=code).used_count == 3

    with time_machine.travel(late.pay_by + timedelta(minutes=1)):
        assert orders_cancel_expired() == 2  # late and other; on_time was paid
        assert orders_cancel_expired() == 0  # the task retried: nothing more
    assert Coupon.objects.get(code=code).used_count == 1
    assert list(CouponRedemption.objects.values_list("order_id", flat=True)) == [on_time.pk]
    # The gateway reports the late order paid after all: the money goes back, the coupon stays free.
    payment = Payment.objects.get(order=late, provider="sandbox")
    result = GatewayResult(
        reference=payment.reference, transaction_id="T-late", amount=payment.amount, currency=payment.currency,
        merchant_id="", succeeded=True,
    )  # fmt: skip
    assert payment_apply(payment_id=payment.pk, result=result).state == Payment.State.TO_REFUND
    assert Order.objects.get(pk=late.pk).status == Order.Status.CANCELLED
    assert Coupon.objects.get(code=code).used_count == 1


# -- sales counts -------------------------------------------------------------------------


def test_refunded_units_leave_the_sales_count_once_per_refund_and_never_below_zero():
    """At the recompute from the sales rollup (orders.sales_count, beat's task), not in the refund."""
    _places, v = shop(price="100.00")
    sales_baseline_set(units={v.product_id: 7})
    order = completed([(v, 3)])
    sales_count_refresh()
    assert Product.objects.get(pk=v.product_id).sales_count == 10
    refund_units(order, {line_of(order).pk: 2})
    sales_count_refresh()
    assert Product.objects.get(pk=v.product_id).sales_count == 8
    svc.aftersales_enforce_deadlines()  # the beat finds nothing to do: nothing counted again
    sales_count_refresh()
    assert Product.objects.get(pk=v.product_id).sales_count == 8
    refund_units(order, {line_of(order).pk: 1}, kind=Kind.RETURN)  # a return: no refund until received
    sales_count_refresh()
    assert Product.objects.get(pk=v.product_id).sales_count == 8

    _places, w = shop(price="50.00")
    refund_units(completed([(w, 3)]), {line_of(Order.objects.latest("pk")).pk: 3})
    sales_count_refresh()
    assert Product.objects.get(pk=w.product_id).sales_count == 0


# -- reviews ------------------------------------------------------------------------------


def test_a_line_refunded_in_full_cannot_be_reviewed_and_a_partly_refunded_one_can(client):
    places, v = shop(price="100.00")
    w = factories.VariantFactory(product=factories.ProductFactory(), price=Decimal("50.00"))
    from tests.fulfillment.support import stock

    stock(places["sh"], w, 10)
    order = completed([(v, 2), (w, 1)])
    refund_units(order, {line_of(order, v).pk: 1, line_of(order, w).pk: 1})
    states = {s.line.variant_id: s for s in order_review_states(order=order)}
    assert states[v.pk].can_review and not states[v.pk].refunded
    assert not states[w.pk].can_review and states[w.pk].refunded

    with pytest.raises(AfterSaleError) as error:
        review_create(order_line_id=line_of(order, w).pk, customer=order.customer, rating=1)
    assert error.value.code == AfterSaleErrorCode.LINE_REFUNDED

    english(client).force_login(order.customer)
    url = reverse("aftersales:review_order", kwargs={"number": order.number})
    page = client.get(url).content.decode()
    assert f'name="line-{line_of(order, v).pk}-rating"' in page
    assert f'name="line-{line_of(order, w).pk}-rating"' not in page
    assert "Refunded: not open for review" in page
    answer = client.post(url, {"line": line_of(order, w).pk, f"line-{line_of(order, w).pk}-rating": "1"}, follow=True)
    assert "This item was refunded in full, so it cannot be reviewed." in messages_of(answer)
    assert not Review.objects.exists()

    # When the window closes, only the line the customer kept gets the default review.
    with time_machine.travel(timezone.now() + timedelta(days=settings.REVIEW_DAYS + 1)):
        assert reviews_default() == 1
        assert reviews_default() == 0
    assert list(Review.objects.values_list("order_line__variant_id", flat=True)) == [v.pk]
