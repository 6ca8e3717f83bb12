from django.conf import settings
from django.contrib import admin
from django.contrib.sitemaps.views import sitemap
from django.urls import include, path, re_path
from django.views.generic import TemplateView
from django.views.static import serve

from catalog.sitemaps import SITEMAPS, sitemap_index
from shop import views
from shop.core.routing import under

# The benchmark's ceiling view is a test stand-in: unrouted unless enabled (DEBUG, or
# BENCH_VIEWS_ENABLED as bin/bench sets it). The view checks the setting again on every request.
bench_views = []
if settings.BENCH_VIEWS_ENABLED:
    bench_views.append(path("bench/ceiling/", views.bench_ceiling, name="bench_ceiling"))


# Order decides nothing here (no path matches two of these: tested), only what a request walks
# before its pattern: the catalogue, hit all day, and then the cart and checkout, the three
# requests of every purchase; last, /checkout/place/ walked 17 patterns and two includes
# before the cart's.
urlpatterns = [
    path("", views.home, name="home"),
    # Last, /p/… walked 10 resolvers and 22 patterns before matching (about 0.08 ms a request,
    # docs/benchmark.md "the product page").
    under(("products/", "search/", "c/", "p/"), "catalog.urls"),
    under(("cart/", "checkout/"), "cart.urls"),
    path("lang/<str:code>/", views.switch_language, name="switch_language"),
    path("healthz", views.healthz, name="healthz"),
    path("robots.txt", TemplateView.as_view(template_name="robots.txt", content_type="text/plain"), name="robots"),
    path("sitemap.xml", sitemap_index, name="sitemap"),
    path("sitemap-<section>.xml", sitemap, {"sitemaps": SITEMAPS}, name="sitemap_section"),
    *bench_views,
    path("admin/", admin.site.urls),
    path("account/", include("shop.accounts.urls")),
    path("orders/", include("orders.urls")),
    path("orders/", include("fulfillment.urls")),
    path("stock-alerts/", include("fulfillment.alert_urls")),
    path("payments/", include("payments.urls")),
    path("aftersales/", include("aftersales.urls")),
]

if settings.SERVE_MEDIA:
    urlpatterns += [re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT})]
