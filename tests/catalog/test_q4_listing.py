"""The listing pages with nothing cached (issue 12, fourth session, part Q4): the pager in one
tag, and the products statement compiled once per process and listing shape."""

import pytest
from django.core.paginator import Paginator
from django.http import QueryDict
from django.template import engines
from django.utils import translation
from django.utils.html import escape

from catalog import selectors
from catalog.filters import SORT_CHOICES
from catalog.templatetags import catalog_tags
from tests import factories

pytestmark = pytest.mark.django_db

# The pager as product_list.html rendered it before the tag (its lines and indentation).
PAGER = """    {% load i18n shop_extras %}{% if page.paginator.num_pages > 1 %}
    <nav class="pager" aria-label="{% translate 'Pages' %}">
      {% if page.has_previous %}<a rel="prev" href="?{% with_param querystring 'page' page.previous_page_number %}">‹ {% translate "Previous" %}</a>{% endif %}
      <span>{% blocktranslate with n=page.number total=page.paginator.num_pages %}Page {{ n }} of {{ total }}{% endblocktranslate %}</span>
      {% if page.has_next %}<a rel="next" href="?{% with_param querystring 'page' page.next_page_number %}">{% translate "Next" %} ›</a>{% endif %}
    </nav>{% endif %}
"""  # noqa: E501


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("count,number", [(10, 1), (100, 1), (100, 2), (100, 5), (1000, 42)])
@pytest.mark.parametrize("querystring", ["", "q=%E7%BA%AF%E6%A3%89&brand=3&brand=4&sort=price_asc", "av=1&page=7"])
def test_the_pager_tag_renders_what_the_template_did(language, count, number, querystring):
    page = Paginator(range(count), 24).page(min(number, -(-count // 24)))
    with translation.override(language):
        expected = engines["django"].from_string(PAGER).render({"page": page, "querystring": querystring})
        assert "    " + catalog_tags.pager(page, querystring) + "\n" == expected


def _search(client, q, **params):
    response = client.get("/search/", {"q": q, **params})
    assert response.status_code == 200
    return [p.name for p in response.context["products"]]


def test_a_listing_shape_is_compiled_once_and_each_request_gets_its_own_rows(
    client, make_product, monkeypatch, settings
):
    """The products statement of a listing was built and compiled by the ORM on every request
    (about 1 ms of Python): now once per process and shape, the search's words and the page's
    bounds substituted. Other words, pages and changed rows still show at once."""
    settings.PAGE_CACHE_ENABLED = False
    settings.CATALOG_PAGE_SIZE = 2
    monkeypatch.setattr(selectors.ListingProducts, "_compiled", {})
    for i in range(3):
        make_product(name=f"纯棉T恤{i}", sales_count=10 - i)
    make_product(name="不锈钢保温杯")
    compiled = []
    real = selectors.ListingProducts._compile

    def counted(self):
        if self.key not in self._compiled:
            compiled.append(self.key)
        return real(self)

    monkeypatch.setattr(selectors.ListingProducts, "_compile", counted)
    assert _search(client, "纯棉") == ["纯棉T恤0", "纯棉T恤1"]
    assert _search(client, "纯棉", page=2) == ["纯棉T恤2"]
    assert _search(client, "保温杯") == ["不锈钢保温杯"]
    assert len(compiled) == 1  # one shape: a search of all products by popularity
    selectors.active_products().filter(name="纯棉T恤2").update(sales_count=100)
    assert _search(client, "纯棉") == ["纯棉T恤2", "纯棉T恤0"]
    assert [p.name for p in client.get("/products/", {"sort": "popular"}).context["products"]] == [
        "纯棉T恤2",
        "纯棉T恤0",
    ]
    assert len(compiled) == 2


def test_listing_products_read_the_bounds_the_paginator_chose():
    built = []
    products = selectors.ListingProducts(
        lambda raw: built.append(raw) or selectors.active_products().values_list(*selectors.CARD_FIELDS),
        key=("test-bounds",),
        raw=None,
        using="default",
    )
    paginator = selectors.CappedPaginator(products, 24, cap=1000, known_count=50)
    page = paginator.page(3)
    assert page.object_list == (48, 50)
    assert products.rows((48, 48)) == [] and built == []
    # The paginator's own count, when the facets gave none, goes through the ORM.
    assert selectors.CappedPaginator(products, 24, cap=1000).count == 0 and built == [None]
    assert products.rows((0, 24)) == []  # no products in this test's database


def test_the_facet_statements_of_a_search_are_compiled_once_and_count_each_search(
    client, make_product, monkeypatch, settings
):
    """A search's size estimate (EXPLAIN) and its counting statement were built and compiled by
    the ORM on every request: now once per process and shape, the words substituted."""
    settings.PAGE_CACHE_ENABLED = False
    monkeypatch.setattr(selectors, "_shaped_sql", {})
    brand, other = factories.BrandFactory(name="优品"), factories.BrandFactory(name="别家")
    for i in range(3):
        make_product(name=f"纯棉T恤{i}", brand=brand if i else other)
    make_product(name="不锈钢保温杯", brand=brand)
    kept = []
    real = selectors._shaped_keep
    monkeypatch.setattr(selectors, "_shaped_keep", lambda shape, *a: kept.append(shape.key[-1]) or real(shape, *a))

    def facets(q, **params):
        response = client.get("/search/", {"q": q, **params})
        assert response.status_code == 200
        found = response.context["facets"]
        return found.total, {entry["brand"].name: entry["count"] for entry in found.brands}

    assert facets("纯棉") == (3, {"优品": 2, "别家": 1})
    assert kept == [4, "whole"]  # the 4 % stratum's count says few hits: counted whole (P10)
    assert facets("保温杯") == (1, {"优品": 1})
    assert facets("纯棉", brand=brand.pk) == (2, {"优品": 2, "别家": 1})  # another shape: a brand chosen
    assert kept == [4, "whole", "planned", "whole"]  # filtered: the planner's estimate, as before
    assert facets("T恤", brand=brand.pk) == (2, {"优品": 2, "别家": 1})
    assert len(kept) == 4


def _sort_links_before(querystring, choices, current):
    """catalog_tags.sort_links as it was: every parameter encoded again for each link."""
    params = QueryDict(querystring, mutable=True)
    params.pop("page", None)
    links = []
    for value, label in choices:
        params["sort"] = value
        on = 'class="on" aria-current="true"' if value == current else ""
        links.append(f'<a href="?{escape(params.urlencode())}" {on}>{escape(str(label))}</a>')
    return "".join(links)


@pytest.mark.parametrize(
    "querystring",
    [
        "",
        "page=2",
        "sort=newest",
        "q=%E7%BA%AF%E6%A3%89&brand=413",
        "q=a+b&sort=price_asc&brand=1&brand=2&page=3",
        "sort=x&av=3&sort=y",
        "a=%26%3C&b=&sort=&q=x%27y",
    ],
)
def test_sort_links_encode_the_other_parameters_once_and_link_as_before(querystring, monkeypatch):
    import django.http.request

    encoded = []
    real = django.http.request.urlencode
    monkeypatch.setattr(django.http.request, "urlencode", lambda query, *a: encoded.append(*query) or real(query, *a))
    for current in ("popular", "newest", "nothing"):
        with translation.override("en"):
            encoded.clear()
            html = catalog_tags.sort_links(querystring, SORT_CHOICES, current)
            assert encoded.count(b"q") == (1 if "q=" in querystring else 0)  # not once per link
            assert html == _sort_links_before(querystring, SORT_CHOICES, current)
