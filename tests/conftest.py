import os
from pathlib import Path

import pytest
from django.core.cache import caches
from django.test import TransactionTestCase

from catalog import services
from shop.core.counters import counter_take
from tests import factories
from tests.redis_per_worker import redis_per_worker

redis_per_worker()  # with -n N: Redis databases, broker and MEDIA_ROOT per worker (tests/redis_per_worker.py)


class _PostMigrateRows:
    """A transactional test (transaction=True, live_server, the browser and worker tests) ends with
    Django's flush: TRUNCATE, then the post_migrate signal recreates content types, permissions
    and the staff groups, which is most of its time (measured on the shared machine: 0.8 s to
    TRUNCATE, 6 s more for post_migrate).
    The first flush of the run does all of it, then the rows it left are kept in a schema of
    their own; later flushes only empty the tables and copy them back: the same database for the
    next test.

    Later flushes DELETE the rows of the tables that hold any (a test leaves rows in a dozen or
    two of ~80) instead of a TRUNCATE of every table: PostgreSQL gives each truncated table and
    index new files, about 0.5 s for all of them on the shared machine, against 0.1 s for the
    DELETEs and 0.05 s to find the tables. What the TRUNCATE triggers of the catalogue did is done
    too (TRUNCATE_TRIGGERS); a TRUNCATE trigger not listed there sends every flush back to
    Django's TRUNCATE."""

    schema = "post_migrate_snapshot"
    restore: list[str] | None = None
    occupied_sql = ""  # which tables hold rows, in one statement
    always: list[str] = []  # tables with a TRUNCATE trigger: emptied even when empty, for the trigger
    fast = False
    # TRUNCATE trigger function -> what stands in for it after the DELETEs, in this order. The
    # taxonomy generation (catalog/migrations/0014) is bumped by its DELETE trigger too; the
    # product's DELETE trigger (0012) leaves its categories' facet counts at zero, where its
    # TRUNCATE trigger deletes them all, and so for their roll-up over the tree (0015).
    TRUNCATE_TRIGGERS = {
        "catalog_taxonomy_bump": None,
        "catalog_facet_count_truncate": "DELETE FROM catalog_facet_count",
        "catalog_facet_rollup_truncate": "DELETE FROM catalog_facet_rollup",
    }
    after: list[str] = []

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
            tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
            cls.occupied_sql = " UNION ALL ".join(
                f"SELECT '{table}' WHERE EXISTS (SELECT 1 FROM public.\"{table}\")"  # noqa: S608 - our table names
                for table in sorted(tables)
            )
            cursor.execute(
                "SELECT c.relname, p.proname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                " JOIN pg_proc p ON p.oid = t.tgfoid WHERE NOT t.tgisinternal AND t.tgtype & 32 <> 0"  # 32: on TRUNCATE
            )
            triggers = cursor.fetchall()
            cls.fast = all(name in cls.TRUNCATE_TRIGGERS for _table, name in triggers)
            cls.always = sorted({table for table, _name in triggers} & set(tables))
            found = {name for _table, name in triggers}
            cls.after = [sql for name, sql in cls.TRUNCATE_TRIGGERS.items() if name in found and sql]
        return statements

    @classmethod
    def empty(cls) -> None:
        """Every table emptied, as `flush` leaves them (without resetting sequences)."""
        from django.core.management import call_command
        from django.db import connection, transaction

        if not cls.fast:
            call_command("flush", verbosity=0, interactive=False, reset_sequences=False, inhibit_post_migrate=True)
            return
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(cls.occupied_sql)
            tables = sorted({name for (name,) in cursor.fetchall()} | set(cls.always))
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")  # any order: all rows go, checked at commit
            for table in tables:
                cursor.execute(f'DELETE FROM public."{table}"')  # noqa: S608 - our table names
            for statement in cls.after:
                cursor.execute(statement)


def _fixture_teardown(self):
    from django.contrib.contenttypes.models import ContentType
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
    _PostMigrateRows.empty()
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
