"""What each middleware costs a signed-in purchase's requests, in-process and single-threaded.

Runs add to cart, the confirm page and place (bench/checkout.py profile's purchase) through the
full handler (django.test.Client, middleware loaded once as in a gunicorn worker) with every
layer of the middleware chain timed: a layer's own time is its time minus the next layer's,
and "view" is URL resolution, process_view hooks (counted to their middleware) and the view.
CPU is this thread's (time.thread_time: waiting for Redis or PostgreSQL is not in it); wall is
perf_counter. Prints min and median µs per layer and step. Writes real orders: run it on a
throwaway database, e.g.
    PROF_PY=".venv/bin/python bench/middleware.py" bash /work/notes/checkout-profile.sh --rounds 60
"""

import argparse
import os
import statistics
import sys
import time
from urllib.parse import urlencode

sys.path.insert(0, os.getcwd())
from bench.checkout import PlaceForm, django_setup


def _instrument(handler, totals: dict) -> list[str]:
    """Wrap each layer of `handler`'s chain to add its inclusive CPU and wall time to `totals`."""
    names: list[str] = []
    layer = handler._middleware_chain
    wrappers = []
    depth = 0
    while True:
        middleware = getattr(layer, "__wrapped__", None)
        if middleware is None or not hasattr(middleware, "get_response"):
            break
        names.append(type(middleware).__name__)
        wrappers.append((middleware, depth))
        layer = middleware.get_response
        depth += 1
    names.append("view")

    def timed(call, depth):
        def inner(request):
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                return call(request)
            finally:
                totals.setdefault(depth, [0.0, 0.0])
                totals[depth][0] += time.thread_time() - cpu
                totals[depth][1] += time.perf_counter() - wall

        return inner

    handler._middleware_chain = timed(handler._middleware_chain, 0)
    for middleware, depth in wrappers:
        middleware.get_response = timed(middleware.get_response, depth + 1)
    # process_view hooks run inside the innermost layer: counted to their own middleware.
    for i, hook in enumerate(handler._view_middleware):
        owner = type(hook.__self__).__name__
        depth = names.index(owner)

        def hook_timed(request, *args, _hook=hook, _depth=depth):
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                return _hook(request, *args)
            finally:
                totals.setdefault(("view", _depth), [0.0, 0.0])
                totals[("view", _depth)][0] += time.thread_time() - cpu
                totals[("view", _depth)][1] += time.perf_counter() - wall

        handler._view_middleware[i] = hook_timed
    return names


EXTRA = (
    "session load",
    "user load (auth.get_user, without the session load)",
    "  of which backend.get_user",
    "session save (in SessionMiddleware's row)",
)


BASELINE = False  # --baseline: the user loaded by ModelBackend.get_user, as before
PROFILER = None  # cProfile of the user loads (--cprofile-user)
STEP_PROFILER, STEP_PROFILED = None, ""  # cProfile of one step's whole requests (--cprofile-step)


def _instrument_lazy(totals: dict) -> None:
    """The session and the user are loaded lazily, inside the view: timed apart."""
    from django.contrib import auth
    from django.contrib.auth.backends import ModelBackend
    from django.contrib.auth.middleware import auth as middleware_auth
    from django.contrib.sessions.backends.cached_db import SessionStore

    def timed(function, key):
        def inner(*args, **kwargs):
            cpu, wall = time.thread_time(), time.perf_counter()
            profiled = PROFILER is not None and key == EXTRA[1]
            if profiled:
                PROFILER.enable()
            try:
                return function(*args, **kwargs)
            finally:
                if profiled:
                    PROFILER.disable()
                totals.setdefault(key, [0.0, 0.0])
                totals[key][0] += time.thread_time() - cpu
                totals[key][1] += time.perf_counter() - wall

        return inner

    SessionStore.load = timed(SessionStore.load, EXTRA[0])
    SessionStore.save = timed(SessionStore.save, EXTRA[3])
    assert middleware_auth is auth
    get_user = timed(auth.get_user, EXTRA[1])

    def get_user_without_load(request):
        before = list(totals.get(EXTRA[0], [0.0, 0.0]))
        try:
            return get_user(request)
        finally:
            after = totals.get(EXTRA[0], [0.0, 0.0])
            totals[EXTRA[1]][0] -= after[0] - before[0]
            totals[EXTRA[1]][1] -= after[1] - before[1]

    auth.get_user = get_user_without_load
    from shop.accounts.backends import AddressThrottledModelBackend as Backend

    if BASELINE:  # as before the compiled read: ModelBackend's own get_user
        Backend.get_user = ModelBackend.get_user
    Backend.get_user = timed(Backend.get_user, EXTRA[2])


def _handler_outside_chain(client, rounds: int) -> list[float]:
    """What Django's production WSGIHandler (not the test client's) costs around the chain."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import RequestFactory

    handler = WSGIHandler()
    totals: dict = {}
    _instrument(handler, totals)
    cookies = "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())
    outside = []
    for turn in range(rounds + 2):
        environ = RequestFactory().get("/cart/", HTTP_COOKIE=cookies).environ
        totals.clear()
        cpu = time.thread_time()
        response = handler(environ, lambda status, headers, exc_info=None: None)
        b"".join(response)
        response.close()
        took = time.thread_time() - cpu
        assert response.status_code == 200, response.status_code
        if turn >= 2:
            outside.append((took - totals[0][0]) * 1e6)
    return outside


def run(rounds: int, variants: list[int], steps_shown: list[str]) -> None:
    django_setup()
    from django.contrib.auth import get_user_model
    from django.contrib.messages import get_messages
    from django.test import Client

    customers = list(get_user_model().objects.filter(email__endswith="@bench.example").order_by("pk")[:50])
    client = Client()
    client.force_login(customers[0], backend="shop.accounts.backends.AddressThrottledModelBackend")
    client.get("/cart/")  # loads the middleware
    totals: dict = {}
    names = _instrument(client.handler, totals)
    _instrument_lazy(totals)
    own: dict[str, dict[str, list[tuple[float, float]]]] = {}

    def step(name: str, path: str, data: dict | None = None):
        totals.clear()
        profiled = STEP_PROFILER is not None and name == STEP_PROFILED
        if profiled:
            STEP_PROFILER.enable()
        response = (
            client.get(path)
            if data is None
            else client.post(path, urlencode(data), content_type="application/x-www-form-urlencoded")
        )
        if profiled:
            STEP_PROFILER.disable()
        n = len(names)
        incl = [totals.get(d, [0.0, 0.0]) for d in range(n)]
        hooks = {d: totals.get(("view", d), [0.0, 0.0]) for d in range(n)}
        rows = own.setdefault(name, {})
        for d in range(n):
            nxt = incl[d + 1] if d + 1 < n else [0.0, 0.0]
            if d < n - 1:
                c, w = incl[d][0] - nxt[0] + hooks[d][0], incl[d][1] - nxt[1] + hooks[d][1]
            else:
                c = incl[d][0] - sum(h[0] for h in hooks.values())
                w = incl[d][1] - sum(h[1] for h in hooks.values())
            rows.setdefault(names[d], []).append((c * 1e6, w * 1e6))
        rows.setdefault("(whole request)", []).append((incl[0][0] * 1e6, incl[0][1] * 1e6))
        for key in EXTRA:
            rows.setdefault(key, []).append(tuple(t * 1e6 for t in totals.get(key, [0.0, 0.0])))
        rows.setdefault("(all middleware)", []).append(
            (
                (incl[0][0] - rows["view"][-1][0] / 1e6) * 1e6,
                (incl[0][1] - rows["view"][-1][1] / 1e6) * 1e6,
            )
        )
        return response

    for turn in range(rounds + 2):
        client.cookies.clear()
        client.force_login(
            customers[turn % len(customers)], backend="shop.accounts.backends.AddressThrottledModelBackend"
        )
        variant = variants[turn % len(variants)]
        r = step("add", "/cart/add/", {"variant": variant, "quantity": 1})
        assert r.status_code == 302, r.status_code
        r = step("checkout", "/checkout/")
        form = PlaceForm.of(r.content.decode())
        assert form is not None, r.status_code
        r = step("place", "/checkout/place/", form)
        assert r.status_code == 302, r.status_code
        levels = [m.level for m in get_messages(r.wsgi_request)]
        if not levels or max(levels) >= 30:
            number = r["Location"].rstrip("/").rsplit("/", 1)[-1]
            client.post(f"/payments/pay/{number}/", {"method": "wallet"})
        if turn < 2:
            own.clear()
    outside = _handler_outside_chain(client, rounds)
    print(f"# Middleware's own time per signed-in request, in-process, {rounds} rounds (µs)\n")
    shown = [s for s in steps_shown if s in own]
    print("| layer | " + " | ".join(f"{s} CPU min / med | {s} wall med" for s in shown) + " |")
    print("|---|" + "--:|--:|" * len(shown))
    for layer in [*names, "(all middleware)", "(whole request)", *EXTRA]:
        cells = []
        for s in shown:
            values = own[s][layer]
            cpu = [v[0] for v in values]
            wall = [v[1] for v in values]
            cells.append(f"{min(cpu):.0f} / {statistics.median(cpu):.0f} | {statistics.median(wall):.0f}")
        print(f"| {layer} | " + " | ".join(cells) + " |")
    print(
        f"\nWSGIHandler outside the middleware chain (request object, signals, response close), "
        f"signed-in GET /cart/: CPU min {min(outside):.0f} / median {statistics.median(outside):.0f} µs"
    )
    if STEP_PROFILER is not None:
        import pstats

        print()
        pattern = "middleware|messages|locale|trans_real|csrf|signing|cookie|http/|handlers|sessions|vary|cache"
        pstats.Stats(STEP_PROFILER).sort_stats("cumulative").print_stats(pattern, 60)
    if PROFILER is not None:
        import pstats

        print()
        pstats.Stats(PROFILER).sort_stats("cumulative").print_stats(45)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", nargs="?", default="profile")  # as bench/checkout.py's
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--variants", required=True, help="comma-separated variant ids")
    parser.add_argument("--steps", default="add,checkout,place")
    parser.add_argument("--cprofile-user", action="store_true", help="cProfile the user loads (auth.get_user)")
    parser.add_argument("--cprofile-step", default="", help="cProfile one step's requests: add, checkout, place")
    parser.add_argument("--baseline", action="store_true", help="load the user with ModelBackend.get_user")
    args = parser.parse_args()
    global BASELINE, STEP_PROFILER, STEP_PROFILED
    BASELINE = args.baseline
    if args.cprofile_step:
        import cProfile

        STEP_PROFILER, STEP_PROFILED = cProfile.Profile(time.thread_time), args.cprofile_step
    if args.cprofile_user:
        import cProfile

        global PROFILER
        PROFILER = cProfile.Profile(time.thread_time)
    run(args.rounds, [int(v) for v in args.variants.split(",")], args.steps.split(","))


if __name__ == "__main__":
    main()
