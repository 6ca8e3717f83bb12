"""The shop's top-level URL patterns: their order and the catalogue's and cart's prefix
look-aheads (shop.core.routing.under) change no routing, only how many patterns a request walks.

Every pattern of the tree is turned into a sample path (its converters filled with sample
values) and resolved three ways: by the shop's URLconf, by the same top-level patterns with
each look-ahead include as the plain path("", include(...)) it replaced and the cart last (as
before), and by that list reversed. All must give the same view, arguments and name (or all a
404), so no path is decided by the order. Every named URL reverses and resolves back to itself,
so an app URL outside its listed prefixes fails here rather than answering 404."""

import re
from unittest import mock

import pytest
from django.urls import NoReverseMatch, Resolver404, URLPattern, URLResolver, get_resolver, include, path, reverse
from django.urls.resolvers import RegexPattern, RoutePattern

import shop.urls
from shop.core.routing import PrefixesPattern

SAMPLES = {
    "int": "7",
    "slug": "a-slug",
    "str": "word",
    "path": "some/thing",
    "uuid": "12345678-1234-5678-1234-567812345678",
}
ROUTE_PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
EXTRA_PATHS = [
    "/",
    "/cart",
    "/cart/",
    "/carts/",
    "/checkout",
    "/checkout/place",
    "/checkout/place/x/",
    "/c/",
    "/p/",
    "/products",
    "/search/x/",
    "/nope/",
    "/orders/",
    "/account/",
    "/admin/",
    "/cart/add//",
    "/ccart/add/",
    "/pcart/add/",
]


def _route_sample(route: str) -> str:
    return ROUTE_PARAMETER.sub(lambda m: SAMPLES[m.group("converter") or "str"], route)


def _regex_sample(regex: str) -> str | None:
    """A path for a regex with no groups but named ones (each "(?P<name>[^/]+)"-like: a word)."""
    text = regex.removeprefix("^").removesuffix("$").removesuffix(r"\Z")
    text = re.sub(r"\(\?=[^)]*\)", "", text)  # a look-ahead consumes nothing
    text = re.sub(r"\(\?P<\w+>[^()]*\)", "word", text)
    if re.search(r"[()\[\]|*+?\\]", text):
        return None
    return text


def _sample_paths(patterns, prefix: str = "") -> list[str]:
    paths = []
    for pattern in patterns:
        if isinstance(pattern.pattern, RoutePattern):
            piece = _route_sample(str(pattern.pattern))
        else:
            piece = _regex_sample(pattern.pattern.regex.pattern)
            if piece is None:
                continue
        if isinstance(pattern, URLResolver):
            paths += _sample_paths(pattern.url_patterns, prefix + piece)
        else:
            paths.append("/" + prefix + piece)
    return paths


def _plain(patterns: list) -> list:
    """The top-level list with each look-ahead include as path("", include(...)), the cart last."""
    plain, cart = [], []
    for pattern in patterns:
        if isinstance(pattern.pattern, PrefixesPattern):
            replaced = path("", include(pattern.urlconf_module))
            (cart if pattern.urlconf_module.__name__ == "cart.urls" else plain).append(replaced)
        else:
            plain.append(pattern)
    return plain + cart


def _outcome(resolver: URLResolver, url: str):
    try:
        match = resolver.resolve(url)
    except Resolver404:
        return "404"
    return (match.func, match.args, match.kwargs, match.view_name, match.route)


def test_no_path_depends_on_the_order_or_the_look_aheads():
    top = list(shop.urls.urlpatterns)
    assert sum(isinstance(p.pattern, PrefixesPattern) for p in top) == 2, "the look-ahead includes are in place"
    current = get_resolver()
    as_before = URLResolver(RegexPattern(r"^/"), _plain(top))
    reversed_order = URLResolver(RegexPattern(r"^/"), list(reversed(_plain(top))))
    paths = sorted(set(_sample_paths(top) + EXTRA_PATHS))
    assert len(paths) > 100
    assert {"/cart/add/", "/checkout/", "/checkout/place/", "/p/a-slug/", "/search/"} <= set(paths)
    for url in paths:
        outcome = _outcome(current, url)
        assert outcome == _outcome(as_before, url) == _outcome(reversed_order, url), url
    for url in ["/cart/add/", "/checkout/", "/checkout/place/", "/p/a-slug/", "/search/", "/orders/"]:
        assert _outcome(current, url) != "404", url


def _named(resolver: URLResolver, namespace: str = "") -> list[tuple[str, URLPattern]]:
    names = []
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            names += _named(pattern, inner)
        elif pattern.name:
            names.append((namespace + pattern.name, pattern))
    return names


def test_every_named_url_reverses_and_resolves_back():
    resolver = get_resolver()
    checked = 0
    for name, pattern in _named(resolver):
        if not isinstance(pattern.pattern, RoutePattern):
            continue
        kwargs = {
            m.group("name"): SAMPLES[m.group("converter") or "str"]
            for m in ROUTE_PARAMETER.finditer(str(pattern.pattern))
        }
        try:
            url = reverse(name, kwargs=kwargs)
        except NoReverseMatch:
            pytest.fail(f"{name} does not reverse: a path outside its include's prefixes?")
        assert resolver.resolve(url).view_name == name, (name, url)
        checked += 1
    assert checked > 60


def _matches(url: str) -> int:
    """How many patterns resolving `url` tries (route and regex matches)."""
    route_match, regex_match = RoutePattern.match, RegexPattern.match
    with (
        mock.patch.object(RoutePattern, "match", autospec=True, side_effect=route_match) as route,
        mock.patch.object(RegexPattern, "match", autospec=True, side_effect=regex_match) as regex,
    ):
        get_resolver().resolve(url)
    return route.call_count + regex.call_count


def test_a_purchase_walks_few_patterns():
    # Before: the cart's include came last, after the catalogue's patterns and 16 others.
    walked = {url: _matches(url) for url in ["/cart/add/", "/checkout/", "/checkout/place/"]}
    assert walked == {"/cart/add/": 6, "/checkout/": 12, "/checkout/place/": 13}, walked
    assert _matches("/p/a-slug/") <= 7
