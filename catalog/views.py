"""Storefront pages: listings (all, category, search) and the product page."""

import functools

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import escape, format_html, json_script
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from catalog import product_shell, selectors, seo
from catalog.filters import SORT_CHOICES, apply_sort, listing_filters_parse
from catalog.models import Category, Product, StockStatus
from catalog.product_shell import product_frame_render
from catalog.search import tsquery
from catalog.services import VIEW_COUNTER, product_recently_viewed_record, product_view_record
from catalog.templatetags.catalog_tags import ProductCard, cards_html
from shop.core.money import format_money
from shop.core.pagecache import (
    PRODUCTS,
    Fragments,
    cache_anonymous_page,
    category_tag,
    count_on_hit,
    page_tag,
    product_fragment_key,
    product_tag,
)
from shop.core.tasks import enqueue
from shop.core.text import parse_whole_number

MAX_QUERY_LENGTH = 100


@functools.cache
def _search_path() -> str:
    # reverse() once per process, as Product and Category do for their URLs: an indexable
    # search names it on every request.
    return reverse("catalog:search")


def _page_number(raw: str | None, num_pages: int) -> tuple[int, str | None]:
    if raw in (None, ""):
        return 1, None
    number = parse_whole_number(raw.removeprefix("-"))  # the digits rule of shop.core.text
    if number is None:
        return 1, _("“%(page)s” is not a page number; showing the first page.") % {"page": raw[:20]}
    if number < 1 or raw.startswith("-"):
        return 1, _("Pages start at 1; showing the first page.")
    if number > num_pages:
        return num_pages, _("There are only %(n)d pages; showing the last one.") % {"n": num_pages}
    return number, None


def _suggestions() -> list[Product]:
    """Best sellers shown when a listing finds nothing: cards from anywhere in the catalogue."""
    page_tag(PRODUCTS)
    return selectors.best_sellers(size=4)


@cache_anonymous_page
def product_list(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    category = ancestors = children = None
    # Built only if a statement of this listing's shape is not kept yet (selectors.Deferred).
    base = selectors.active_products_deferred()
    # The categories, brands and attribute values as this process keeps them: one statement.
    taxonomy = selectors.taxonomy_current()
    if slug is not None:
        try:
            tree = selectors.category_with_tree(slug=slug, taxonomy=taxonomy)
        except Category.DoesNotExist as exc:
            raise Http404(_("No such category.")) from exc
        category, ancestors, children = tree.category, tree.ancestors, tree.children
        base = base.filter(selectors.category_subtree_q(tree))
    else:
        children = selectors.root_categories(taxonomy=taxonomy)

    # Applied below to what the search leaves of the category's products.
    filters = listing_filters_parse(request.GET, taxonomy=taxonomy)
    cleaned, errors, price_range = filters.cleaned, filters.errors, filters.prices
    # The facets count within the chosen filters (each group under the others'), so they are
    # kept per scope and normalised choice.
    choice = selectors.FacetChoice.from_cleaned(cleaned)
    # A category's page (and a search within it) shows only its subtree's products: a write to
    # any of them bumps its tag, writes elsewhere leave it cached. Other listings: any product.
    tags = (category_tag(category.pk),) if category else (PRODUCTS,)
    page_tag(*tags)

    query = request.GET.get("q", "").strip()[:MAX_QUERY_LENGTH]
    scope = f"{category.pk if category else ''}|{query}"
    ranked = fuzzy = False
    # Marked with what they count, the facets of a category or of all products come from the
    # counts the database keeps, and those of a huge filtered set or search from a sample.
    raw = tsquery(query) if query else None
    facet_scope = selectors.FacetScope(
        category_ids=tuple(tree.subtree_ids) if category else None,
        category_id=category.pk if category else None,
        search=bool(query),
        listing=True,
        raw=raw,
    )
    if query:
        matched, ranked = selectors.search_filter(base, query, raw=raw)
        facets = selectors.facets_cached(
            selectors.facet_scoped(matched, facet_scope), key=scope, choice=choice, tags=tags, taxonomy=taxonomy
        )
        if facets.base_total == 0:
            near = selectors.search_fuzzy(base, query)
            near_facets = selectors.facets_cached(
                near, key=f"{scope}|fuzzy", choice=choice, tags=tags, taxonomy=taxonomy
            )
            if near_facets.base_total:
                matched, facets, fuzzy = near, near_facets, True
        base = matched
        # Ranking every hit of a common word costs more than the page: broad results are
        # ordered by popularity, an index walk, as relevance among thousands adds little.
        ranked = ranked and facets.total <= settings.SEARCH_RANK_MAX_HITS
    else:
        facets = selectors.facets_cached(
            selectors.facet_scoped(base, facet_scope), key=scope, choice=choice, tags=tags, taxonomy=taxonomy
        )

    # The facets' own conditions: on PostgreSQL an attribute value is matched on the row's
    # attr_ids copy, which the products' index walk checks as it goes (an EXISTS on the through
    # table per attribute was a join per row, 2-3 times slower).
    sort = cleaned.get("sort") or ("relevance" if query else "popular")
    if not fuzzy and connection.vendor == "postgresql" and (raw is not None or not query):
        # The page's statement compiled once per process and listing shape (ListingProducts).
        subtree = selectors.category_subtree_q(tree) if category else None
        conditions = list(choice.conditions().values())
        relevance = ranked and sort == "relevance"

        def build(text: str | None) -> QuerySet:
            found = selectors.active_products()
            if subtree is not None:
                found = found.filter(subtree)
            if query:
                found = selectors.search_matching(found, text)
            found = found.filter(*conditions)
            if relevance:
                found = selectors.search_ranked_raw(found, text)
            return apply_sort(found, sort, ranked=ranked).values_list(*selectors.CARD_FIELDS)

        shape = (tuple(tree.subtree_ids) if category else None, bool(query), choice.key, sort, ranked)
        products = selectors.ListingProducts(build, key=shape, raw=raw, using=base.db)
    else:
        products = base.filter(*choice.conditions().values())
        if ranked and sort == "relevance":
            products = selectors.search_ranked(products, query)
        if not fuzzy:
            products = apply_sort(products, sort, ranked=ranked)
        products = products.values_list(*selectors.CARD_FIELDS)  # rows, made cards below

    # The facets counted the filtered results too: no COUNT(*) of its own for the pager.
    paginator = selectors.CappedPaginator(
        products,
        settings.CATALOG_PAGE_SIZE,
        cap=settings.CATALOG_COUNT_CAP,
        known_count=facets.total,
        estimated=facets.estimated,
    )
    number, page_notice = _page_number(request.GET.get("page"), paginator.num_pages)
    if paginator.estimated and (number >= paginator.num_pages or facets.total <= settings.CATALOG_FACETS_EXACT_MAX):
        # An estimate may be a little above the truth (an empty last page) or below it (the
        # last pages out of reach): the last page, or a small result, is paged by a count.
        paginator = selectors.CappedPaginator(products, settings.CATALOG_PAGE_SIZE, cap=settings.CATALOG_COUNT_CAP)
        number, page_notice = _page_number(request.GET.get("page"), paginator.num_pages)
    if page_notice:
        errors.append(page_notice)
    page = paginator.page(number)
    rows = products.rows(page.object_list) if isinstance(products, selectors.ListingProducts) else page.object_list
    page.object_list = [ProductCard(row) for row in rows]

    keep = request.GET.copy()
    keep.pop("page", None)
    # The listing itself: no sort, filter or tracking parameter; a search keeps its words, a
    # later page its number (each page lists other products).
    canonical = QueryDict(mutable=True)
    if query:
        canonical["q"] = query
    if page.number > 1:
        canonical["page"] = str(page.number)
    path = category.get_absolute_url() if category else request.path
    indexable = seo.search_is_indexable(
        query=query,
        params=request.GET,
        page_number=page.number,
        has_results=bool(page.object_list) and not fuzzy,
        in_category=category is not None,
    )
    if indexable:
        # /products/?q= and /search/?q= list the same products: one address for both.
        path = _search_path()
    active_filters = bool({"min_price", "max_price", "brand", "av", "in_stock"} & set(keep))
    return render(
        request,
        "catalog/product_list.html",
        {
            "category": category,
            "ancestors": ancestors or [],
            "children": children or [],
            "query": query,
            "indexable": indexable,
            "fuzzy": fuzzy,
            "min_price": price_range[0],
            "max_price": price_range[1],
            "errors": errors,
            "page": page,
            "products": page.object_list,
            "facets": facets,
            "sort": sort,
            "sort_choices": [c for c in SORT_CHOICES if query or c[0] != "relevance"],
            "selected_brands": {b.pk for b in cleaned.get("brand") or []},
            "selected_extra_brands": [b for b in cleaned.get("brand") or [] if b.pk not in facets.brand_ids],
            "selected_values": {v.pk for v in cleaned.get("av") or []},
            "querystring": keep.urlencode(),
            "active_filters": active_filters,
            # The box as the query string has it: the template looking it up in request.GET tried
            # it as an attribute too, and listed QueryDict's names to tell why it failed.
            "in_stock_only": request.GET.get("in_stock") == "true",
            "suggestions": _suggestions() if not page.object_list else [],
            "canonical_url": seo.absolute_url(path) + (f"?{canonical.urlencode()}" if canonical else ""),
        },
    )


# The product page is rendered in two parts. What only staff edits change (names, text,
# options, images, breadcrumbs) is rendered once per product, update and language and kept in
# the page cache's store, tagged with the product (a write to it misses it), for at most PAGE_CACHE_SECONDS;
# its key holds the product's updated_at, so an edit shows at once even where no clear follows.
# Prices and stock are read on every request (selectors.product_live, one query) and filled
# into placeholders. Related products are the category's best sellers, cards kept per category.
RELATED_SIZE = 8
_LIVE = {
    name: f"\x00{name}\x00"
    for name in ("price", "was", "status", "status_label", "related", "variant_data", "buy_disabled", "alert_hidden")
}

# The favourites button (a signed-in customer's own state) and "bought together" (the
# recommendations task's list, kept like the related cards) are filled in per request too.
BOUGHT_TOGETHER_SIZE = 6
_LIVE |= {name: f"\x00{name}\x00" for name in ("favourite", "bought_together")}


def _product_body(live: selectors.ProductLive, language: str) -> dict:
    """Render the body with NUL-delimited placeholders (no PostgreSQL text can hold a NUL) and
    split it there: static text at even positions, placeholder names at odd ones."""
    product, variants, images = selectors.product_static(product_id=live.id)
    variant_images = {im.variant_id: im for im in images if im.variant_id}
    body = render_to_string(
        "catalog/partials/product_body.html",
        {
            "product": product,
            "variants": variants,
            "axes": selectors.variant_option_axes(product, variants),
            "selected_options": {o.pk for o in variants[0].options.all()} if variants else set(),
            "images": images,
            "ancestors": selectors.breadcrumbs(product.category),
            "live": _LIVE,
        },
    )
    path = product.get_absolute_url()
    return {
        "version": (live.id, live.updated_at, language),
        # Anonymous visitors' favourites button is the same for all of them: rendered here once.
        "favourite_anonymous": (path, _favourite_button(product_id=live.id, product_url=path)),
        "title": product.display_name,
        "summary": product.display_summary,
        "structured": seo.product_data_static(product, variants, images),
        "pieces": body.split("\x00"),
        "variants": {
            v.pk: {
                "sku": v.sku,
                "options": [o.pk for o in v.options.all()],
                "image": variant_images[v.pk].listing_url if v.pk in variant_images else "",
                "zoom": variant_images[v.pk].zoom_url if v.pk in variant_images else "",
            }
            for v in variants
        },
    }


def _product_parts(
    live: selectors.ProductLive, language: str
) -> tuple[dict, list[tuple[int, str]], str | None, list[Product], int]:
    """The cached body, related cards and "bought together" products, rebuilt when missing or
    stale, the reviews block another app renders into the page (None when not cached), and the
    view count's answer (shop.core.counters.counter_incr): one cache round trip, which counts
    this view too."""
    body_key, related_key = f"product-body:{live.id}:{language}", f"related-cards:{live.category_id}:{language}"
    reviews_key = product_fragment_key("reviews", product_id=live.id, language=language)
    bought_key = f"bought-together:{live.id}"
    # Tagged (shop.core.pagecache): the body and "bought together" miss when this product or
    # one of its "bought together" products is written, the related cards when a product of
    # the category is; the page served whole depends on the same tags.
    cached = Fragments(
        {
            body_key: [product_tag(live.id)],
            related_key: [category_tag(live.category_id)],
            bought_key: [product_tag(live.id)],
        },
        plain=[reviews_key],
        count=(VIEW_COUNTER, live.id),
    )
    body = cached.get(body_key)
    if (
        body is None
        or "structured" not in body  # cached before the structured data
        or body["version"] != (live.id, live.updated_at, language)
        or body["variants"].keys() != {v.id for v in live.variants}
    ):
        body = _product_body(live, language)
        cached.set(body_key, body, settings.PAGE_CACHE_SECONDS)
    related = cached.get(related_key)
    if related is None:
        products = selectors.category_best_sellers(category_id=live.category_id, size=RELATED_SIZE + 1)
        related = list(zip((p.pk for p in products), cards_html(products), strict=True))
        cached.set(related_key, related, settings.PAGE_CACHE_SECONDS)
    bought = cached.get(bought_key)
    if bought is None:  # an empty list is kept too: most products have none
        bought = selectors.bought_together(product_id=live.id, size=BOUGHT_TOGETHER_SIZE)
        cached.set(bought_key, bought, settings.PAGE_CACHE_SECONDS)
    return body, related, cached.get(reviews_key), bought, cached.pending


def _favourite_button(*, product_id: int, product_url: str, request: HttpRequest | None = None) -> str:
    """The favourites button: a signed-in customer's (with `request`) or an anonymous visitor's."""
    user = request.user if request is not None else None
    signed_in = user is not None and user.is_authenticated
    button = {
        "signed_in": signed_in,
        "is_favourite": signed_in and selectors.is_favourite(customer_id=user.pk, product_id=product_id),
        "product_id": product_id,
        "product_url": product_url,
        # Anonymous pages are cached whole and must not carry a token (nor set its cookie).
        "csrf_token": get_token(request) if signed_in else "",
    }
    return render_to_string("catalog/partials/favourite_button.html", button)


def _per_request_blocks(
    request: HttpRequest, product_id: int, bought: list[Product], anonymous_button: tuple[str, str] | None
) -> dict[str, str]:
    """The favourites button and "bought together", rendered without the request's context
    processors (they would cost the page a query). A signed-in customer's product view goes on
    their recently viewed list here: in the cache, no database write. An anonymous visitor gets
    the button rendered with the body (`anonymous_button`: its path and HTML)."""
    if request.user.is_authenticated:
        product_recently_viewed_record(customer_id=request.user.pk, product_id=product_id)
        button = _favourite_button(product_id=product_id, product_url=request.path, request=request)
    elif anonymous_button is not None and anonymous_button[0] == request.path:
        button = anonymous_button[1]
    else:
        button = _favourite_button(product_id=product_id, product_url=request.path)
    return {
        "favourite": button,
        "bought_together": render_to_string("catalog/partials/bought_together.html", {"products": bought})
        if bought
        else "",
    }


def _was(price, compare_at_price) -> str:
    return format_money(compare_at_price) if (compare_at_price or 0) > price else ""


@cache_anonymous_page
def product_detail(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        live = selectors.product_live(slug=slug)
    except Product.DoesNotExist as exc:
        raise Http404(_("No such product.")) from exc
    body, related, reviews, bought, pending = _product_parts(live, get_language())
    if product_view_record(product_id=live.id, pending=pending):
        enqueue("catalog.tasks.flush_view_counts")  # a broker outage must not fail the page
    labels = {status: str(status.label) for status in {v.status for v in live.variants}}  # translated once each
    variant_data = [
        {
            "id": v.id,
            "sku": static["sku"],
            "price": format_money(v.price),
            "was": _was(v.price, v.compare_at_price),
            "status": v.status.value,
            "status_label": labels[v.status],
            "options": static["options"],
            "image": static["image"],
            "zoom": static["zoom"],
        }
        for v in live.variants
        for static in (body["variants"][v.id],)
    ]
    first = variant_data[0] if variant_data else None
    sold_out = first is not None and first["status"] == StockStatus.OUT
    shown = {live.id, *(p.pk for p in bought)}  # "bought together" shows its own products once
    cards = [html for pk, html in related if pk not in shown][:RELATED_SIZE]
    values = {
        "price": first["price"] if first else format_money(live.price),
        "was": first["was"] if first else _was(live.price, live.compare_at_price),
        "status": first["status"] if first else "",
        "status_label": escape(first["status_label"]) if first else "",
        "related": format_html(
            '<section><h2>{}</h2><ul class="grid">{}</ul></section>',
            _("You may also like"),
            mark_safe("".join(cards)),  # noqa: S308 - rendered by cards_html, which escapes
        )
        if cards
        else "",
        "variant_data": json_script(variant_data, "variant-data"),
        # The first variant out of stock: it cannot be bought, but its alert can be asked for
        # (product.js does the same as the shopper picks another variant).
        "buy_disabled": "disabled" if sold_out else "",
        "alert_hidden": "" if sold_out else "hidden",
    }
    values.update(_per_request_blocks(request, live.id, bought, body.get("favourite_anonymous")))
    html = "".join(piece if i % 2 == 0 else values[piece] for i, piece in enumerate(body["pieces"]))
    context = {
        "title": body["title"],
        "canonical_url": body["structured"]["url"],
        "meta_description": body["summary"]
        or _("%(name)s, %(price)s") % {"name": body["title"], "price": values["price"]},
        "structured_data": mark_safe(seo.product_data_json(body["structured"], live)),  # noqa: S308 - escaped JSON
        "body": mark_safe(html),  # noqa: S308 - our template's output and escaped live values
        "variant_data": variant_data,
        # The review block the template loads from aftersales (catalog never imports it), as
        # prefetched with the page's parts: None when it is not cached yet.
        "product_id": live.id,
        "reviews": reviews,
    }
    # A visitor without a session: the frame around the body as rendered once (the same bytes).
    page = product_frame_render(request, context)
    response = HttpResponse(page) if page is not None else render(request, product_shell.TEMPLATE, context)
    count_on_hit(response, VIEW_COUNTER, live.id)
    return response
