"""`{% memo [value ...] %}…{% endmemo %}`: a template region rendered once per process.

The frame every page shares (base.html: stylesheet links, the header's links and labels, the
footer) is made of `{% url %}`, `{% static %}` and `{% translate %}` tags whose output never
changes while the process runs, yet they cost more than half of base.html's rendering, about
0.3 ms a page (docs/benchmark.md, "Issue 12: product page"). A memo region's output is kept
per active language, URL prefix and urlconf, and per the values given to the tag (e.g.
`user.is_authenticated` for a region with an `{% if %}` on it).

Only for regions whose output depends on nothing else: no request, user, form or page values
(pass them as arguments or leave them outside), no tag that sets a context variable (`as
x`), which a memo hit would not set, and no `{% block %}`. Memos are dropped when a setting changes (tests).
"""

import threading
import weakref

from django import template
from django.core.signals import setting_changed
from django.urls import get_script_prefix, get_urlconf
from django.utils.translation import get_language

register = template.Library()

# Bounds each region's entries (languages x argument values); past it a region renders each time.
MAX_ENTRIES = 64
_regions: weakref.WeakSet = weakref.WeakSet()
_lock = threading.Lock()


class MemoNode(template.Node):
    # Hidden from node searches: {% extends %} walks the parent's whole tree for its blocks on
    # every render, and a memo region holds no block (an overridden block inside one would be
    # served from the memo anyway).
    child_nodelists = ()

    def __init__(self, nodelist: template.NodeList, values: list[template.base.FilterExpression]) -> None:
        self.nodelist = nodelist
        self.values = values
        self.rendered: dict[tuple, str] = {}
        with _lock:
            _regions.add(self)

    def render(self, context: template.Context) -> str:
        key = (get_language(), get_script_prefix(), get_urlconf(), *(v.resolve(context) for v in self.values))
        output = self.rendered.get(key)
        if output is None:
            output = self.nodelist.render(context)
            if len(self.rendered) < MAX_ENTRIES:
                self.rendered[key] = output
        return output


@register.tag
def memo(parser: template.base.Parser, token: template.base.Token) -> MemoNode:
    values = [parser.compile_filter(bit) for bit in token.split_contents()[1:]]
    nodelist = parser.parse(("endmemo",))
    parser.delete_first_token()
    return MemoNode(nodelist, values)


def _forget(**kwargs) -> None:
    with _lock:
        for region in list(_regions):
            region.rendered.clear()


setting_changed.connect(_forget, dispatch_uid="shop.templatetags.memo.forget")
