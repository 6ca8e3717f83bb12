"""Catalogue services: denormalised prices and stock flags, view counting without DB writes."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Product, StockStatus, stock_status
from catalog.services import (
    VIEW_COUNTER,
    product_refresh_prices,
    product_view_record,
    product_views_flush,
)
from fulfillment.services import product_stock_flags_refresh, stock_set_on_hand
from shop.core.counters import counter_take
from shop.core.money import format_money, money
from tests import factories

pytestmark = pytest.mark.django_db


def test_money_rounds_half_up_and_refuses_floats():
    assert money("2.345") == Decimal("2.35")
    assert money("2.344") == Decimal("2.34")
    assert format_money("1234.5") == "¥1,234.50"
    with pytest.raises(TypeError):
        money(0.1)


@pytest.mark.parametrize(
    ("available", "threshold", "status"),
    [(0, 5, StockStatus.OUT), (-1, 5, StockStatus.OUT), (5, 5, StockStatus.LOW), (6, 5, StockStatus.IN_STOCK)],
)
def test_stock_status(available, threshold, status):
    assert stock_status(available, threshold) == status


def test_from_price_is_the_cheapest_active_variant():
    product = factories.ProductFactory(price=Decimal("0"))
    factories.VariantFactory(product=product, price=Decimal("30.00"), compare_at_price=Decimal("40.00"))
    factories.VariantFactory(product=product, price=Decimal("10.00"), is_active=False)
    factories.VariantFactory(product=product, price=Decimal("20.00"))
    product_refresh_prices(product_ids=[product.pk])
    product.refresh_from_db()
    assert product.price == Decimal("20.00") and product.compare_at_price is None


def test_in_stock_flag_follows_available_units():
    product = factories.ProductFactory(in_stock=False)
    variant = factories.VariantFactory(product=product)
    warehouse = factories.WarehouseFactory()
    stock_set_on_hand(warehouse_id=warehouse.pk, variant_id=variant.pk, on_hand=3)
    assert Product.objects.get(pk=product.pk).in_stock
    stock = variant.stocks.get()
    stock.reserved = 3
    stock.save()
    assert product_stock_flags_refresh() == 1
    assert not Product.objects.get(pk=product.pk).in_stock


def test_stock_count_cannot_go_below_reserved():
    stock = factories.StockFactory(on_hand=5, reserved=4)
    with pytest.raises(ValueError, match="reserved"):
        stock_set_on_hand(warehouse_id=stock.warehouse_id, variant_id=stock.variant_id, on_hand=3)


def test_database_refuses_reserved_above_on_hand():
    from django.db import IntegrityError, transaction

    stock = factories.StockFactory(on_hand=2)
    stock.reserved = 3
    with pytest.raises(IntegrityError), transaction.atomic():
        stock.save()


def test_recording_a_view_does_not_touch_the_database():
    product = factories.ProductFactory()
    counter_take(VIEW_COUNTER)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            product_view_record(product_id=product.pk)
    assert len(queries) == 0
    assert product_views_flush() == 1
    product.refresh_from_db()
    assert product.view_count == 3
    assert product_views_flush() == 0  # nothing counted twice


def test_flush_is_due_after_enough_distinct_products(settings):
    settings.CATALOG_VIEW_FLUSH_EVERY = 3
    counter_take(VIEW_COUNTER)
    assert not product_view_record(product_id=1)
    assert not product_view_record(product_id=2)
    assert product_view_record(product_id=3)
