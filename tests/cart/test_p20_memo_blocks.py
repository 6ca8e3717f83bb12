"""A {% memo %} region answers {% extends %}'s search for blocks from what it found the first
time (shop/templatetags/memo.py MemoNode.get_nodes_by_type): the search ran on every render of
every page extending base.html and walked the frame's holes node by node. The blocks found are
the same, and a caller changing the list it gets changes nothing kept."""

import pytest
from django.template import engines
from django.template.base import NodeList
from django.template.loader_tags import BlockNode
from django.urls import reverse

from shop.templatetags.memo import MemoNode

pytestmark = pytest.mark.django_db


def _searches(monkeypatch):
    calls = []
    search = NodeList.get_nodes_by_type

    def counted(self, nodetype):
        calls.append(nodetype)
        return search(self, nodetype)

    monkeypatch.setattr(NodeList, "get_nodes_by_type", counted)
    return calls


def test_a_page_extending_the_frame_does_not_walk_its_holes_again(client, monkeypatch):
    assert client.get(reverse("cart:detail")).status_code == 200  # compiled, the blocks found once
    calls = _searches(monkeypatch)
    page = client.get(reverse("cart:detail"))
    assert page.status_code == 200 and "<title>" in page.content.decode()
    # base.html's own node list, once; each hole's node list was searched before (~12 of them).
    assert len(calls) <= 2, len(calls)


def test_the_blocks_found_are_the_same_and_kept_apart_from_the_callers_list():
    template = engines["django"].from_string(
        "{% load memo %}{% memo %}a{% live %}{% block one %}1{% endblock %}{% endlive %}b"
        "{% live %}{% if x %}{% block two %}2{% endblock %}{% endif %}{% endlive %}{% endmemo %}"
    )
    (region,) = [n for n in template.template.nodelist if isinstance(n, MemoNode)]
    walked = [n.name for n in region.holes.get_nodes_by_type(BlockNode)]
    first = region.get_nodes_by_type(BlockNode)
    assert [n.name for n in first] == walked == ["one", "two"]
    first.clear()
    assert [n.name for n in region.get_nodes_by_type(BlockNode)] == ["one", "two"]
    assert template.render({"x": True}) == "a1b2"
