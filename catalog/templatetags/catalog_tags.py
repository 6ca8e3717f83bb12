"""Listing helpers rendered in Python: a page shows 24 product cards and up to a hundred facet
checkboxes, and the template engine's per-variable lookups were most of a listing's rendering
time. Every product grid (home, listings, search, suggestions) uses these cards."""

import threading
from collections import namedtuple
from functools import lru_cache
from html import escape as _escape
from urllib.parse import quote, urlencode

from django import template
from django.conf import settings
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.signals import setting_changed
from django.http import QueryDict
from django.template.defaultfilters import floatformat
from django.utils.formats import localize
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, gettext, ngettext

from catalog.models import Product, _product_url_prefix
from catalog.selectors import CARD_FIELDS
from shop.core.money import format_money, money

register = template.Library()


class ProductCard(namedtuple("ProductCardRow", CARD_FIELDS)):
    """What a listing's card shows of a product (catalog.selectors.CARD_FIELDS), made from a
    row: building 24 Products with their other fields deferred was about half a millisecond of
    a listing. The row itself, its fields named (setting ten attributes per card cost four
    times as much). The card's URL, image and sale flag are Product's own."""

    __slots__ = ()

    def __new__(cls, row: tuple) -> "ProductCard":
        if len(row) != len(CARD_FIELDS):
            raise ValueError(f"a card row has {len(CARD_FIELDS)} fields, not {len(row)}")
        return tuple.__new__(cls, row)

    def __getnewargs__(self) -> tuple:
        return (tuple(self),)  # pickled and copied as ProductCard(row) makes it

    @property
    def pk(self) -> int:
        return self.id

    get_absolute_url = Product.get_absolute_url
    card_image_url = Product.card_image_url
    on_sale = Product.on_sale


_CARD = (
    '<li class="card">\n  <a href="{url}">\n    {image}\n    <span class="name">{name}</span>\n  </a>\n'
    '  <span class="prices"><span class="price">{price}</span>{was}</span>\n  {badge}\n</li>\n'
)
_IMAGE = '<img src="{}" alt=""{} width="400" height="400">'
# Cards in the first screenful load at once, the very first with priority: it is usually the
# page's largest paint, and a lazy one waits for layout (Lighthouse's "LCP image lazy-loaded").
_LAZY, _EAGER, _FIRST = ' loading="lazy"', "", ' fetchpriority="high"'
_NO_IMAGE = '<span class="noimg" aria-hidden="true"></span>'


def cards_html(products, *, eager: int = 0) -> list[str]:
    """The product cards: the first `eager` images load at once, the very first with priority.
    The language, the "out of stock" label, the currency symbol, the products' URL prefix and
    MEDIA_URL are looked up once per grid, not per card, and text is escaped by the standard
    library's html.escape: Django's escape() gives the same text through a lazy-argument check
    and a SafeString per call, most of a card's cost. The URL and image are made as Product's
    get_absolute_url and card_image_url make them (tests/catalog/test_p31_render.py)."""
    english = (get_language() or "").startswith("en")
    out_of_stock = f'<span class="badge out">{_escape(gettext("Out of stock"))}</span>'
    # format_money's symbol, looked up once per grid (it reads the setting twice a price).
    symbol = _escape(format_money(0)[: -len("0.00")])
    url_prefix, media_url = _escape(_product_url_prefix()), _escape(settings.MEDIA_URL)
    cards = []
    for i, product in enumerate(products):
        name = product.name_en if english and product.name_en else product.name
        loading = _LAZY if i >= eager else _FIRST if i == 0 else _EAGER
        image = product.card_image
        price, was = product.price, product.compare_at_price
        cards.append(
            _CARD.format(
                url=f"{url_prefix}{_escape(product.slug)}/",
                image=_IMAGE.format(f"{media_url}{_escape(str(image))}", loading) if image else _NO_IMAGE,
                name=_escape(name),
                price=f"{symbol}{money(price):,}",
                # Product.on_sale.
                was=f' <s class="was">{symbol}{money(was):,}</s>' if was and was > price else "",
                badge="" if product.in_stock else out_of_stock,
            )
        )
    return cards


@register.simple_tag
def product_cards(products, eager: int = 0) -> SafeString:
    """The <li> cards of a product grid; the first `eager` images are not lazy (the grid at the
    top of a page)."""
    return mark_safe("".join(cards_html(products, eager=eager)))  # noqa: S308 - every value escaped in cards_html


# A checkbox's text but its "checked" and its count, kept per process by what it is made of
# (the facet's name, the item's id and its label in the page's language): a page shows up to a
# hundred, the same ones on every page of a catalogue, and escaping and formatting each label
# was most of a checkbox's cost.
@lru_cache(maxsize=4096)
def _check_parts(name: str, pk: int, label: str) -> tuple[str, str]:
    return (
        f'<label class="check"><input type="checkbox" name="{name}" value="{pk}" ',
        f"> {_escape(label)} <small>(",
    )


@register.filter
def estimate(n: int) -> str:
    """An estimated count as shown: rounded to the figures a sample can tell (two below 1,000,
    three above: a sample of 450 rows or more is within about ±9 % of a big total at 95 %, see
    catalog.selectors.facets_for), with the locale's thousands separators."""
    return _estimate(int(n), get_language())


@lru_cache(maxsize=4096)
def _estimate(n: int, language: str | None) -> str:
    # Kept per language: an estimated page shows dozens (every facet's "about n"), and the
    # locale's grouping cost more than the rest of a checkbox.
    digits = 2 if n < 1000 else 3
    if n >= 10**digits:
        step = 10 ** (len(str(n)) - digits)
        n = round(n / step) * step
    return intcomma(n)


@lru_cache(maxsize=4096)
def _about(n: int, language: str | None) -> str:
    # An estimated count as a checkbox shows it ("about n", escaped), kept per language as
    # _estimate is: an estimated page shows dozens.
    return _escape(gettext("about %(n)s") % {"n": _estimate(n, language)})


def _translations_changed(**kwargs) -> None:
    _estimate.cache_clear()
    _about.cache_clear()
    _check_parts.cache_clear()
    _whole.cache_clear()
    _filters_text.cache_clear()


setting_changed.connect(_translations_changed, weak=False, dispatch_uid="catalog_tags.estimate")


@register.filter
def whole(value) -> str:
    """A price as a whole number, as `floatformat:0` shows it (the price filters' placeholders),
    kept per value and language: floatformat's locale lookups were two hundredths of a
    millisecond a listing."""
    return _whole(value, get_language())


@lru_cache(maxsize=4096)
def _whole(value, language: str | None) -> str:
    return floatformat(value, 0)


@register.simple_tag
def facet_count(n: int, estimated: bool = False) -> str:
    """A facet's count: the number, or "about n" when the facets were estimated."""
    return gettext("about %(n)s") % {"n": estimate(n)} if estimated else str(n)


@register.simple_tag
def facet_checks(
    name: str, entries: list[dict], key: str, selected: set[int], estimated: bool = False, *, language: str = ""
) -> SafeString:
    """The checkboxes of one facet (brands, or the values of one attribute) with their counts:
    `entries` are the facet's {key: brand or value, "count": n} rows; `estimated`: the counts
    were scaled up from a sample, and say so ("about n"); `language`: the page's, when the caller
    has it (the filter form: one lookup for its seven facets)."""
    if language == "":
        language = get_language()
    english = (language or "").startswith("en")
    label_field, english_field = ("name", "name_en") if key == "brand" else ("value", "value_en")
    rows = []
    for entry in entries:
        item = entry[key]
        # The language looked up once per facet, not per count (an estimated page shows dozens).
        label = (english and getattr(item, english_field)) or getattr(item, label_field)
        pk = item.pk
        head, tail = _check_parts(name, pk, label)
        count = _about(int(entry["count"]), language) if estimated else entry["count"]
        rows.append(f"{head}{'checked' if pk in selected else ''}{tail}{count})</small></label>")
    return mark_safe("".join(rows))  # noqa: S308 - labels escaped, the rest are numbers


@register.simple_tag
def attribute_facets(
    attributes: list[dict], selected: set[int], estimated: bool = False, *, language: str = ""
) -> SafeString:
    """A fieldset per filterable attribute (Facets.attributes: {"attribute", "values"}), with its
    values' checkboxes: one tag for the lot, not a template loop around facet_checks. The
    language looked up once (Attribute.display_name looked it up for each legend)."""
    if language == "":
        language = get_language()
    english = (language or "").startswith("en")
    fieldsets = []
    for entry in attributes:
        attribute = entry["attribute"]
        legend = attribute.name_en if english and attribute.name_en else attribute.name
        checks = facet_checks("av", entry["values"], "value", selected, estimated, language=language)
        fieldsets.append(f"<fieldset><legend>{_escape(legend)}</legend>\n        {checks}\n      </fieldset>")
    return mark_safe("".join(fieldsets))  # noqa: S308 - the legend escaped here, the checkboxes in facet_checks


@lru_cache(maxsize=16)
def _filters_text(language: str | None) -> dict[str, str]:
    # The filter form's labels in the page's language, escaped as {% translate %} wrote them.
    return {
        key: _escape(text)
        for key, text in {
            "applied": gettext("Filters (applied)"),
            "filters": gettext("Filters"),
            "price": gettext("Price"),
            "min": gettext("Min"),
            "min_price": gettext("Min price"),
            "max": gettext("Max"),
            "max_price": gettext("Max price"),
            "in_stock": gettext("In stock only"),
            "brand": gettext("Brand"),
            "apply": gettext("Apply filters"),
            "clear": gettext("Clear filters"),
        }.items()
    }


def _value(value) -> str:
    # A price the customer typed, as {{ value|default_if_none:'' }} showed it (localized).
    return "" if value is None else _escape(str(localize(value)))


@register.simple_tag(takes_context=True)
def filters_form(context) -> SafeString:
    """A listing's filter form (`<details>` around `<form id="filters">`): the price range, the
    "in stock only" box, the brands and the attributes with their counts, and the "clear" link.
    One tag rather than the template's 25 nodes, 6 memo regions and a dozen variable lookups:
    the form was about half of a search page's rendering with nothing cached. Reads the
    listing's context (catalog.views.product_list)."""
    language = get_language()
    text = _filters_text(language)
    facets, query, active = context["facets"], context["query"], context["active_filters"]
    estimated = facets.estimated

    def placeholder(value, label: str) -> str:
        return text[label] if value is None else _escape(_whole(value, language))

    brands = ""
    if facets.brands:
        extra = "".join(
            f'<label class="check"><input type="checkbox" name="brand" value="{b.pk}" checked> '
            f"{_escape(b.display_name)}</label>"
            for b in context["selected_extra_brands"]
        )
        checks = facet_checks("brand", facets.brands, "brand", context["selected_brands"], estimated, language=language)
        hidden = f'<small class="muted">{brands_hidden(facets.brands_hidden)}</small>' if facets.brands_hidden else ""
        brands = (
            f"<fieldset><legend>{text['brand']}</legend>\n        {extra}\n        {checks}\n        {hidden}\n"
            "      </fieldset>"
        )
    attributes = attribute_facets(facets.attributes, context["selected_values"], estimated, language=language)
    # As {% facet_count %} shows it.
    in_stock = _about(int(facets.in_stock), language) if estimated else facets.in_stock
    search = f'<input type="hidden" name="q" value="{_escape(query)}">' if query else ""
    # As {{ query|urlencode }} wrote it.
    clear = (
        f'<a class="clear" href="?{"q=" + _escape(quote(query)) if query else ""}">{text["clear"]}</a>'
        if active
        else ""
    )
    return mark_safe(  # noqa: S308 - every value escaped here or in the tags it calls
        '<details class="filters-toggle" id="filters-toggle">\n'
        f"    <summary>{text['applied'] if active else text['filters']}</summary>\n"
        '    <form method="get" id="filters">\n'
        f"      {search}\n"
        f'      <input type="hidden" name="sort" value="{_escape(context["sort"])}">\n'
        f"      <fieldset><legend>{text['price']}</legend>\n"
        '        <div class="range">\n'
        '          <input type="number" name="min_price" min="0" step="0.01" '
        f'value="{_value(context["min_price"])}" placeholder="{placeholder(facets.price_min, "min")}" '
        f'aria-label="{text["min_price"]}">\n'
        "          <span>–</span>\n"
        '          <input type="number" name="max_price" min="0" step="0.01" '
        f'value="{_value(context["max_price"])}" placeholder="{placeholder(facets.price_max, "max")}" '
        f'aria-label="{text["max_price"]}">\n'
        "        </div>\n"
        "      </fieldset>\n"
        '      <label class="check"><input type="checkbox" name="in_stock" value="true" '
        f"{'checked' if context['in_stock_only'] else ''}> {text['in_stock']} "
        f"<small>({in_stock})</small></label>\n"
        f"      {brands}\n"
        f"      {attributes}\n"
        f'      <button type="submit">{text["apply"]}</button>\n'
        f"      {clear}\n"
        "    </form>\n"
        "    </details>"
    )


# Links that depend only on the query string, the page and the language (the sort links, the
# pager), kept per process: the same listing asked again (every visitor of a category, a
# popular search) parsed and encoded its query string again for each, about 0.2 ms of a page.
# Keyed on everything they are made of; a long query string (up to Django's limit of 1,000
# fields) is not kept, and at most _LINKS_KEPT entries are.
_LINKS_KEPT, _LINKS_KEPT_LENGTH = 1024, 512
_links: dict[tuple, SafeString] = {}
_links_lock = threading.Lock()
setting_changed.connect(lambda **kwargs: _links.clear(), weak=False, dispatch_uid="catalog_tags.links")


def _links_kept(key: tuple, make) -> SafeString:
    found = _links.get(key)
    if found is None:
        found = make()
        if len(key[1]) <= _LINKS_KEPT_LENGTH:
            with _links_lock:  # a threaded worker's requests share it
                if len(_links) >= _LINKS_KEPT:
                    _links.pop(next(iter(_links)), None)  # the oldest
                _links[key] = found
    return found


@register.simple_tag
def sort_links(querystring: str, choices: list[tuple[str, str]], current: str) -> SafeString:
    """The sort links of a listing: its query string with each sort in turn (and no page), the
    current one marked."""
    key = ("sort", querystring, tuple(value for value, _label in choices), current, get_language())
    return _links_kept(key, lambda: _sort_links(querystring, choices, current))


def _sort_links(querystring: str, choices: list[tuple[str, str]], current: str) -> SafeString:
    params = QueryDict(querystring, mutable=True)
    params.pop("page", None)
    # The other parameters encoded once, before and after the sort's place (the end when the
    # query string has none), not once per link: a search's words were quoted five times.
    before, after = QueryDict(mutable=True), QueryDict(mutable=True)
    part = before
    for key, values in params.lists():
        if key == "sort":
            part = after
        else:
            part.setlist(key, values)
    head, tail = before.urlencode(), after.urlencode()
    links = []
    for value, label in choices:
        # As QueryDict.urlencode encodes one parameter.
        encoded = "&".join(p for p in (head, urlencode({"sort": value}), tail) if p)
        on = 'class="on" aria-current="true"' if value == current else ""
        links.append(f'<a href="?{_escape(encoded)}" {on}>{_escape(str(label))}</a>')
    return mark_safe("".join(links))  # noqa: S308 - escaped above


@register.simple_tag
def category_links(categories) -> SafeString:
    """A listing's subcategory chips (`<li><a>` each): a loop in the template looked up each
    category's URL and name through the engine."""
    # Category.display_name, the language looked up once, not per chip.
    english = (get_language() or "").startswith("en")
    chips = []
    for c in categories:
        name = c.name_en if english and c.name_en else c.name
        chips.append(f'<li><a href="{_escape(c.get_absolute_url())}">{_escape(name)}</a></li>')
    return mark_safe("".join(chips))  # noqa: S308 - escaped here


@register.simple_tag
def pager(page, querystring: str) -> SafeString:
    """A listing's pager (`<nav class="pager">`, nothing for a single page): the previous and
    next links keep the query string with their page number. In Python rather than the
    template: two {% with_param %} calls and five page lookups through the engine were about
    0.2 ms of a page with nothing cached."""
    paginator = page.paginator
    if paginator.num_pages <= 1:
        return mark_safe("")
    key = ("pager", querystring, page.number, paginator.num_pages, get_language())
    return _links_kept(key, lambda: _pager(page, querystring))


def _pager(page, querystring: str) -> SafeString:
    paginator = page.paginator

    def link(number: int) -> str:
        params = QueryDict(querystring, mutable=True)
        params["page"] = str(number)
        return _escape(params.urlencode())

    previous = (
        f'<a rel="prev" href="?{link(page.number - 1)}">‹ {_escape(gettext("Previous"))}</a>'
        if page.has_previous()
        else ""
    )
    following = (
        f'<a rel="next" href="?{link(page.number + 1)}">{_escape(gettext("Next"))} ›</a>' if page.has_next() else ""
    )
    where = gettext("Page %(n)s of %(total)s") % {"n": page.number, "total": paginator.num_pages}
    return mark_safe(  # noqa: S308 - escaped here
        f'\n    <nav class="pager" aria-label="{_escape(gettext("Pages"))}">\n      {previous}\n'
        f"      <span>{_escape(where)}</span>\n      {following}\n    </nav>"
    )


# A listing's headings and counts, as the template's {% blocktranslate %} blocks wrote them (the
# same messages, each value escaped, a count as its digits): each block resolved its variables
# through the engine, about a tenth of a search page's rendering.
def _message(message: str, **values) -> SafeString:
    return mark_safe(message % {name: _escape(str(value)) for name, value in values.items()})  # noqa: S308


@register.simple_tag
def search_title(query: str) -> SafeString:
    """A search's <title>."""
    return _message(gettext("“%(query)s”"), query=query)


@register.simple_tag
def search_description(query: str) -> SafeString:
    """A search's meta description."""
    return _message(gettext("Products matching “%(query)s”: prices, brands and stock."), query=query)


@register.simple_tag
def results_heading(query: str, paginator, total: int) -> SafeString:
    """A search's <h1>: about `total` results (estimated), or the paginator's count."""
    if paginator.estimated:
        return _message(gettext("About %(n)s results for “%(query)s”"), n=estimate(total), query=query)
    count = paginator.count
    return _message(
        ngettext("%(n)s result for “%(query)s”", "%(n)s results for “%(query)s”", count), n=count, query=query
    )


@register.simple_tag
def products_count(paginator, total: int) -> SafeString:
    """The toolbar's count of a listing: about `total` (estimated), more than the cap, or the count."""
    if paginator.estimated:
        return _message(gettext("About %(n)s products"), n=estimate(total))
    if paginator.capped:
        return _message(gettext("More than %(n)s products"), n=intcomma(paginator.count))
    count = paginator.count
    return _message(ngettext("%(n)s product", "%(n)s products", count), n=count)


@register.simple_tag
def brands_hidden(n: int) -> SafeString:
    """The note under a brand list cut at its biggest brands."""
    return _message(
        ngettext("and %(n)s more brand — search to find it", "and %(n)s more brands — search to find them", n), n=n
    )


@register.simple_tag
def category_description(name: str) -> SafeString:
    """A category's meta description when it has none of its own."""
    return _message(gettext("%(name)s: products, prices and brands at the shop."), name=name)
