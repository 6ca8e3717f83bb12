"""A web worker loads at start what its first request waited for, and freezes it there
(shop/core/warmup.py, shop/core/gcfreeze.py; docs/benchmark.md, "Issue 12, twelfth session")."""

import importlib

import pytest
from django.conf import settings
from django.conf.urls.i18n import is_language_prefix_patterns_used
from django.core.signals import request_finished
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import clear_url_caches, reverse
from django.urls.resolvers import URLResolver
from django.utils import translation
from django.utils.translation import trans_real

from shop.core import gcfreeze, warmup

# One name in each namespace a customer's pages reverse, and one outside any.
NAMES = [
    ("home", {}),
    ("catalog:all", {}),
    ("catalog:product", {"slug": "x"}),
    ("cart:detail", {}),
    ("orders:list", {}),
    ("accounts:login", {}),
]


@pytest.fixture
def cold(monkeypatch):
    """Django's URL caches and catalogues emptied, as in a process that has served nothing."""
    clear_url_caches()
    is_language_prefix_patterns_used.cache_clear()
    monkeypatch.setattr(trans_real, "_translations", {})
    yield
    clear_url_caches()
    is_language_prefix_patterns_used.cache_clear()


def _populates(monkeypatch) -> list:
    built = []
    populate = URLResolver._populate

    def spy(self):
        built.append(self)
        populate(self)

    monkeypatch.setattr(URLResolver, "_populate", spy)
    return built


def test_after_the_warm_up_reverse_builds_no_table_in_either_language(cold, monkeypatch):
    warmup.warm_up()
    built = _populates(monkeypatch)
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            for name, kwargs in NAMES:
                reverse(name, kwargs=kwargs)
    assert built == []  # without the warm-up: the URLconf's and each namespace's, per language


def test_a_cold_process_builds_them_on_first_reverse(cold, monkeypatch):
    # What the test above guards against (so that it does not pass trivially).
    built = _populates(monkeypatch)
    with translation.override("en"):
        reverse("catalog:all")
    assert built


def test_the_warm_up_loads_each_language_catalogue_and_reads_no_database(cold, db):
    with CaptureQueriesContext(connections["default"]) as queries:
        warmup.warm_up()
    assert len(queries) == 0
    assert {code for code, _ in settings.LANGUAGES} <= set(trans_real._translations)


def test_the_wsgi_module_warms_then_freezes_before_any_request(monkeypatch):
    order = []
    monkeypatch.setattr(warmup, "warm_up", lambda: order.append("warm_up"))
    monkeypatch.setattr(gcfreeze.gc, "collect", lambda *args: order.append("collect"))
    monkeypatch.setattr(gcfreeze.gc, "freeze", lambda: order.append("freeze"))
    import shop.wsgi

    order.clear()  # imported here for the first time in this process, or before
    try:
        importlib.reload(shop.wsgi)  # as a gunicorn worker imports it
    finally:
        request_finished.disconnect(dispatch_uid=gcfreeze._DISPATCH_UID)
    # Loaded first, then one full collection and the freeze: nothing waits for a request.
    assert order == ["warm_up", "collect", "freeze"]
