"""The listing's subcategory chips and facet checkboxes rendered in Python (part L2): the same
bytes as the template loops they replace, with less per-item work."""

import pytest
from django.template import engines
from django.utils import translation

from catalog.templatetags import catalog_tags
from tests import factories

pytestmark = pytest.mark.django_db

LOOP = '{% for c in children %}<li><a href="{{ c.get_absolute_url }}">{{ c.display_name }}</a></li>{% endfor %}'


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_category_links_render_as_the_template_loop_did(language):
    root = factories.CategoryFactory(name="服装 & <鞋>", name_en='Clothes & "shoes"', slug="clothing")
    children = [
        factories.CategoryFactory(parent=root, name="男装", name_en="", slug="men"),
        factories.CategoryFactory(parent=root, name="女'装", name_en="Women's", slug="women"),
    ]
    with translation.override(language):
        expected = engines["django"].from_string(LOOP).render({"children": [root, *children]})
        assert catalog_tags.category_links([root, *children]) == expected
    assert "&amp;" in expected and "&#x27;" in expected


def test_estimated_facet_counts_look_up_the_language_once_per_facet(monkeypatch):
    """An estimated page shows dozens of "about n" counts: the language was looked up for each."""
    brands = [factories.BrandFactory.build(pk=i, name=f"牌{i}", name_en=f"B{i}" if i % 2 else "") for i in (1, 2, 3)]
    entries = [{"brand": b, "count": n} for b, n in zip(brands, (12345, 987, 5), strict=True)]
    calls = []
    real = catalog_tags.get_language
    monkeypatch.setattr(catalog_tags, "get_language", lambda: calls.append(1) or real())
    with translation.override("en"):
        html = catalog_tags.facet_checks("brand", entries, "brand", {2}, True)
    assert len(calls) == 1
    assert html == (
        '<label class="check"><input type="checkbox" name="brand" value="1" > B1 <small>(about 12,300)</small></label>'
        '<label class="check"><input type="checkbox" name="brand" value="2" checked> 牌2 '
        "<small>(about 990)</small></label>"
        '<label class="check"><input type="checkbox" name="brand" value="3" > B3 <small>(about 5)</small></label>'
    )
