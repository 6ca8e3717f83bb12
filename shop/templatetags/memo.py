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

A region may hold `{% live %}…{% endlive %}` holes, rendered on every render into the kept text:
a page's whole frame can then be one region, its blocks and per-request values (the search box's
query, the cart count, the messages) in holes. The region is rendered once with a marker in each
hole, and kept as its text between markers. A hole's output is never kept. A hole may hold `{% block %}`s
(`{% extends %}` finds them); it must not sit in a `{% for %}` (the kept text would repeat one
iteration's marker for all) nor under an `{% if %}` on values the region's key does not hold, and
a region with holes must not sit in another region's kept text (its holes would be kept there).
"""

import re
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
# Set in the context while a region with holes renders its kept text: each hole writes its marker.
CAPTURING = "_memo_capturing"
MARKER = re.compile("\x00live(\\d+)\x00")  # a control character: never in a template's own text


class LiveNode(template.Node):
    """A hole in a memo region: rendered each time, also inside the region's kept text."""

    child_nodelists = ("nodelist",)

    def __init__(self, nodelist: template.NodeList) -> None:
        self.nodelist = nodelist
        self.marker = ""  # set by the region that holds it

    def render(self, context: template.Context) -> str:
        if self.marker and context.get(CAPTURING):
            return self.marker
        return self.nodelist.render(context)


class MemoNode(template.Node):
    # Hidden from node searches: {% extends %} walks the parent's whole tree for its blocks on
    # every render, and a memo region holds no block (an overridden block inside one would be
    # served from the memo anyway).
    child_nodelists = ()

    def __init__(self, nodelist: template.NodeList, values: list[template.base.FilterExpression]) -> None:
        self.nodelist = nodelist
        self.values = values
        self.rendered: dict[tuple, str | tuple] = {}
        # The holes: the only part of the region {% extends %} looks into for blocks.
        self.holes = template.NodeList(nodelist.get_nodes_by_type(LiveNode))
        if self.holes:
            self.child_nodelists = ("holes",)
        for number, hole in enumerate(self.holes):
            hole.marker = f"\x00live{number}\x00"
        self._by_type: dict[type, tuple] = {}
        with _lock:
            _regions.add(self)

    def get_nodes_by_type(self, nodetype) -> list:
        # {% extends %} asks the parent's tree for its blocks on every render of every page that
        # extends base.html, and the walk of the frame's holes was ~36 calls of it a page; a
        # compiled region's nodes never change, so each type's are found once.
        found = self._by_type.get(nodetype)
        if found is None:
            found = self._by_type[nodetype] = tuple(super().get_nodes_by_type(nodetype))
        return list(found)

    def render(self, context: template.Context) -> str:
        key = (get_language(), get_script_prefix(), get_urlconf(), *(v.resolve(context) for v in self.values))
        output = self.rendered.get(key)
        if output is None:
            if self.holes:
                return self._capture(context, key)
            output = self.nodelist.render(context)
            if len(self.rendered) < MAX_ENTRIES:
                self.rendered[key] = output
            return output
        if not self.holes:
            return output
        # The kept text at even places, the holes at odd ones.
        return "".join([part if i % 2 == 0 else part.render(context) for i, part in enumerate(output)])

    def _capture(self, context: template.Context, key: tuple) -> str:
        with context.push({CAPTURING: True}):
            text = self.nodelist.render(context)
        pieces = MARKER.split(text)
        parts = tuple(piece if i % 2 == 0 else self.holes[int(piece)].nodelist for i, piece in enumerate(pieces))
        if len(self.rendered) < MAX_ENTRIES:
            self.rendered[key] = parts
        return "".join([part if i % 2 == 0 else part.render(context) for i, part in enumerate(parts)])


@register.tag
def memo(parser: template.base.Parser, token: template.base.Token) -> MemoNode:
    values = [parser.compile_filter(bit) for bit in token.split_contents()[1:]]
    nodelist = parser.parse(("endmemo",))
    parser.delete_first_token()
    return MemoNode(nodelist, values)


@register.tag
def live(parser: template.base.Parser, token: template.base.Token) -> LiveNode:
    nodelist = parser.parse(("endlive",))
    parser.delete_first_token()
    return LiveNode(nodelist)


def _forget(**kwargs) -> None:
    with _lock:
        for region in list(_regions):
            region.rendered.clear()


setting_changed.connect(_forget, dispatch_uid="shop.templatetags.memo.forget")
