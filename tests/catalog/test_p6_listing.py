"""The listing pages with nothing cached (issue 12, fifth session, part P6): once a listing's
statements are kept for its shape, a request builds no products queryset at all."""

import pytest

from catalog import selectors
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def built(monkeypatch, settings):
    """How many products querysets the listing view built (selectors.active_products calls)."""
    settings.PAGE_CACHE_ENABLED = False
    monkeypatch.setattr(selectors, "_shaped_sql", {})
    monkeypatch.setattr(selectors.ListingProducts, "_compiled", {})
    calls = []
    real = selectors.active_products
    monkeypatch.setattr(selectors, "active_products", lambda: calls.append(1) or real())
    return calls


def _page(client, path, **params):
    response = client.get(path, params)
    assert response.status_code == 200
    facets = response.context["facets"]
    return (
        [p.name for p in response.context["products"]],
        facets.total,
        {entry["brand"].name: entry["count"] for entry in facets.brands},
    )


def test_a_search_of_a_kept_shape_builds_no_queryset(client, make_product, built):
    """The search built its products queryset, the full-text match, and the facets' filtered
    and sampled querysets on every request, though the statements compiled from them were kept
    per shape (0.3-0.5 ms): now only when a shape is new. Each search still gets its own rows
    and counts."""
    brand, other = factories.BrandFactory(name="优品"), factories.BrandFactory(name="别家")
    for i in range(3):
        make_product(name=f"纯棉T恤{i}", brand=brand if i else other, sales_count=10 - i)
    make_product(name="不锈钢保温杯", brand=brand)
    assert _page(client, "/search/", q="纯棉") == (["纯棉T恤0", "纯棉T恤1", "纯棉T恤2"], 3, {"优品": 2, "别家": 1})
    assert built  # a new shape: compiled from the querysets
    built.clear()
    assert _page(client, "/search/", q="保温杯") == (["不锈钢保温杯"], 1, {"优品": 1})
    assert _page(client, "/search/", q="T恤", brand=brand.pk) == (["纯棉T恤1", "纯棉T恤2"], 2, {"优品": 2, "别家": 1})
    built.clear()
    assert _page(client, "/search/", q="纯棉", brand=brand.pk) == (["纯棉T恤1", "纯棉T恤2"], 2, {"优品": 2, "别家": 1})
    assert built == []


def test_a_filtered_category_of_a_kept_shape_builds_no_queryset(client, make_product, built):
    parent = factories.CategoryFactory(name="服装", slug="clothing")
    brand, other = factories.BrandFactory(name="优品"), factories.BrandFactory(name="别家")
    make_product(name="甲", brand=brand, category=parent, sales_count=3)
    make_product(name="乙", brand=other, category=parent, sales_count=2)
    make_product(name="丙", brand=brand, category=parent, sales_count=1)
    assert _page(client, "/c/clothing/", brand=brand.pk) == (["甲", "丙"], 2, {"优品": 2, "别家": 1})
    built.clear()
    assert _page(client, "/c/clothing/", brand=brand.pk) == (["甲", "丙"], 2, {"优品": 2, "别家": 1})
    assert built == []
    # The chosen brands are in the statements' text: another brand is another shape (its
    # counting statement and its products' statement each built once).
    assert _page(client, "/c/clothing/", brand=other.pk) == (["乙"], 1, {"优品": 2, "别家": 1})
    assert built == [1, 1]
    assert _page(client, "/c/clothing/", brand=other.pk) == (["乙"], 1, {"优品": 2, "别家": 1})
    assert _page(client, "/c/clothing/") == (["甲", "乙", "丙"], 3, {"优品": 2, "别家": 1})
    assert built == [1, 1, 1]  # the unfiltered page's products statement (its counts are the table's)


def test_a_fuzzy_search_still_builds_what_it_needs(client, make_product, built):
    """A search that finds nothing falls back on the trigram match, which needs the queryset."""
    make_product(name="纯棉T恤", name_en="Cotton shirt")
    assert _page(client, "/search/", q="cottn")[0] == ["纯棉T恤"]
    assert _page(client, "/search/", q="cottn")[0] == ["纯棉T恤"]


@pytest.mark.parametrize("querystring", ["", "q=%E7%BA%AF%E6%A3%89&brand=3&sort=price_asc", "av=1&page=7"])
def test_sort_links_and_pager_are_kept_per_query_string_and_language(querystring, monkeypatch):
    """The sort links and the pager depend only on the query string, the page and the language:
    kept per process, the same listing asked again no longer parses its query string for them."""
    from django.core.paginator import Paginator
    from django.utils import translation

    from catalog.filters import SORT_CHOICES
    from catalog.templatetags import catalog_tags

    monkeypatch.setattr(catalog_tags, "_links", {})
    page = Paginator(range(100), 24).page(2)
    made = {}
    for language in ("zh-hans", "en"):
        with translation.override(language):
            made[language] = (
                catalog_tags.sort_links(querystring, SORT_CHOICES, "newest"),
                catalog_tags.pager(page, querystring),
            )
    assert made["zh-hans"] != made["en"]  # labels in each language
    parsed = []
    real = catalog_tags.QueryDict
    monkeypatch.setattr(catalog_tags, "QueryDict", lambda *a, **k: parsed.append(a) or real(*a, **k))
    for language in ("zh-hans", "en"):
        with translation.override(language):
            links = catalog_tags.sort_links(querystring, SORT_CHOICES, "newest")
            assert (links, catalog_tags.pager(page, querystring)) == made[language]
    assert parsed == []
    for language in ("zh-hans", "en"):  # other keys: made afresh, as the uncached tags make them
        with translation.override(language):
            links = catalog_tags.sort_links(querystring, SORT_CHOICES[1:], "newest")
            assert links == catalog_tags._sort_links(querystring, SORT_CHOICES[1:], "newest")
            later = page.paginator.page(3)
            assert catalog_tags.pager(later, querystring) == catalog_tags._pager(later, querystring)
    assert parsed


# The headings and counts as product_list.html wrote them with {% blocktranslate %}.
TEXTS_BEFORE = {
    "title": "{% blocktranslate %}“{{ query }}”{% endblocktranslate %}",
    "description": "{% blocktranslate %}Products matching “{{ query }}”: prices, brands and stock."
    "{% endblocktranslate %}",
    "heading": "{% if page.paginator.estimated %}{% blocktranslate with n=facets.total|estimate %}About {{ n }} results"
    " for “{{ query }}”{% endblocktranslate %}{% else %}{% blocktranslate count n=page.paginator.count %}{{ n }} result"
    " for “{{ query }}”{% plural %}{{ n }} results for “{{ query }}”{% endblocktranslate %}{% endif %}",
    "count": "{% if page.paginator.estimated %}{% blocktranslate with n=facets.total|estimate %}About {{ n }} products"
    "{% endblocktranslate %}{% elif page.paginator.capped %}{% blocktranslate with n=page.paginator.count|intcomma %}"
    "More than {{ n }} products{% endblocktranslate %}{% else %}{% blocktranslate count n=page.paginator.count %}"
    "{{ n }} product{% plural %}{{ n }} products{% endblocktranslate %}{% endif %}",
    "hidden": "{% blocktranslate count n=facets.brands_hidden %}and {{ n }} more brand — search to find it{% plural %}"
    "and {{ n }} more brands — search to find them{% endblocktranslate %}",
    "category": "{% blocktranslate with name=category.display_name %}{{ name }}: products, prices and brands at the"
    " shop.{% endblocktranslate %}",
}
TEXTS_AFTER = {
    "title": "{% search_title query %}",
    "description": "{% search_description query %}",
    "heading": "{% results_heading query page.paginator facets.total %}",
    "count": "{% products_count page.paginator facets.total %}",
    "hidden": "{% brands_hidden facets.brands_hidden %}",
    "category": "{% category_description category.display_name %}",
}


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("query", ["纯棉", "<b>a&b</b> \"'%s%(n)s", "T恤"])
@pytest.mark.parametrize(
    "count,total,estimated,cap",
    [
        (0, 0, False, 10000),
        (1, 1, False, 10000),
        (24, 24, False, 10000),
        (12566, 12600, True, 10000),
        (1234, 1234, False, 10000),
        (10001, 10001, False, 10000),
    ],
)
def test_the_listing_text_tags_write_what_blocktranslate_did(language, query, count, total, estimated, cap):
    from types import SimpleNamespace

    from django.template import engines
    from django.utils import translation

    paginator = selectors.CappedPaginator(list(range(count)), 24, cap=cap, known_count=count, estimated=estimated)
    context = {
        "query": query,
        "page": SimpleNamespace(paginator=paginator),
        "facets": SimpleNamespace(total=total, brands_hidden=count),
        "category": SimpleNamespace(display_name=query),
    }
    load = "{% load i18n humanize catalog_tags %}"
    with translation.override(language):
        for name, before in TEXTS_BEFORE.items():
            expected = engines["django"].from_string(load + before).render(context)
            assert engines["django"].from_string(load + TEXTS_AFTER[name]).render(context) == expected, name


def test_an_indexable_search_names_its_canonical_path_without_reverse(client, make_product, monkeypatch, settings):
    """An indexable search's canonical link is /search/?q=...: reverse() once per process."""
    from catalog import views

    settings.PAGE_CACHE_ENABLED = False
    make_product(name="纯棉T恤")
    assert client.get("/products/", {"q": "纯棉"}).context["canonical_url"].endswith("/search/?q=%E7%BA%AF%E6%A3%89")
    monkeypatch.setattr(views, "reverse", lambda *a, **k: pytest.fail("reverse() on every request"))
    canonical = client.get("/products/", {"q": "T恤"}).context["canonical_url"]
    assert canonical.endswith("/search/?q=T%E6%81%A4")
