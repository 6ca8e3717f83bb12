"""A web process runs no close_caches after each request when no configured cache's close() does
anything (shop.core.cache.close_caches_only_if_needed); a cache that does close keeps it."""

import importlib
import weakref

import pytest
from django.conf import settings
from django.core.cache import caches, close_caches
from django.core.cache.backends.base import BaseCache
from django.core.signals import request_finished
from django.test import override_settings
from django.utils.module_loading import import_string

from shop.core import gcfreeze
from shop.core.cache import close_caches_only_if_needed

MEMCACHED = {"default": {"BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache", "LOCATION": "x:1"}}


def _connected() -> bool:
    live = (ref() if isinstance(ref, weakref.ReferenceType) else ref for _, ref, *_ in request_finished.receivers)
    return any(receiver is close_caches for receiver in live)


@pytest.fixture(autouse=True)
def _django_default():
    """Each test starts, and leaves the process, as Django sets it up: close_caches connected."""
    request_finished.connect(close_caches)
    yield
    request_finished.connect(close_caches)


def test_the_shops_caches_have_nothing_to_close_so_the_receiver_goes():
    # What makes it safe: every configured backend's close() is BaseCache's, which does nothing.
    assert all(import_string(c["BACKEND"]).close is BaseCache.close for c in settings.CACHES.values())
    assert _connected()
    close_caches_only_if_needed()
    assert not _connected()


def test_caches_still_answer_after_requests_without_the_receiver(client):
    close_caches_only_if_needed()
    for n in range(3):
        caches["default"].set("p26", n)
        assert client.get("/cart/").status_code == 200
        assert caches["default"].get("p26") == n


@override_settings(CACHES=MEMCACHED)
def test_a_cache_that_closes_keeps_the_receiver():
    close_caches_only_if_needed()
    assert _connected()


def test_changing_the_caches_connects_it_again():
    close_caches_only_if_needed()
    assert not _connected()
    with override_settings(CACHES=MEMCACHED):
        assert _connected()
    assert _connected()


def test_the_wsgi_application_takes_it_off(monkeypatch):
    monkeypatch.setattr(gcfreeze.gc, "collect", lambda *args: None)
    monkeypatch.setattr(gcfreeze.gc, "freeze", lambda: None)
    import shop.wsgi

    importlib.reload(shop.wsgi)  # as a gunicorn worker imports it
    request_finished.disconnect(dispatch_uid=gcfreeze._DISPATCH_UID)  # as tests/shop/test_gcfreeze.py
    assert not _connected()
