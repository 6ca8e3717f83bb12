"""shop.core.prepared.ServerBoundRead, the variant of CompiledRead for the signed-in user's row
and their cart count: in autocommit on PostgreSQL it runs its compiled SQL bound on the server
(psycopg prepares it at the protocol level), never as PREPARE/EXECUTE in SQL, which a pooler in
transaction mode may send to different server connections."""

import pytest
from django.conf import settings
from django.db import connection, connections

from shop.accounts.backends import _USER_BY_KEY, AddressThrottledModelBackend
from shop.context_processors import _CUSTOMERS_CART_COUNT
from shop.core.prepared import CompiledRead, ServerBoundRead
from tests import factories


@pytest.mark.django_db(transaction=True)  # autocommit, where a CompiledRead would PREPARE
def test_bound_on_the_server_and_never_prepared_in_sql(monkeypatch):
    user = factories.UserFactory()
    bound = []
    original = type(connections["default"]).create_cursor

    def create_cursor(self, name=None):
        bound.append(getattr(self, "binds_on_server", None))
        return original(self, name)

    monkeypatch.setattr(type(connections["default"]), "create_cursor", create_cursor)
    backend = AddressThrottledModelBackend()
    sql = []

    def sent(execute, statement, params, many, context):
        sql.append(statement)
        return execute(statement, params, many, context)

    with connection.execute_wrapper(sent):
        for _ in range(settings.DB_PREPARE_THRESHOLD + 2):
            assert backend.get_user(user.pk) == user
    assert len(sql) == settings.DB_PREPARE_THRESHOLD + 2
    assert not [s for s in sql if s.lstrip().upper().startswith(("PREPARE", "EXECUTE"))]
    assert bound and all(bound)
    assert getattr(connection, "binds_on_server", False) is False  # only while it reads


def test_both_reads_are_the_one_variant():
    assert type(_USER_BY_KEY) is ServerBoundRead and type(_CUSTOMERS_CART_COUNT) is ServerBoundRead
    assert ServerBoundRead._execute_prepared is not CompiledRead._execute_prepared
