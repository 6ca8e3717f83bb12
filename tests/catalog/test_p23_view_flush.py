"""A product view asks for the view counts' flush once each time another CATALOG_VIEW_FLUSH_EVERY
products have views pending (issue 12, P23). It asked on every view while that many were pending:
in a live catalogue, with views spread over thousands of products, the counter holds 50 products
within seconds of each flush, so nearly every product view queued a flush task (about 1.4 ms of
the page's Python and a second Redis round trip) until a worker ran one, and the queue filled with
tasks doing the same flush."""

import pytest
from django.core.cache import caches

import catalog.views
from catalog.services import VIEW_COUNTER, product_view_record
from shop.core.counters import counter_incr, counter_incr_get_many, counter_take


def test_a_flush_is_asked_for_once_per_so_many_new_products(settings):
    settings.CATALOG_VIEW_FLUSH_EVERY = 3
    counter_take(VIEW_COUNTER)
    due = [product_view_record(product_id=pk) for pk in (1, 2, 3)]
    assert due == [False, False, True]
    # More views of products already pending: nothing more to flush than before.
    assert not any(product_view_record(product_id=pk) for pk in (1, 2, 3, 3, 2, 1))
    due = [product_view_record(product_id=pk) for pk in (4, 5, 6, 4, 7)]
    assert due == [False, False, True, False, False]
    assert counter_take(VIEW_COUNTER) == {1: 3, 2: 3, 3: 3, 4: 2, 5: 1, 6: 1, 7: 1}
    # After a flush the counter starts again.
    assert [product_view_record(product_id=pk) for pk in (1, 2, 3)] == [False, False, True]


def test_counter_incr_says_which_member_was_added(settings):
    counter_take(VIEW_COUNTER)
    assert [counter_incr(VIEW_COUNTER, pk) for pk in (10, 11, 10, 12, 11)] == [1, 2, 0, 3, 0]
    assert counter_take(VIEW_COUNTER) == {10: 2, 11: 2, 12: 1}


def test_the_same_answer_in_the_page_cache_round_trip():
    cache = caches["pages"]
    if not hasattr(cache, "_cache"):
        pytest.skip("needs the Redis cache started by bin/test")
    counter_take(VIEW_COUNTER)
    cache.set("a", 1)
    answers = [counter_incr_get_many(VIEW_COUNTER, pk, cache=cache, keys=["a"]) for pk in (10, 11, 10, 12)]
    assert answers == [({"a": 1}, 1), ({"a": 1}, 2), ({"a": 1}, 0), ({"a": 1}, 3)]
    assert counter_take(VIEW_COUNTER) == {10: 2, 11: 1, 12: 1}


def test_the_product_page_queues_one_flush_not_one_per_view(client, make_product, monkeypatch, settings):
    settings.PAGE_CACHE_ENABLED = False
    settings.CATALOG_VIEW_FLUSH_EVERY = 2
    queued = []
    monkeypatch.setattr(catalog.views, "enqueue", lambda name, *args: queued.append(name))
    first, second = (make_product(name=name).get_absolute_url() for name in ("甲", "乙"))
    for url in (first, first, second, second, first, second):
        assert client.get(url).status_code == 200
    assert queued == ["catalog.tasks.flush_view_counts"]  # was 4: every view from the third on
