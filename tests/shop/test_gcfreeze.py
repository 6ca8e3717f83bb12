"""The web process freezes its long-lived objects out of the garbage collector's way."""

import importlib

from django.core.signals import request_finished

from shop.core import gcfreeze


def test_the_wsgi_application_freezes_after_its_first_requests(monkeypatch):
    calls = []
    monkeypatch.setattr(gcfreeze.gc, "collect", lambda *args: calls.append("collect"))
    monkeypatch.setattr(gcfreeze.gc, "freeze", lambda: calls.append("freeze"))
    import shop.wsgi

    try:
        importlib.reload(shop.wsgi)  # as a gunicorn worker imports it
        served = []
        for n in range(1, 1002):
            request_finished.send(sender=None)
            if calls:
                served.append(n)
                assert calls == ["collect", "freeze"], "frozen after a full collection, never before"
                calls.clear()
    finally:
        gcfreeze.uninstall()
    # Not the 1,001st: the receiver disconnected itself after the last freeze.
    assert served == [1, 10, 100, 1000]
