"""Issue 12, P15: a session signed in through Django's ModelBackend (before the shop's backend,
and every bench-checkout buyer's) has its user loaded by the shop's backend, whose SELECT is
compiled once (shop.accounts.middleware.AuthenticationMiddleware), with every check of
django.contrib.auth.get_user still made and nothing saved for it."""

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.sessions.backends.cached_db import SessionStore
from django.test import RequestFactory
from django.urls import reverse

from shop.accounts.middleware import _user
from tests import factories

User = get_user_model()
OVERVIEW = reverse("accounts:overview")
DJANGO = "django.contrib.auth.backends.ModelBackend"
SHOP = "shop.accounts.backends.AddressThrottledModelBackend"


@pytest.fixture
def django_loads(monkeypatch):
    """Every user Django's own ModelBackend.get_user loads (the shop's backend has its own)."""
    loaded = []
    original = ModelBackend.get_user
    monkeypatch.setattr(ModelBackend, "get_user", lambda self, pk: loaded.append(pk) or original(self, pk))
    return loaded


@pytest.mark.django_db
def test_a_session_signed_in_through_djangos_backend_stays_signed_in_through_the_shops(client, django_loads):
    user = factories.UserFactory()
    client.force_login(user, backend=DJANGO)
    key = client.session.session_key
    for _ in range(3):
        response = client.get(OVERVIEW)
        assert response.status_code == 200 and response.wsgi_request.user == user
        # Not saved for it: no Set-Cookie, the stored session unchanged.
        assert django_settings.SESSION_COOKIE_NAME not in response.cookies
    assert django_loads == []
    assert SessionStore(key).load()[BACKEND_SESSION_KEY] == DJANGO
    client.force_login(user, backend=SHOP)
    assert client.get(OVERVIEW).status_code == 200 and django_loads == []


@pytest.mark.django_db
def test_djangos_path_unlisted_still_signs_its_sessions_out(client, settings, django_loads):
    user = factories.UserFactory()
    client.force_login(user, backend=DJANGO)
    settings.AUTHENTICATION_BACKENDS = [b for b in settings.AUTHENTICATION_BACKENDS if b != DJANGO]
    assert client.get(OVERVIEW).status_code == 302


@pytest.mark.django_db
def test_a_password_change_deactivation_or_role_change_shows_at_the_next_request(client):
    user = factories.UserFactory()
    client.force_login(user, backend=DJANGO)
    assert client.get(OVERVIEW).status_code == 200
    User.objects.filter(pk=user.pk).update(is_staff=True)
    assert client.get(OVERVIEW).wsgi_request.user.is_staff is True
    user.set_password("another horse battery staple")
    user.save()
    assert client.get(OVERVIEW).status_code == 302  # the session's auth hash no longer matches

    client.force_login(user, backend=DJANGO)
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert client.get(OVERVIEW).status_code == 302

    User.objects.filter(pk=user.pk).update(is_active=True)
    client.force_login(user, backend=DJANGO)
    user.delete()
    assert client.get(OVERVIEW).status_code == 302


@pytest.mark.django_db
def test_a_forged_hash_flushes_and_a_fallback_secret_keeps_the_session(client, settings):
    user = factories.UserFactory()
    client.force_login(user, backend=DJANGO)
    session = client.session
    session[HASH_SESSION_KEY] = "0" * 64
    session.save()
    assert client.get(OVERVIEW).status_code == 302
    assert not SessionStore(session.session_key).exists(session.session_key)

    settings.SECRET_KEY_FALLBACKS = []
    client.force_login(user, backend=DJANGO)  # signed with the old secret
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-" + "x" * 50
    response = client.get(OVERVIEW)
    assert response.status_code == 200 and response.wsgi_request.user == user
    assert django_settings.SESSION_COOKIE_NAME in response.cookies  # cycled, as Django does


@pytest.mark.django_db
def test_the_session_keeps_its_own_modified_flag(client):
    user = factories.UserFactory()
    client.force_login(user, backend=DJANGO)
    for modified in (False, True):
        request = RequestFactory().get("/")
        request.session = SessionStore(client.session.session_key)
        request.session.modified = modified
        assert _user(request) == user
        assert request.session.modified is modified
        assert request.session[BACKEND_SESSION_KEY] == SHOP
