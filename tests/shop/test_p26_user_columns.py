"""The signed-in user is loaded without the two timestamps no page reads of its own customer
(shop.accounts.backends.NOT_LOADED): less to convert on every signed-in request; asked for, they
are read (one query); saving the user keeps them."""

import datetime

import pytest
from django.contrib.auth import get_user, get_user_model
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests import factories

User = get_user_model()
BACKEND = "shop.accounts.backends.AddressThrottledModelBackend"
SIGNED_IN = timezone.make_aware(datetime.datetime(2026, 3, 4, 5, 6, 7))
JOINED = timezone.make_aware(datetime.datetime(2025, 1, 2, 3, 4, 5))


def _signed_in(client):
    user = factories.UserFactory(first_name="Li")
    User.objects.filter(pk=user.pk).update(last_login=SIGNED_IN, date_joined=JOINED)
    client.force_login(user, backend=BACKEND)
    User.objects.filter(pk=user.pk).update(last_login=SIGNED_IN)  # force_login set it to now
    request = RequestFactory().get("/")
    request.session = client.session
    return user, request


@pytest.mark.django_db
def test_the_user_is_loaded_without_the_timestamps(client):
    user, request = _signed_in(client)
    with CaptureQueriesContext(connection) as queries:
        loaded = get_user(request)
    assert loaded.pk == user.pk and loaded.first_name == "Li"
    assert loaded.get_deferred_fields() == {"last_login", "date_joined"}
    assert "last_login" not in queries[0]["sql"] and "date_joined" not in queries[0]["sql"]


@pytest.mark.django_db
def test_asked_for_they_are_read(client):
    _, request = _signed_in(client)
    loaded = get_user(request)
    with CaptureQueriesContext(connection) as queries:
        assert (loaded.last_login, loaded.date_joined) == (SIGNED_IN, JOINED)
    assert len(queries) == 2  # one each, as Django reads a deferred field


@pytest.mark.django_db
def test_saving_the_signed_in_user_keeps_them(client):
    user, request = _signed_in(client)
    loaded = get_user(request)
    loaded.first_name = "Wang"
    loaded.set_password("another horse battery staple")
    loaded.save()
    stored = User.objects.get(pk=user.pk)
    assert (stored.first_name, stored.last_login, stored.date_joined) == ("Wang", SIGNED_IN, JOINED)
    assert stored.check_password("another horse battery staple")


@pytest.mark.django_db
def test_signed_in_pages_do_not_read_them(client):
    _signed_in(client)
    for page in (reverse("accounts:overview"), reverse("cart:detail")):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(page).status_code == 200
        user_reads = [q["sql"] for q in queries if 'FROM "shop_user"' in q["sql"]]
        assert len(user_reads) == 1, user_reads  # the signed-in user's load only, not a deferred read
