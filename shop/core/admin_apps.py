"""django.contrib.admin with the shop's site (shop.core.admin_site) as ``admin.site``. Its own
module: INSTALLED_APPS imports it before the app registry is ready, when the site cannot be."""

from django.contrib.admin.apps import AdminConfig


class ShopAdminConfig(AdminConfig):
    default_site = "shop.core.admin_site.ShopAdminSite"
