"""The recommendations task on small fixed data: "bought together" from paid orders of the
window, "for you" from what customers viewed and bought (never what they bought), padded with
best sellers; a second run writes the same lists; beat schedules it; the command runs it."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from catalog.models import BoughtTogether, Recommendation
from catalog.services import product_recently_viewed_record
from orders import recommendations
from orders.models import Order
from tests import factories
from tests.aftersales.reviews_support import completed_order

pytestmark = pytest.mark.django_db


def _variant(product):
    return factories.VariantFactory(product=product)


@pytest.fixture
def shop():
    """Five products (sales counts break ties) with a variant each, plus a hidden one."""
    sales = {"a": 3, "b": 5, "c": 9, "d": 1, "e": 0, "hidden": 50}
    products = {key: factories.ProductFactory(name=key, sales_count=n) for key, n in sales.items()}
    products["hidden"].is_active = False
    products["hidden"].save(update_fields=["is_active"])
    return products, {key: _variant(p) for key, p in products.items()}


def together() -> dict[str, list[str]]:
    lists: dict[str, list[str]] = {}
    for row in BoughtTogether.objects.select_related("product", "other").order_by("product__name", "position"):
        lists.setdefault(row.product.name, []).append(row.other.name)
    return lists


def test_bought_together_counts_paid_orders_of_the_window_once_each(shop):
    products, v = shop
    second_a = _variant(products["a"])
    completed_order([v["a"], v["b"], v["c"]])
    completed_order([v["a"], second_a, v["b"]])  # two variants of a: one order, counted once
    completed_order([v["a"], v["c"], v["d"]], status=Order.Status.PAID)
    completed_order([v["b"], v["d"]], status=Order.Status.SHIPPED)
    completed_order([v["a"], v["hidden"]])  # a hidden product is never offered
    # Not counted: never paid, refunded in full, or older than the window.
    cancelled = completed_order([v["a"], v["e"]], status=Order.Status.CANCELLED)
    Order.objects.filter(pk=cancelled.pk).update(paid_at=None)
    completed_order([v["a"], v["e"]], status=Order.Status.CLOSED)
    completed_order(
        [v["a"], v["e"]], completed_at=timezone.now() - timedelta(days=settings.RECOMMENDATIONS_WINDOW_DAYS)
    )

    recommendations.bought_together_refresh()

    # a-b and a-c are in two orders each; c sells more than b, so it comes first.
    assert together() == {
        "a": ["c", "b", "d"],
        "b": ["a", "c", "d"],
        "c": ["a", "b", "d"],
        "d": ["c", "b", "a"],
        "hidden": ["a"],  # its page is gone; the row costs nothing
    }
    row = BoughtTogether.objects.get(product=products["a"], other=products["b"])
    assert (row.orders, row.position) == (2, 2)


def test_bought_together_keeps_the_list_size(shop, monkeypatch):
    _products, v = shop
    completed_order([v["a"], v["b"], v["c"], v["d"]])
    monkeypatch.setattr(recommendations, "LIST_SIZE", 2)
    recommendations.bought_together_refresh()
    assert together()["a"] == ["c", "b"]


@pytest.fixture
def interests():
    """Three categories and three brands; p6 is the shop's best seller."""
    k1, k2, k3 = (factories.CategoryFactory() for _ in range(3))
    x, y, z = (factories.BrandFactory() for _ in range(3))
    spec = {
        "p1": (k1, x, 10),
        "p2": (k1, y, 8),
        "p3": (k1, z, 1),
        "p4": (k2, x, 5),
        "p5": (k2, z, 7),
        "p6": (k3, z, 100),
        "p7": (k3, y, 50),
    }
    return {
        name: factories.ProductFactory(name=name, category=c, brand=b, sales_count=n)
        for name, (c, b, n) in spec.items()
    }


def for_you_of(customer) -> list[str]:
    rows = Recommendation.objects.filter(customer=customer).select_related("product").order_by("position")
    return [r.product.name for r in rows]


def test_for_you_weighs_categories_and_brands_viewed_and_bought_and_leaves_out_what_was_bought(interests):
    p = interests
    buyer, looker, newcomer = (factories.UserFactory() for _ in range(3))
    # buyer: bought p1 (k1, x: 3 each), viewed p2 (k1, y: 1 each).
    completed_order([_variant(p["p1"])], customer=buyer)
    product_recently_viewed_record(customer_id=buyer.pk, product_id=p["p2"].pk)
    # looker: viewed p6 only (k3, z).
    product_recently_viewed_record(customer_id=looker.pk, product_id=p["p6"].pk)

    outcome = recommendations.recommendations_refresh()

    # p2: k1 4 + y 1; p3: k1 4; p4: x 3; p7: y 1; then best sellers p6, p5. Never p1 (bought).
    assert for_you_of(buyer) == ["p2", "p3", "p4", "p7", "p6", "p5"]
    # p6: k3 1 + z 1; then score 1 by sales: p7, p5, p3; then best sellers. Viewed is fine.
    assert for_you_of(looker) == ["p6", "p7", "p5", "p3", "p1", "p2", "p4"]
    assert for_you_of(newcomer) == []  # no history: the home page shows best sellers
    assert outcome["customers"] == 2
    assert outcome["viewers"] == 2


def test_for_you_falls_back_to_best_sellers_and_keeps_the_list_size(interests, monkeypatch):
    # The only product of its category and brand: nothing else to offer from them.
    solo = factories.ProductFactory(category=factories.CategoryFactory(), brand=factories.BrandFactory())
    customer = factories.UserFactory()
    completed_order([_variant(solo)], customer=customer)
    monkeypatch.setattr(recommendations, "LIST_SIZE", 3)
    recommendations.recommendations_refresh()
    assert for_you_of(customer) == ["p6", "p7", "p1"]  # the shop's best sellers


def test_only_a_customers_strongest_interests_count(interests, monkeypatch):
    p = interests
    customer = factories.UserFactory()
    completed_order([_variant(p["p7"])], customer=customer)  # k3 and y: 3 each
    for name in ("p2", "p5"):  # k1 and y, k2 and z: 1 each
        product_recently_viewed_record(customer_id=customer.pk, product_id=p[name].pk)
    monkeypatch.setattr(recommendations, "TOP_INTERESTS", 1)  # k3 (3) and y (4) only
    recommendations.recommendations_refresh()
    # p2: y 4; p6: k3 3; the rest by sales only (k1, k2 and z no longer count).
    assert for_you_of(customer) == ["p2", "p6", "p1", "p5", "p4", "p3"]


def test_the_task_is_idempotent_and_batches_agree(interests):
    p = interests
    customers = [factories.UserFactory() for _ in range(5)]
    for i, customer in enumerate(customers):
        completed_order([_variant(p[f"p{i + 1}"]), _variant(p[f"p{i + 2}"])], customer=customer)
        product_recently_viewed_record(customer_id=customer.pk, product_id=p["p7"].pk)

    def snapshot():
        return (
            sorted(BoughtTogether.objects.values_list("product", "other", "orders", "position")),
            sorted(Recommendation.objects.values_list("customer", "product", "position")),
        )

    recommendations.recommendations_refresh()
    first = snapshot()
    assert first[0] and first[1]
    recommendations.recommendations_refresh()
    assert snapshot() == first
    recommendations.for_you_refresh(batch=2)  # three batches of id ranges
    assert snapshot() == first


def test_a_customer_whose_history_is_gone_loses_the_list(interests):
    customer = factories.UserFactory()
    order = completed_order([_variant(interests["p1"])], customer=customer)
    recommendations.recommendations_refresh()
    assert for_you_of(customer)
    Order.objects.filter(pk=order.pk).update(paid_at=None, status=Order.Status.CANCELLED)
    recommendations.recommendations_refresh()
    assert for_you_of(customer) == []


def test_the_refresh_runs_a_fixed_number_of_queries_whatever_the_orders(interests, django_assert_max_num_queries):
    p = interests
    for i in range(6):
        completed_order([_variant(p[f"p{1 + i % 6}"]), _variant(p["p7"])], customer=factories.UserFactory())
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        recommendations.bought_together_refresh()
        recommendations.for_you_refresh()
    for i in range(30):
        completed_order([_variant(p[f"p{1 + i % 6}"]), _variant(p["p7"])], customer=factories.UserFactory())
    with django_assert_max_num_queries(len(small)):  # SQL does the work, not a loop per order
        recommendations.bought_together_refresh()
        recommendations.for_you_refresh()


def test_beat_runs_it_and_the_task_and_command_work(interests):
    entry = settings.CELERY_BEAT_SCHEDULE["orders-recommendations"]
    assert entry["task"] == "orders.tasks.recommendations_refresh"
    assert entry["schedule"] == timedelta(minutes=60)
    from orders.tasks import recommendations_refresh

    customer = factories.UserFactory()
    completed_order([_variant(interests["p1"]), _variant(interests["p2"])], customer=customer)
    recommendations_refresh.delay()  # eager in tests
    assert for_you_of(customer)
    assert together() == {"p1": ["p2"], "p2": ["p1"]}
    Recommendation.objects.all().delete()
    call_command("recommendations_refresh", stdout=__import__("io").StringIO())
    assert for_you_of(customer)
