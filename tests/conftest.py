import os
from pathlib import Path

import pytest
from django.core.cache import caches

from catalog import services
from shop.core.counters import counter_take
from tests import factories


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """PBKDF2 is slow on purpose; tests that create fifty customers need not be."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _default_language():
    """A request leaves its language active in the thread; start every test from the default."""
    from django.conf import settings
    from django.utils import translation

    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _clean_caches():
    """Every test starts with empty caches and counters (they live in the real Redis)."""
    for alias in ("default", "pages"):
        caches[alias].clear()
    counter_take(services.VIEW_COUNTER)
    yield


@pytest.fixture
def artifacts_dir() -> Path:
    path = Path(os.environ.get("ARTIFACTS_DIR", "artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def make_product(db):
    """make_product(name=..., price=..., stock=..., category=..., brand=..., options=[...])
    builds a product with one variant, stock in one warehouse and its search index."""

    def make(*, stock: int = 10, price: str = "99.00", options=(), **kwargs):
        product = factories.ProductFactory(price=price, **kwargs)
        variant = factories.VariantFactory(product=product, price=price)
        if options:
            variant.options.set(options)
            product.attribute_values.add(*options)
        factories.StockFactory(variant=variant, product=product, on_hand=stock)
        services.product_after_save(product_id=product.pk)
        from fulfillment.services import product_stock_flags_refresh

        product_stock_flags_refresh(product_ids=[product.pk])
        product.refresh_from_db()
        return product

    return make
