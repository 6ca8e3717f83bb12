"""Issue 12, Q3: the signed-in user's row is read by a statement compiled once per process
(shop.accounts.backends._USER_BY_KEY), still on every request: a password change, a deactivation
or a deleted account elsewhere takes effect at the next request."""

import pytest
from django.contrib.auth import get_user, get_user_model
from django.db import connection
from django.db.models.sql.compiler import SQLCompiler
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from shop.core.postgresql.base import bind_on_server
from tests import factories

User = get_user_model()
OVERVIEW = reverse("accounts:overview")
BACKEND = "shop.accounts.backends.AddressThrottledModelBackend"


def _request(client):
    request = RequestFactory().get("/")
    request.session = client.session
    return request


@pytest.mark.django_db
def test_the_user_row_is_read_without_building_a_query(client, monkeypatch):
    user = factories.UserFactory(phone="13800000000", language="en", first_name="Li")
    client.force_login(user, backend=BACKEND)
    get_user(_request(client))  # the first load compiles the statement
    compiled = []
    original = SQLCompiler.as_sql
    monkeypatch.setattr(SQLCompiler, "as_sql", lambda self, *a, **k: compiled.append(1) or original(self, *a, **k))
    with CaptureQueriesContext(connection) as queries:
        loaded = get_user(_request(client))
    assert compiled == [] and len(queries) == 1
    expected = User.objects.get(pk=user.pk)
    assert type(loaded) is User and not loaded._state.adding and loaded._state.db == "default"
    assert [getattr(loaded, f.attname) for f in User._meta.concrete_fields] == [
        getattr(expected, f.attname) for f in User._meta.concrete_fields
    ]


@pytest.mark.django_db(transaction=True)  # autocommit: prepared by psycopg, as in production
def test_a_password_change_or_deactivation_elsewhere_signs_out_at_the_next_request(client, settings):
    user = factories.UserFactory()
    client.force_login(user, backend=BACKEND)
    for _ in range(settings.DB_PREPARE_THRESHOLD + 1):
        assert client.get(OVERVIEW).status_code == 200
    with connection.cursor() as cursor:  # bound on the server: prepared by psycopg, not in SQL
        cursor.execute(
            "SELECT from_sql FROM pg_prepared_statements "
            """WHERE statement LIKE '%%FROM "shop_user" WHERE "shop_user"."id" = $1%%'"""
        )
        assert {row[0] for row in cursor.fetchall()} == {False}
    with bind_on_server():  # inside the purchase's views too
        assert get_user(_request(client)) == user

    user.set_password("another horse battery staple")
    user.save()
    assert client.get(OVERVIEW).status_code == 302  # the session's auth hash no longer matches

    client.force_login(user, backend=BACKEND)
    assert client.get(OVERVIEW).status_code == 200
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert client.get(OVERVIEW).status_code == 302

    User.objects.filter(pk=user.pk).update(is_active=True)
    client.force_login(user, backend=BACKEND)
    user.delete()
    assert client.get(OVERVIEW).status_code == 302
