"""What search engines read: absolute URLs from SITE_URL and a product's structured data
(schema.org Product as JSON-LD). Built from what the product page already loads, no query."""

import json
from collections.abc import Mapping

from django.conf import settings

from catalog.models import Product, ProductImage, ProductVariant, StockStatus
from catalog.selectors import ProductLive

# Parameters that narrow or reorder a search (catalog.filters.FILTER_PARAMS): any of them with
# a value makes the page a variant that is not indexed.
SEARCH_REFINEMENTS = ("min_price", "max_price", "brand", "av", "in_stock", "sort")


def absolute_url(path: str) -> str:
    """SITE_URL joined to a site path; a URL that already has a scheme is kept as it is."""
    if not path or "://" in path:
        return path
    return settings.SITE_URL + ("" if path.startswith("/") else "/") + path


def search_is_indexable(
    *, query: str, params: Mapping[str, str], page_number: int, has_results: bool, in_category: bool = False
) -> bool:
    """Whether a search page may be indexed (the common shop policy): a plain search, its words
    only, on its first page, with products matching them, is a landing page worth finding and
    gets indexed (its canonical link is /search/?q=<words>); anything else (no match or only
    near matches, a search within a category, a filter, a sort, a later page) is one of endless
    thin variants and stays "noindex, follow". Tracking parameters (utm_…) and an explicit
    page=1 do not count: the canonical link drops them."""
    if not query or in_category or page_number > 1 or not has_results:
        return False
    return not any(params.get(name) for name in SEARCH_REFINEMENTS)


def product_data_static(product: Product, variants: list[ProductVariant], images: list[ProductImage]) -> dict:
    """The parts of the structured data only staff edits change: cached with the page's body."""
    image = next((im.zoom_url or im.listing_url for im in images if im.zoom_url or im.listing_url), "")
    data = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": product.display_name,
        "url": absolute_url(product.get_absolute_url()),
    }
    image = image or product.card_image_url
    if image:
        data["image"] = absolute_url(image)
    if product.display_summary:
        data["description"] = product.display_summary
    sku = next((v.sku for v in variants if v.sku), "")
    if sku:
        data["sku"] = sku
    if product.brand_id:
        data["brand"] = {"@type": "Brand", "name": product.brand.display_name}
    return data


def product_data_json(static: dict, live: ProductLive) -> str:
    """The whole structured data with today's price, stock and rating, as the text of a
    <script type="application/ld+json">: `<`, `>` and `&` are escaped to \\u003c… (still the same
    JSON), so no product text can close the element or open a comment."""
    price = live.variants[0].price if live.variants else live.price
    available = any(v.status != StockStatus.OUT for v in live.variants)
    data = {
        **static,
        "offers": {
            "@type": "Offer",
            "price": f"{price:.2f}",
            "priceCurrency": settings.SHOP_CURRENCY,
            "availability": f"https://schema.org/{'InStock' if available else 'OutOfStock'}",
            "url": static["url"],
        },
    }
    if live.rating_count:
        data["aggregateRating"] = {
            "@type": "AggregateRating",
            "ratingValue": f"{live.rating:.2f}",
            "reviewCount": live.rating_count,
            "bestRating": 5,
            "worstRating": 1,
        }
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
