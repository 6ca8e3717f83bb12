"""Attacker's (and operator's) view of the purchase's prepared statements (shop/core/postgresql,
bind_on_server, DB_PREPARE_THRESHOLD): a statement prepared on a long-lived connection must not
keep failing once a migration has changed the type of a column it reads."""

import pytest
from django.conf import settings
from django.db import connection

from shop.core.postgresql.base import bind_on_server

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def table():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE attack15_prepared (id int PRIMARY KEY, code varchar(8))")
        cursor.execute("INSERT INTO attack15_prepared VALUES (1, 'a')")
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE attack15_prepared")


def _read() -> list:
    with bind_on_server(), connection.cursor() as cursor:
        cursor.execute("SELECT code FROM attack15_prepared WHERE id = %s", [1])
        return cursor.fetchall()


def test_a_prepared_statement_recovers_after_a_migration_changes_its_result_type(table):
    for _ in range(settings.DB_PREPARE_THRESHOLD + 1):
        assert _read() == [("a",)]
    # What a migration widening the column does, from another process, while this one keeps its connection.
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE attack15_prepared ALTER COLUMN code TYPE varchar(32)")
    assert _read() == [("a",)]  # was: "cached plan must not change result type"
    assert _read() == [("a",)]  # and again on every run, until the connection was closed
    for _ in range(settings.DB_PREPARE_THRESHOLD + 1):
        assert _read() == [("a",)]
    with connection.cursor() as cursor:  # prepared again, afresh
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%attack15%"])
        assert cursor.fetchone()[0] == 1
