"""The purchase's statements are converted for the server once per process (shop.core.postgresql
.base._KeptQuery): placing's order with its rows is one statement over psycopg's limits for
keeping the conversion of its %s placeholders (4 kB, 50 parameters), which psycopg otherwise
parsed again on every purchase."""

from unittest import mock

import pytest
from django.db import connection
from psycopg import _queries
from psycopg.adapt import Transformer

from shop.core.postgresql.base import _KeptQuery
from tests.orders.test_checkout_queries import place_with_wallet

pytestmark = pytest.mark.django_db


def test_a_second_purchase_parses_none_of_its_statements_again(client):
    place_with_wallet(client, 2)  # the first purchase converts (and keeps) each statement once
    parsed: list[bytes] = []
    unkept = _queries._query2pg_nocache

    def spy(query: bytes, encoding: str):
        parsed.append(query)
        return unkept(query, encoding)

    # psycopg calls the module's _query2pg_nocache for a statement it does not keep.
    with mock.patch.object(_queries, "_query2pg_nocache", spy):
        order, _statements = place_with_wallet(client, 2)
    assert order.lines.count() == 2
    assert parsed == [], [q[:120] for q in parsed]


def test_a_kept_conversion_is_psycopgs_own():
    connection.ensure_connection()
    columns = ", ".join(f"c{i}" for i in range(120))
    sql = f"INSERT INTO t ({columns}) VALUES ({', '.join(['%s'] * 120)}) RETURNING id, %s::text"  # noqa: S608 - > 50 parameters
    values = [*range(120), "100%"]
    kept, plain = (
        _KeptQuery(Transformer(connection.connection)),
        _queries.PostgresQuery(Transformer(connection.connection)),
    )
    kept.convert(sql, values)
    plain.convert(sql, values)
    assert (kept.query, kept.params, kept.types, kept.formats) == (
        plain.query,
        plain.params,
        plain.types,
        plain.formats,
    )
    assert kept.query.endswith(b"RETURNING id, $121::text")
