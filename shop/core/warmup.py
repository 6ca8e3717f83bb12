"""Load as a web worker starts what its first request would otherwise load.

Django imports the URLconf (and with it every view module and what they import), the template
tag libraries and each language's translation catalogue on first use: about a second of CPU
in a worker's first request (docs/benchmark.md, "Issue 12, twelfth session"), which that
customer, and every request queued behind the worker, waited for after each start, deploy and
recycle. Nothing here reads the database or the cache: a worker starts even while they are
down.
"""

import contextlib

from django.conf import settings
from django.conf.urls.i18n import is_language_prefix_patterns_used
from django.template import engines
from django.urls import NoReverseMatch, get_resolver, reverse
from django.utils import translation


def warm_up() -> None:
    is_language_prefix_patterns_used(settings.ROOT_URLCONF)  # imports every URLconf and view
    engines.all()  # each template engine with its tag libraries
    for code, _name in settings.LANGUAGES:
        with translation.override(code):  # loads the language's merged catalogue
            _populate(get_resolver())


def _populate(resolver, namespace: str = "") -> None:
    # reverse()'s tables, built per language, and for a namespace on its first reverse() (a
    # resolver of its own, cached by Django): one name reversed in each, refused or not.
    resolver.reverse_dict  # noqa: B018
    for ns, (_prefix, sub) in resolver.namespace_dict.items():
        path = f"{namespace}{ns}:"
        name = next((key for key in sub.reverse_dict if isinstance(key, str)), None)
        if name is not None:
            with contextlib.suppress(NoReverseMatch):
                reverse(path + name)
        _populate(sub, path)
