"""Keep the cyclic garbage collector off a web process's long-lived objects.

A web worker holds about 160,000 objects that live as long as it does: modules, models, URL
patterns, compiled templates, translation catalogues. CPython walks all of them in every full
(oldest generation) collection, which runs once enough objects have survived the young ones:
on the listing pages about every 50 requests, for about 80 ms each (1.7 ms a request on average,
and a pause that lands in the p99; docs/benchmark.md, "Issue 12, second session: nothing
cached"). gc.freeze() moves every object that exists now to a generation the collector never
walks. It is done after a full collection, so no garbage is frozen: first as the worker starts,
before it accepts a request (install(), after shop.core.warmup has loaded what first requests
would), where walking those ~160,000 objects (110-120 ms of CPU) used to be done after a
worker's first request, in the way of every request queued behind it; then after its 10th,
100th and 1,000th requests, for what those loaded (templates, the taxonomy): a collection that
walks only what is not frozen yet, 1-20,000 objects, 1-15 ms (docs/benchmark.md, "Issue 12,
twelfth session"). Young generations are still collected as before, so the cycles a request
makes are freed as usual; frozen objects are still freed by reference counting.
"""

import gc

from django.core.signals import request_finished

FREEZE_AFTER = (10, 100, 1000)  # requests served by this process
_DISPATCH_UID = "shop.core.gcfreeze"
_served = 0


def _freeze() -> None:
    gc.collect()
    gc.freeze()


def _request_finished(**kwargs) -> None:
    global _served
    _served += 1
    if _served in FREEZE_AFTER:
        _freeze()
        if _served == FREEZE_AFTER[-1]:
            uninstall()


def install() -> None:
    """Freeze now, and after this process's next FREEZE_AFTER requests (the WSGI application
    calls it once, at import, last: web processes only, not Celery workers or tests)."""
    global _served
    _served = 0
    _freeze()
    request_finished.connect(_request_finished, dispatch_uid=_DISPATCH_UID)


def uninstall() -> None:
    request_finished.disconnect(dispatch_uid=_DISPATCH_UID)
