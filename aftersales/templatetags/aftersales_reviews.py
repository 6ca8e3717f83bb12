"""Reviews on pages other apps own, so they never import aftersales: the product page's review
block ({% product_reviews product_id %}) and the order page's review actions
({% order_review_states order as states %})."""

from django import template
from django.conf import settings
from django.core.cache import caches
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

from aftersales.selectors.reviews import order_review_states as _order_review_states
from aftersales.selectors.reviews import product_review_page, reviews_block_key

register = template.Library()


@register.simple_tag
def product_reviews(product_id: int, prefetched: str | None = None) -> str:
    """The first page of the product's reviews with its summary and filters, rendered once per
    product and language and kept PAGE_CACHE_SECONDS in the page cache's store (a review change
    drops it at once), so a warm product page spends no query on reviews and a cold one a fixed
    few, whatever the number of reviews. `prefetched`: the block as the page already read it from
    the cache (None when it was not there)."""
    if prefetched is not None:  # the product page fetched it with its own parts: no round trip
        return mark_safe(prefetched)  # noqa: S308 - our template's output, escaped there
    cache = caches["pages"]
    key = reviews_block_key(product_id=product_id, language=get_language())
    html = cache.get(key)
    if html is None:
        data = product_review_page(product_id=product_id)
        html = render_to_string("aftersales/reviews/partials/product_reviews.html", {"data": data})
        cache.set(key, html, settings.PAGE_CACHE_SECONDS)
    return mark_safe(html)  # noqa: S308 - our template's output, escaped there


@register.filter
def stars(value) -> str:
    """★★★★☆ for 4 (an average is rounded to whole stars)."""
    try:
        n = max(0, min(5, round(float(value))))
    except (TypeError, ValueError):
        return ""
    return "★" * n + "☆" * (5 - n)


@register.simple_tag
def order_review_states(order) -> list:
    return _order_review_states(order=order)
