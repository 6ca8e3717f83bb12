"""The end of a transactional test empties the database faster than Django's flush
(tests/conftest.py, _PostMigrateRows.empty: DELETE from the tables holding rows instead of a
TRUNCATE of every table). It must leave what the TRUNCATE left: every table empty, the facet
counts and their roll-up gone and the taxonomy generation moved on, as the catalogue's TRUNCATE triggers do."""

import pytest
from django.core.management import call_command
from django.db import connection

from tests import factories
from tests.conftest import _PostMigrateRows
from tests.purchase import buyer_with_cart, place


def _rows() -> dict[str, int]:
    with connection.cursor() as cursor:
        counts = {}
        for table in connection.introspection.django_table_names(only_existing=True, include_views=False):
            cursor.execute(f'SELECT count(*) FROM "{table}"')  # noqa: S608 - names from Django
            counts[table] = cursor.fetchone()[0]
        # and the tables the database keeps from them (facet counts, their roll-up): all but the
        # taxonomy's generation number and the migrations applied, which no flush empties
        kept = {"catalog_taxonomy_generation", "django_migrations"}
        for table in set(connection.introspection.table_names(cursor)) - kept:
            cursor.execute(f'SELECT count(*) FROM "{table}"')  # noqa: S608 - names from PostgreSQL
            counts[table] = cursor.fetchone()[0]
        return {table: n for table, n in counts.items() if n}


def _generation() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT generation FROM catalog_taxonomy_generation")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_emptying_between_transactional_tests_leaves_what_a_flush_leaves(make_product):
    if _PostMigrateRows.restore is None:  # the first transactional test of the run: as its end would
        call_command("flush", verbosity=0, interactive=False, reset_sequences=False)
        _PostMigrateRows.restore = _PostMigrateRows.take()
    assert _PostMigrateRows.fast, "a TRUNCATE trigger tests/conftest.py does not know: add it to TRUNCATE_TRIGGERS"

    value = factories.AttributeValueFactory()
    product = make_product(brand=factories.BrandFactory(), options=[value])
    user, address, cart = buyer_with_cart([(product.variants.get(), 1)])
    place(user, address, cart, payment_method="sandbox")
    before = _generation()
    assert {"catalog_product", "orders_order", "catalog_facet_count", "catalog_facet_rollup", "auth_permission"} <= set(
        _rows()
    )

    _PostMigrateRows.empty()

    assert _rows() == {}
    assert _generation() > before
