"""A web worker loads the search segmenter's dictionary as it starts, not in its first search
(about a second of CPU that the first searcher, and every request queued behind it, waited for)."""

import importlib

from catalog import search
from shop.core import gcfreeze


def test_the_wsgi_application_loads_the_segmenter_as_it_starts(monkeypatch):
    loaded = []
    monkeypatch.setattr(search, "segment", lambda text: loaded.append(text))
    import shop.wsgi

    loaded.clear()  # imported here for the first time in this process, or before
    importlib.reload(shop.wsgi)  # as a gunicorn worker imports it
    gcfreeze.uninstall()  # installed again by the reload: not for the rest of the test session
    assert loaded == [""]  # segmenting anything loads the dictionary (catalog.search._ready)
