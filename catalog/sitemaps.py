"""The sitemap for search engines: the home page, the categories and every active product.

Every URL is absolute from SITE_URL, not from the request's Host (the site may sit behind a
proxy, and the sites framework is not installed). Products come in pages of PRODUCTS_PER_PAGE
(Django's paginator: a COUNT, then one indexed slice of two columns per page), so 100,000
products make a small index and a few files, each a constant number of queries."""

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.sitemaps import Sitemap
from django.contrib.sitemaps.views import SitemapIndexItem, x_robots_tag
from django.db.models import Max
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse

from catalog.models import Category
from catalog.selectors import active_products

PRODUCTS_PER_PAGE = 10_000


class _SiteUrlSitemap(Sitemap):
    """Scheme and host from SITE_URL, whatever the request said."""

    def get_protocol(self, protocol=None) -> str:
        return urlsplit(settings.SITE_URL).scheme or "https"

    def get_domain(self, site=None) -> str:
        return urlsplit(settings.SITE_URL).netloc


class PagesSitemap(_SiteUrlSitemap):
    changefreq = "daily"
    priority = 1.0

    def items(self) -> list[str]:
        return ["home", "catalog:all"]

    def location(self, item: str) -> str:
        return reverse(item)


class CategorySitemap(_SiteUrlSitemap):
    changefreq = "daily"
    priority = 0.8

    def items(self):
        return Category.objects.filter(is_active=True).only("pk", "slug").order_by("path")


class ProductSitemap(_SiteUrlSitemap):
    changefreq = "weekly"
    priority = 0.6
    limit = PRODUCTS_PER_PAGE

    def items(self):
        # In primary-key order: a stable slicing for the pages, walked on the primary key.
        return active_products().only("pk", "slug", "updated_at").order_by("pk")

    def lastmod(self, item):
        return item.updated_at

    def get_latest_lastmod(self):
        # One aggregate, not a walk over every product (Django's default calls lastmod on each).
        return active_products().aggregate(latest=Max("updated_at"))["latest"]


SITEMAPS = {"pages": PagesSitemap, "categories": CategorySitemap, "products": ProductSitemap}


@x_robots_tag
def sitemap_index(request: HttpRequest) -> TemplateResponse:
    """Django's index lists its sections under the request's Host: this one under SITE_URL."""
    items = []
    for section, cls in SITEMAPS.items():
        sitemap = cls()
        location = settings.SITE_URL + reverse("sitemap_section", kwargs={"section": section})
        lastmod = sitemap.get_latest_lastmod() if isinstance(sitemap, ProductSitemap) else None
        items.append(SitemapIndexItem(location, lastmod))
        items.extend(
            SitemapIndexItem(f"{location}?p={page}", lastmod) for page in range(2, sitemap.paginator.num_pages + 1)
        )
    return TemplateResponse(request, "sitemap_index.xml", {"sitemaps": items}, content_type="application/xml")
