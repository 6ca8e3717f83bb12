"""A session signed in through Django's ModelBackend (sessions older than the shop's backend):
it stays signed in while that path is listed, and every check of django.contrib.auth.get_user
holds for it: a password change, a deactivation, a role change or a deleted account shows at the
next request, a forged hash flushes the session, a fallback secret keeps it."""

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import HASH_SESSION_KEY, get_user_model
from django.contrib.sessions.backends.cached_db import SessionStore
from django.urls import reverse

from tests import factories

User = get_user_model()
OVERVIEW = reverse("accounts:overview")
DJANGO = "django.contrib.auth.backends.ModelBackend"


@pytest.mark.django_db
def test_djangos_path_unlisted_still_signs_its_sessions_out(client, settings):
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
