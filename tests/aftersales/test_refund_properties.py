"""Refund arithmetic under any sequence of partial refunds (hypothesis), on PostgreSQL."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from aftersales.models import AfterSale, RefundNote
from aftersales.services import requests as svc
from fulfillment.models import Stock
from fulfillment.services import stock_movement_totals
from orders.models import Order
from orders.services import order_line_discount_shares
from payments.models import Payment, Refund, Wallet
from shop.core.money import money
from tests import factories
from tests.aftersales.support import pay_by_gateway
from tests.fulfillment.support import place, stock, warehouses
from tests.purchase import buyer_with_cart

pytestmark = pytest.mark.django_db(transaction=True)

PRICES = ["19.90", "100.00", "33.33"]


def _order(quantities: list[int], coupon: str, how: str) -> Order:
    places = warehouses()
    variants = []
    for price in PRICES[: len(quantities)]:
        v = factories.VariantFactory(product=factories.ProductFactory(), price=Decimal(price))
        stock(places["sh"], v, 20)
        variants.append(v)
    if coupon:
        factories.CouponFactory(code=coupon, kind="percent", value=Decimal("15"), min_spend=0, per_customer_limit=99)
    user, address, cart = buyer_with_cart(list(zip(variants, quantities, strict=True)), coupon=coupon)
    address.province = address.city = "上海"
    address.save()
    order = place(user, address, cart, payment_method="sandbox" if how == "sandbox" else "wallet")
    if how == "sandbox":
        pay_by_gateway(order)
    else:
        from payments.services import wallet_pay, wallet_top_up

        wallet_top_up(user=user, amount=order.total, reference="top-up")
        wallet_pay(order_id=order.pk, user=user)
    order.refresh_from_db()
    return order


@hypothesis_settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    quantities=st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=3),
    coupon=st.booleans(),
    how=st.sampled_from(["sandbox", "wallet"]),
    steps=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 4)), min_size=1, max_size=6),
)
def test_any_sequence_of_partial_cancellations_keeps_every_ledger_right(quantities, coupon, how, steps):
    code = f"P{abs(hash((tuple(quantities), tuple(steps)))) % 10**8}" if coupon else ""
    if code:
        from orders.models import Coupon

        Coupon.objects.filter(code=code).delete()
    order = _order(quantities, code, how)
    lines = list(order.lines.order_by("pk"))
    for index, units in steps:
        line = lines[index % len(lines)]
        el = svc.aftersale_eligibility(order=order).line(line.pk)
        if AfterSale.Kind.CANCEL not in el.kinds:
            continue
        svc.aftersale_open(
            order_id=order.pk, customer=order.customer, kind=AfterSale.Kind.CANCEL,
            reason=AfterSale.Reason.CHANGED_MIND, quantities={line.pk: min(units, el.available)},
        )  # fmt: skip
        order.refresh_from_db()
    payment = order.payments.get(state__in=[Payment.State.CAPTURED, Payment.State.REFUNDED])
    notes = RefundNote.objects.filter(order=order)
    refunded = sum(n.amount for n in notes)
    assert refunded <= payment.amount
    assert payment.refunded == sum(r.amount for r in Refund.objects.filter(payment=payment)) == refunded
    goods = sum(n.goods_amount for n in notes)
    assert goods <= order.subtotal - order.discount
    if order.status == Order.Status.CLOSED:  # everything went back, to the cent
        assert refunded == order.total
    for wallet in Wallet.objects.filter(user=order.customer):
        assert wallet.balance == sum(e.amount for e in wallet.entries.all())
    totals = stock_movement_totals()
    for row in Stock.objects.filter(variant__in=[x.variant_id for x in lines]):
        assert (row.on_hand, row.reserved) == totals[row.pk]
        assert 0 <= row.reserved <= row.on_hand


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    totals=st.lists(st.integers(min_value=1, max_value=200_00), min_size=1, max_size=4),
    discount_percent=st.integers(min_value=0, max_value=100),
    data=st.data(),
)
def test_refunding_every_unit_in_any_parts_gives_back_exactly_the_goods_less_the_discount(
    totals, discount_percent, data
):
    """The arithmetic alone (no database): partial refunds of each line, in any split, add up to
    the line's total less its discount share, and the shares to the discount."""
    from types import SimpleNamespace

    lines = []
    for pk, cents in enumerate(totals, start=1):
        quantity = data.draw(st.integers(min_value=1, max_value=5))
        unit = Decimal(cents) / 100
        lines.append(SimpleNamespace(pk=pk, quantity=quantity, unit_price=unit, line_total=unit * quantity))
    subtotal = sum(x.line_total for x in lines)
    discount = money(subtotal * discount_percent / 100)
    order = SimpleNamespace(subtotal=subtotal, discount=discount)
    shares = order_line_discount_shares(order, lines)
    assert sum(shares.values()) == discount
    for line in lines:
        net = line.line_total - shares[line.pk]
        parts, left = [], line.quantity
        while left:
            n = data.draw(st.integers(min_value=1, max_value=left))
            parts.append(n)
            left -= n
        done, given_back = 0, Decimal("0")
        for n in parts:
            given_back += svc.line_refund_amount(net=net, quantity=line.quantity, done=done, units=n)
            done += n
        assert given_back == money(net)
