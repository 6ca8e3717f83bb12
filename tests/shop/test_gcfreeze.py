"""The web process freezes its long-lived objects out of the garbage collector's way."""

import importlib

from django.core.signals import request_finished

from shop.core import gcfreeze


def test_the_wsgi_application_freezes_as_it_starts_then_after_its_first_requests(monkeypatch):
    calls = []
    monkeypatch.setattr(gcfreeze.gc, "collect", lambda *args: calls.append("collect"))
    monkeypatch.setattr(gcfreeze.gc, "freeze", lambda: calls.append("freeze"))
    import shop.wsgi

    calls.clear()  # imported here for the first time in this process, or before
    importlib.reload(shop.wsgi)  # as a gunicorn worker imports it
    # Frozen at import, before any request, after a full collection.
    assert calls == ["collect", "freeze"]
    calls.clear()
    # Connected to request_finished (taken off again here: sending the signal would also run
    # Django's own receivers, which close database connections).
    assert request_finished.disconnect(dispatch_uid=gcfreeze._DISPATCH_UID)
    served = []
    for n in range(1, 1002):
        gcfreeze._request_finished()
        if calls:
            served.append(n)
            assert calls == ["collect", "freeze"], "frozen after a full collection, never before"
            calls.clear()
    # Nothing after the last freeze (the receiver also disconnects itself then).
    assert served == [10, 100, 1000]
