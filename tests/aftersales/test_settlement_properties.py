"""A property: for random order histories (lines of two departments, a coupon or not, gateway,
wallet or cash on delivery, units cancelled before shipping, units returned after receipt and
refunded before or after the month is settled), two monthly runs always reconcile to the cent,
settle every completed line once and every refund once, and never change a confirmed
statement."""

import datetime as dt
import itertools
from decimal import Decimal

import pytest
import time_machine
from django.db.models import F, Sum
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from aftersales.models import AfterSale, RefundNoteLine, Statement, StatementLine
from aftersales.services import requests as svc
from aftersales.services import settlement
from catalog.models import CommissionRate
from orders.models import Order
from orders.services import order_confirm_receipt
from payments.services import cod_accept, wallet_pay, wallet_top_up
from tests import factories
from tests.aftersales.support import pay_by_gateway, ship_all
from tests.aftersales.test_requests import open_request, staff
from tests.fulfillment.support import place, stock, warehouses
from tests.purchase import buyer_with_cart

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal
# Each example lives in a year of its own (the database is not emptied between examples): its
# runs see only its own orders and statements.
YEARS = itertools.count(2031)


def at(year: int, day: str, hour: int = 10):
    when = timezone.make_aware(dt.datetime.fromisoformat(f"{year}-{day} {hour:02d}:00"))
    return time_machine.travel(when, tick=True)


order_strategy = st.fixed_dictionaries(
    {
        "units": st.lists(st.integers(min_value=0, max_value=3), min_size=3, max_size=3).filter(any),
        "coupon": st.booleans(),
        "how": st.sampled_from(["sandbox", "wallet", "cod"]),
        "cancel": st.integers(min_value=0, max_value=2),  # units of the first line cancelled unshipped
        "return_": st.integers(min_value=0, max_value=2),  # units of the last line returned after receipt
        "refund_late": st.booleans(),  # the return is received after October was settled
        "day": st.integers(min_value=2, max_value=26),
    }
)


def _world(year: int):
    places = warehouses()
    departments = [
        factories.DepartmentFactory(code=f"p{year}-{i}", name=f"部门{i}", contact_email=f"p{i}@dept.example")
        for i in range(2)
    ]
    CommissionRate.objects.create(department=departments[0], rate=D("0.0650"), valid_from=dt.date(year, 1, 1))
    CommissionRate.objects.create(department=departments[1], rate=D("0.1125"), valid_from=dt.date(year, 10, 10))
    variants = []
    for price, department in zip(["19.90", "100.00", "33.33"], [0, 1, 1], strict=True):
        v = factories.VariantFactory(
            product=factories.ProductFactory(department=departments[department]), price=D(price)
        )
        stock(places["sh"], v, 500)
        variants.append(v)
    factories.CouponFactory(
        code=f"PROP{year}", kind="percent", value=D("15"), min_spend=0, per_customer_limit=999,
        starts_at=dt.datetime(year, 1, 1, tzinfo=dt.UTC),
    )  # fmt: skip
    return variants


def _history(year, variants, spec):
    items = [(v, n) for v, n in zip(variants, spec["units"], strict=True) if n]
    with at(year, f"10-{spec['day']:02d}"):
        user, address, cart = buyer_with_cart(items, coupon=f"PROP{year}" if spec["coupon"] else "")
        address.province = address.city = "上海"
        address.save()
        order = place(user, address, cart, payment_method=spec["how"])
        if spec["how"] == "sandbox":
            pay_by_gateway(order)
        elif spec["how"] == "wallet":
            wallet_top_up(user=user, amount=order.total, reference="top-up")
            wallet_pay(order_id=order.pk, user=user)
        else:
            cod_accept(order_id=order.pk, user=user)
        lines = list(order.lines.order_by("pk"))
        first, last = lines[0], lines[-1]
        cancel = min(spec["cancel"], first.quantity - 1)
        if cancel:
            open_request(order, AfterSale.Kind.CANCEL, AfterSale.Reason.CHANGED_MIND, {first.pk: cancel})
        ship_all(order)
        order_confirm_receipt(order_id=order.pk, customer=user)
    request = None
    units = min(spec["return_"], last.quantity - (cancel if last.pk == first.pk else 0))
    if units:
        with at(year, f"10-{spec['day'] + 2:02d}"):
            request = open_request(order, AfterSale.Kind.RETURN, AfterSale.Reason.QUALITY, {last.pk: units})
            svc.aftersale_approve(request_id=request.pk, actor=staff())
            svc.aftersale_return_shipped(
                request_id=request.pk, customer=user, carrier="own_fleet", tracking_number=f"R{order.pk}"
            )
        if not spec["refund_late"]:
            with at(year, f"10-{spec['day'] + 3:02d}"):
                _receive(request)
            request = None
    return request  # a return still to receive, after October is settled


def _receive(request):
    svc.aftersale_receive(
        request_id=request.pk, actor=staff(), restock={x.pk: x.quantity for x in request.lines.all()}, write_off={}
    )


@hypothesis_settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(histories=st.lists(order_strategy, min_size=1, max_size=3))
def test_for_any_order_history_every_run_reconciles_to_the_cent_and_settles_everything_once(histories):
    year = next(YEARS)
    october, november = dt.date(year, 10, 1), dt.date(year, 11, 1)
    variants = _world(year)
    late = [r for r in (_history(year, variants, spec) for spec in histories) if r is not None]

    with at(year, "11-15", 2):
        settlement.settle_month(month=october)  # raises if the books do not reconcile
    finance = factories.UserFactory(is_staff=True)
    for statement in Statement.objects.filter(month=october):
        settlement.statement_confirm(statement_id=statement.pk, actor=finance)
    confirmed = {s.pk: (s.goods, s.refunds, s.commission, s.payable) for s in Statement.objects.filter(month=october)}
    with at(year, "11-20"):
        for request in late:
            _receive(request)
    with at(year, "12-15", 2):
        settlement.settle_month(month=november)
        settlement.settle_month(month=november)  # a rerun changes nothing

    for statement in Statement.objects.filter(pk__in=confirmed):
        assert (statement.goods, statement.refunds, statement.commission, statement.payable) == confirmed[statement.pk]
    completed = Order.objects.filter(status=Order.Status.COMPLETED, placed_at__year=year)
    lines = StatementLine.objects.filter(statement__month__year=year)
    sums = lines.aggregate(goods=Sum("goods"), refunds=Sum("refunds"), commission=Sum("commission"),
                           payable=Sum("payable"))  # fmt: skip
    # Every completed line settled once, at its goods after the discount; every refund once.
    assert lines.filter(kind=StatementLine.Kind.SALE).count() == sum(o.lines.count() for o in completed)
    assert sums["goods"] == sum(o.subtotal - o.discount for o in completed)
    refunds = RefundNoteLine.objects.filter(note__order__in=completed)
    assert sums["refunds"] == (refunds.aggregate(t=Sum("amount"))["t"] or D("0.00"))
    assert not refunds.filter(settled_in__isnull=True).exists()
    assert sums["payable"] + sums["commission"] == sums["goods"] - sums["refunds"]
    # Each statement adds up (the database checks it too).
    assert not Statement.objects.exclude(payable=F("goods") - F("refunds") - F("commission") + F("adjustments"))
