"""No oversell, no deadlock, no double order: real threads against PostgreSQL.

Each scenario runs CONCURRENCY_RUNS times (20 by default) on a fresh catalogue."""

import os
import threading
from collections import Counter

import pytest
from django.db import connection, connections

from cart.exceptions import CartError, CartErrorCode
from fulfillment.models import Stock
from orders.models import Order
from tests.purchase import buyer_with_cart, place, stocked_variant

RUNS = int(os.environ.get("CONCURRENCY_RUNS", "20"))
pytestmark = [pytest.mark.django_db(transaction=True)]


def run_at_once(jobs):
    """Run callables in threads released together; return their results or exceptions."""
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def worker(i, job):
        try:
            barrier.wait(timeout=30)
            results[i] = job()
        except Exception as exc:  # collected and asserted on by the test
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a buyer is stuck (deadlock?)"
    return results


def assert_stock_invariants():
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM fulfillment_stock WHERE reserved < 0 OR reserved > on_hand")
        assert cursor.fetchone()[0] == 0


@pytest.mark.parametrize("run", range(RUNS))
def test_fifty_buyers_ten_in_stock_exactly_ten_orders(run):
    variant = stocked_variant(on_hand=10)
    buyers = [buyer_with_cart([(variant, 1)]) for _ in range(50)]
    results = run_at_once([lambda b=b: place(*b) for b in buyers])

    orders = [r for r in results if isinstance(r, Order)]
    refused = [r for r in results if isinstance(r, CartError)]
    others = [r for r in results if not isinstance(r, Order | CartError)]
    assert others == []
    assert len(orders) == 10
    assert len(refused) == 40
    assert {e.code for e in refused} == {CartErrorCode.OUT_OF_STOCK}
    stock = Stock.objects.get(variant=variant)
    assert (stock.on_hand, stock.reserved) == (10, 10)
    assert Order.objects.count() == 10
    assert_stock_invariants()


@pytest.mark.parametrize("run", range(RUNS))
def test_baskets_in_opposite_orders_do_not_deadlock(run):
    a = stocked_variant(on_hand=100)
    b = stocked_variant(on_hand=100)
    c = stocked_variant(on_hand=100)
    baskets = [[(a, 1), (b, 2), (c, 1)], [(c, 1), (b, 1), (a, 2)]] * 10
    buyers = [buyer_with_cart(items) for items in baskets]
    results = run_at_once([lambda b=b: place(*b) for b in buyers])
    assert [type(r).__name__ for r in results if not isinstance(r, Order)] == []
    reserved = {s.variant_id: s.reserved for s in Stock.objects.all()}
    assert reserved == {a.pk: 30, b.pk: 30, c.pk: 20}
    assert_stock_invariants()


@pytest.mark.parametrize("run", range(RUNS))
def test_ten_parallel_place_order_for_one_cart_give_one_order(run):
    variant = stocked_variant(on_hand=5)
    user, address, cart = buyer_with_cart([(variant, 2)])
    results = run_at_once([lambda: place(user, address, cart) for _ in range(10)])
    assert all(isinstance(r, Order) for r in results), results
    assert len({r.number for r in results}) == 1
    assert Order.objects.count() == 1
    assert Stock.objects.get(variant=variant).reserved == 2


def test_many_buyers_for_a_split_stock_never_oversell():
    """Stock spread over warehouses: lines split, and the total never exceeds on hand."""
    from tests import factories

    variant = stocked_variant(on_hand=3)
    factories.StockFactory(
        variant=variant, product=variant.product, on_hand=4, warehouse=factories.WarehouseFactory(code="bj")
    )
    buyers = [buyer_with_cart([(variant, 2)]) for _ in range(12)]
    results = run_at_once([lambda b=b: place(*b) for b in buyers])
    placed = sum(isinstance(r, Order) for r in results)
    assert placed == 3  # 7 units, 2 per order
    assert sum(s.reserved for s in Stock.objects.filter(variant=variant)) == 6
    assert Counter(type(r).__name__ for r in results)["CartError"] == 9
    assert_stock_invariants()
