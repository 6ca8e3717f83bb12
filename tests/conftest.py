import os
from pathlib import Path

import pytest
from django.core.cache import caches
from django.test import TransactionTestCase

from catalog import services
from shop.core.counters import counter_take
from tests import factories
from tests.redis_per_worker import redis_per_worker

redis_per_worker()  # with -n N, workers must not flush each other's caches (tests/redis_per_worker.py)


class _PostMigrateRows:
    """A transactional test (transaction=True, live_server, the browser and worker tests) ends with
    Django's flush: TRUNCATE, then the post_migrate signal recreates content types, permissions
    and the staff groups, which is most of its time (measured on the shared machine: 0.8 s to
    TRUNCATE, 6 s more for post_migrate).
    The first flush of the run does all of it, then the rows it left are kept in a schema of
    their own; later flushes only TRUNCATE and copy them back: the same database for the next test."""

    schema = "post_migrate_snapshot"
    restore: list[str] | None = None

    @classmethod
    def take(cls) -> list[str]:
        from django.db import connection

        statements = []
        with connection.cursor() as cursor:
            cursor.execute(f"DROP SCHEMA IF EXISTS {cls.schema} CASCADE")
            cursor.execute(f"CREATE SCHEMA {cls.schema}")
            for table in connection.introspection.django_table_names(only_existing=True, include_views=False):
                cursor.execute(f'CREATE TABLE {cls.schema}."{table}" AS TABLE public."{table}"')
                if not cursor.rowcount:
                    continue
                statements.append(f'INSERT INTO public."{table}" SELECT * FROM {cls.schema}."{table}"')  # noqa: S608
                cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [f'"{table}"'])
                sequence = cursor.fetchone()[0]
                if sequence:
                    cursor.execute(f"SELECT last_value FROM {sequence}")  # noqa: S608 - a name from PostgreSQL
                    statements.append(f"SELECT setval('{sequence}', {cursor.fetchone()[0]})")
        return statements


def _fixture_teardown(self):
    from django.contrib.contenttypes.models import ContentType
    from django.core.management import call_command
    from django.db import DEFAULT_DB_ALIAS, connection, transaction

    if (
        self.available_apps is not None
        or self.serialized_rollback
        or list(self._databases_names(include_mirrors=False)) != [DEFAULT_DB_ALIAS]
        or connection.vendor != "postgresql"
    ):
        return _django_fixture_teardown(self)
    if _PostMigrateRows.restore is None:
        _django_fixture_teardown(self)
        _PostMigrateRows.restore = _PostMigrateRows.take()
        return None
    call_command("flush", verbosity=0, interactive=False, reset_sequences=False, inhibit_post_migrate=True)
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in _PostMigrateRows.restore:
            cursor.execute(statement)
    ContentType.objects.clear_cache()  # the snapshot's ids
    return None


_django_fixture_teardown = TransactionTestCase._fixture_teardown
TransactionTestCase._fixture_teardown = _fixture_teardown


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
