""" "Bought together" leaves out what went back (issue 12, part M): a line refunded in full (its
refund notes give back every unit) was not bought with anything, a line partly refunded still
was; an order refunded in full before shipping (closed) or cancelled does not count at all."""

import uuid

import pytest
from django.core.management import call_command

from aftersales.models import RefundNote, RefundNoteLine
from catalog.models import BoughtTogether, Recommendation
from orders import recommendations
from orders.models import Order
from tests import factories
from tests.aftersales.reviews_support import completed_order

pytestmark = pytest.mark.django_db


def refund(order, line_units: dict) -> None:
    """A refund note giving back `units` of each of the order's lines named by variant."""
    note = RefundNote.objects.create(
        number=f"RN{uuid.uuid4().hex[:10]}", order=order, goods_amount=1, amount=1, destination="original"
    )
    for variant, units in line_units.items():
        line = order.lines.get(variant=variant)
        RefundNoteLine.objects.create(note=note, order_line=line, quantity=units, amount=1)


def pairs() -> set[tuple[str, str]]:
    return set(BoughtTogether.objects.values_list("product__name", "other__name"))


def test_a_line_refunded_in_full_is_not_bought_together_and_a_partly_refunded_one_is():
    a, b, c, d = (factories.VariantFactory(product=factories.ProductFactory(name=n)) for n in "abcd")
    returned = completed_order([a, b])
    refund(returned, {b: 1})  # b's one unit went back: a was bought alone
    partly = completed_order([c, d])
    partly.lines.filter(variant=d).update(quantity=2)
    refund(partly, {d: 1})  # one of two units of d kept

    call_command("recommendations_refresh")

    assert pairs() == {("c", "d"), ("d", "c")}


def test_a_closed_or_cancelled_order_is_not_counted_and_a_refund_note_of_another_order_changes_nothing():
    a, b, e = (factories.VariantFactory(product=factories.ProductFactory(name=n)) for n in "abe")
    completed_order([a, b], status=Order.Status.CLOSED)  # refunded in full before shipping
    cancelled = completed_order([a, e], status=Order.Status.CANCELLED)
    Order.objects.filter(pk=cancelled.pk).update(paid_at=None)
    kept = completed_order([a, b], status=Order.Status.SHIPPED)
    other = completed_order([a, e])
    refund(other, {e: 1})

    recommendations.bought_together_refresh()

    assert pairs() == {("a", "b"), ("b", "a")}
    assert BoughtTogether.objects.get(product__name="a").orders == 1
    assert kept.status == Order.Status.SHIPPED


def test_for_you_takes_no_interest_from_a_line_refunded_in_full(monkeypatch):
    """Issue 12, fourth session: "Picked for you" counted a purchase sent back as an interest."""
    garden, home = factories.CategoryFactory(), factories.CategoryFactory()  # garden wins a tie (lower id)
    returned_p = factories.ProductFactory(name="returned", category=garden, sales_count=1)
    kept_p = factories.ProductFactory(name="kept", category=home, sales_count=1)
    factories.ProductFactory(name="garden-best", category=garden, sales_count=9)
    factories.ProductFactory(name="home-best", category=home, sales_count=5)
    customer = factories.UserFactory()
    returned, kept = factories.VariantFactory(product=returned_p), factories.VariantFactory(product=kept_p)
    refund(completed_order([kept, returned], customer=customer), {returned: 1})  # every unit back
    monkeypatch.setattr(recommendations, "TOP_INTERESTS", 1)  # the strongest category only

    recommendations.for_you_refresh()

    names = Recommendation.objects.filter(customer=customer).order_by("position").values_list("product__name")
    # Interest in home only (3, garden's 3 went back): its best seller first, though garden's sells more.
    assert [n for (n,) in names][:2] == ["home-best", "garden-best"]
