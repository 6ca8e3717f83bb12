"""Site-wide pages: home, language switch, health check and the benchmark's ceiling view."""

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET

from catalog.selectors import for_you, home_sections
from shop.core.dbrouter import replica_status
from shop.core.pagecache import cache_anonymous_page
from shop.core.text import parse_whole_number

FOR_YOU_SIZE = 8


@cache_anonymous_page
def home(request: HttpRequest) -> HttpResponse:
    context = home_sections()
    # Personal: only for a signed-in customer, whose requests (they carry a session) the
    # anonymous page cache neither serves nor stores. One query.
    context["for_you"] = (
        for_you(customer_id=request.user.pk, size=FOR_YOU_SIZE) if request.user.is_authenticated else []
    )
    return render(request, "shop/home.html", context)


@require_GET
def switch_language(request: HttpRequest, code: str) -> HttpResponse:
    """Remember the visitor's language in a cookie. A GET link rather than Django's POST form:
    it changes only a display preference, and a form would put a CSRF token on every
    cached catalogue page."""
    target = request.GET.get("next", "/")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    response = HttpResponseRedirect(target)
    if code in dict(settings.LANGUAGES):
        response.set_cookie(settings.LANGUAGE_COOKIE_NAME, code, max_age=365 * 24 * 3600, samesite="Lax")
    return response


def healthz(request: HttpRequest) -> HttpResponse:
    """The balancer's check: "ok" while this node serves. With a read replica, also its state
    and lag (lines `replica: ok|lagging|down` and `replica_lag_seconds: 0.004`, or the same as
    JSON with ?format=json). A replica that is down or lagging does not fail the check: the
    node serves from the primary then (shop/core/dbrouter.py)."""
    status = replica_status()
    if request.GET.get("format") == "json":
        replica = None
        if status.configured:
            replica = {
                "state": status.state,
                "lag_seconds": status.lag_seconds,
                "max_lag_seconds": settings.REPLICA_MAX_LAG,
                # Not status.error: the check is public, and a driver's message names hosts,
                # ports and users. The log has it (shop.core.dbrouter).
            }
        return JsonResponse({"status": "ok", "replica": replica})
    lines = ["ok"]
    if status.configured:
        lag = "unknown" if status.lag_seconds is None else f"{status.lag_seconds:.3f}"
        lines += [f"replica: {status.state}", f"replica_lag_seconds: {lag}"]
    return HttpResponse("\n".join(lines), content_type="text/plain")


def bench_ceiling(request: HttpRequest) -> HttpResponse:
    """The benchmark's ceiling: a bare view returning ?kb= kilobytes (default 20), no query.
    Only where enabled (shop.urls): elsewhere it would be a free amplifier of traffic."""
    if not settings.BENCH_VIEWS_ENABLED:
        raise Http404
    size = min(parse_whole_number(request.GET.get("kb", "20")) or 20, 200)
    return HttpResponse(b"<!doctype html><html><body>" + b"x" * (size * 1024) + b"</body></html>")


def rate_limited(request: HttpRequest, exception: Exception) -> HttpResponse:
    """django-ratelimit's answer when a limit is hit: a clear page with status 429."""
    return render(request, "429.html", status=429)
