"""Storefront pages: listings (all, category, search) and the product page."""

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils.translation import gettext as _

from catalog import selectors
from catalog.filters import SORT_CHOICES, ProductFilter, apply_sort
from catalog.models import Category, Product
from catalog.services import VIEW_COUNTER, product_view_record
from catalog.tasks import flush_view_counts
from shop.core.money import format_money
from shop.core.pagecache import cache_anonymous_page, count_on_hit

MAX_QUERY_LENGTH = 100


def _valid_filters(params: QueryDict, queryset) -> tuple[ProductFilter, list[str]]:
    """Bind the filters; drop any field that does not validate and say why, so one bad
    parameter never costs the visitor the whole page."""
    filterset = ProductFilter(params, queryset=queryset)
    if filterset.is_valid():
        return filterset, []
    errors = []
    for name, messages in filterset.errors.items():
        label = filterset.form.fields[name].label if name in filterset.form.fields else ""
        errors.extend(f"{label}: {m}" if label else str(m) for m in messages)
    cleaned = params.copy()
    for name in filterset.errors:
        cleaned.pop(name, None)
    if "max_price" in filterset.errors:
        cleaned.pop("min_price", None)
    filterset = ProductFilter(cleaned, queryset=queryset)
    filterset.is_valid()
    return filterset, errors


def _page_number(raw: str | None, num_pages: int) -> tuple[int, str | None]:
    if raw in (None, ""):
        return 1, None
    try:
        number = int(raw)
    except (TypeError, ValueError):
        return 1, _("“%(page)s” is not a page number; showing the first page.") % {"page": raw[:20]}
    if number < 1:
        return 1, _("Pages start at 1; showing the first page.")
    if number > num_pages:
        return num_pages, _("There are only %(n)d pages; showing the last one.") % {"n": num_pages}
    return number, None


@cache_anonymous_page
def product_list(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    category = ancestors = children = None
    base = selectors.active_products()
    if slug is not None:
        try:
            category, ancestors, children = selectors.category_with_tree(slug=slug)
        except Category.DoesNotExist as exc:
            raise Http404(_("No such category.")) from exc
        base = base.filter(selectors.category_subtree_q(category))
    else:
        children = selectors.root_categories()

    query = request.GET.get("q", "").strip()[:MAX_QUERY_LENGTH]
    scope = f"{category.pk if category else ''}|{query}"
    ranked = fuzzy = False
    if query:
        matched, ranked = selectors.search_filter(base, query)
        facets = selectors.facets_cached(matched, key=scope)
        if facets.total == 0:
            near = selectors.search_fuzzy(base, query)
            near_facets = selectors.facets_cached(near, key=f"{scope}|fuzzy")
            if near_facets.total:
                matched, facets, fuzzy = near, near_facets, True
        base = matched
        # Ranking every hit of a common word costs more than the page: broad results are
        # ordered by popularity, an index walk, as relevance among thousands adds little.
        ranked = ranked and facets.total <= settings.SEARCH_RANK_MAX_HITS
    else:
        facets = selectors.facets_cached(base, key=scope)

    filterset, errors = _valid_filters(request.GET, base)
    sort = filterset.form.cleaned_data.get("sort") or ("relevance" if query else "popular")
    products = filterset.qs
    if ranked and sort == "relevance":
        products = selectors.search_ranked(products, query)
    if not fuzzy:
        products = apply_sort(products, sort, ranked=ranked)
    products = products.only(*selectors.CARD_FIELDS)

    filtered = any(filterset.form.cleaned_data.get(f) for f in ("min_price", "max_price", "brand", "av", "in_stock"))
    paginator = selectors.CappedPaginator(
        products,
        settings.CATALOG_PAGE_SIZE,
        cap=settings.CATALOG_COUNT_CAP,
        known_count=None if filtered else facets.total,
    )
    number, page_notice = _page_number(request.GET.get("page"), paginator.num_pages)
    if page_notice:
        errors.append(page_notice)
    page = paginator.page(number)

    keep = request.GET.copy()
    keep.pop("page", None)
    active_filters = bool({"min_price", "max_price", "brand", "av", "in_stock"} & set(keep))
    return render(
        request,
        "catalog/product_list.html",
        {
            "category": category,
            "ancestors": ancestors or [],
            "children": children or [],
            "query": query,
            "fuzzy": fuzzy,
            "filterset": filterset,
            "form": filterset.form,
            "errors": errors,
            "page": page,
            "products": page.object_list,
            "facets": facets,
            "sort": sort,
            "sort_choices": [c for c in SORT_CHOICES if query or c[0] != "relevance"],
            "selected_brands": {b.pk for b in filterset.form.cleaned_data.get("brand") or []},
            "selected_extra_brands": [
                b for b in filterset.form.cleaned_data.get("brand") or [] if b.pk not in facets.brand_ids
            ],
            "selected_values": {v.pk for v in filterset.form.cleaned_data.get("av") or []},
            "querystring": keep.urlencode(),
            "active_filters": active_filters,
            "suggestions": selectors.best_sellers(size=4) if not page.object_list else [],
        },
    )


@cache_anonymous_page
def product_detail(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        product = selectors.product_for_page(slug=slug)
    except Product.DoesNotExist as exc:
        raise Http404(_("No such product.")) from exc
    if product_view_record(product_id=product.pk):
        flush_view_counts.delay()
    variants = list(product.variants.all())
    images = list(product.images.all())
    variant_images = {im.variant_id: im for im in images if im.variant_id}
    response = render(
        request,
        "catalog/product_detail.html",
        {
            "product": product,
            "variants": variants,
            "axes": selectors.variant_option_axes(product),
            "selected_options": {o.pk for o in variants[0].options.all()} if variants else set(),
            "images": images,
            "variant_data": [
                {
                    "id": v.pk,
                    "sku": v.sku,
                    "price": format_money(v.price),
                    "was": format_money(v.compare_at_price) if (v.compare_at_price or 0) > v.price else "",
                    "status": v.status.value,
                    "status_label": str(v.status.label),
                    "options": [o.pk for o in v.options.all()],
                    "image": variant_images[v.pk].listing_url if v.pk in variant_images else "",
                    "zoom": variant_images[v.pk].zoom_url if v.pk in variant_images else "",
                }
                for v in variants
            ],
            "ancestors": selectors.breadcrumbs(product.category),
            "related": selectors.related_products(product),
        },
    )
    count_on_hit(response, VIEW_COUNTER, product.pk)
    return response
