"""URL patterns the shop's URLconf builds from. They live outside shop.urls so that reloading it
(tests route the stand-ins again under other settings: tests/shop/test_standins.py) keeps one
PrefixesPattern class, the one isinstance() checks compare against."""

import re

from django.urls import URLResolver, include
from django.urls.resolvers import RegexPattern


class PrefixesPattern(RegexPattern):
    """The route "" for an include whose every path starts with one of `prefixes`, as
    path("", include(...)) but entered only by a path with one of them (a look-ahead: it matches
    without consuming): any other path passes it in one regex search, instead of trying each of
    the include's patterns and listing them among the ones tried (URLResolver.resolve). Routing,
    reverse() and a match's route are as with "" (tests/shop/test_p21_url_order.py: a path
    outside the prefixes could not be reversed)."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__(rf"^(?={'|'.join(map(re.escape, prefixes))})")

    def __str__(self) -> str:
        return ""  # the route it stands for, as Django's "" (ResolverMatch.route, the 404's list)


def under(prefixes: tuple[str, ...], urlconf: str) -> URLResolver:
    module, app_name, namespace = include(urlconf)
    return URLResolver(PrefixesPattern(prefixes), module, app_name=app_name, namespace=namespace)
