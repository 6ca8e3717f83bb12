"""The admin site in one place (shop.core.admin_site): each model registered once by the app that
owns it, the apps above contributing inlines, mixins and links, the site composing the class that
runs; the index and every-admin hooks other apps use."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.exceptions import AlreadyRegistered
from django.urls import reverse

from catalog.models import Product
from orders.models import Order
from shop.core.admin_site import ShopAdminSite
from shop.models import User
from tests import factories


def test_admin_site_is_the_shops():
    admin.site.get_model_admin(Order)  # set up the lazy site
    assert isinstance(admin.site._wrapped, ShopAdminSite)


def test_no_app_unregisters_or_rebuilds_another_apps_admin():
    root = Path(settings.BASE_DIR)
    offenders = []
    for app in ("shop", "catalog", "cart", "orders", "payments", "fulfillment", "aftersales"):
        for path in (root / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            text = path.read_text()
            if re.search(r"site\.unregister\(|type\(admin\.site\.get_model_admin", text):
                offenders.append(str(path.relative_to(root)))
    assert not offenders, f"contribute() to the owner's admin instead (shop.core.admin_site): {offenders}"


def test_a_second_registration_is_refused_with_the_way_to_contribute():
    with pytest.raises(AlreadyRegistered, match="contribute"):
        admin.site.register(Order)


def test_the_composed_admins_hold_what_the_apps_contributed():
    order_admin = admin.site.get_model_admin(Order)
    names = [inline.__name__ for inline in order_admin.inlines]
    # The owner's lines first, payments right after them, then the rest in app order.
    assert names == [
        "LineInline",
        "PaymentInline",
        "EventInline",
        "NotificationInline",
        "OrderShipmentInline",
        "OrderRequestInline",
        "OrderRefundNoteInline",
        "OrderClaimInline",
    ]
    assert [c.source for c in admin.site.contributions(Order)] == [
        "payments.admin",
        "fulfillment.admin",
        "aftersales.admin.requests",
    ]
    product_admin = admin.site.get_model_admin(Product)
    assert [i.__name__ for i in product_admin.inlines] == ["VariantInline", "ImageInline", "StockInline"]
    mro = [c.__name__ for c in type(product_admin).__mro__]
    assert mro.index("ProductStockMixin") < mro.index("ProductAdmin", 1)  # before catalog's own class
    customer_inlines = [i.__name__ for i in admin.site.get_model_admin(User).inlines]
    assert customer_inlines == ["CustomerOrderInline", "WalletInline", "CustomerRequestInline"]


class Marker:
    """A mixin for every admin, like the admin log's audit mixin."""


@pytest.fixture
def site_hooks():
    site = admin.site
    site.get_model_admin(Order)
    saved = (list(site.model_admin_mixins), list(site.index_context_providers), site.index_view_provider)
    yield site
    site.model_admin_mixins[:] = saved[0]
    site.index_context_providers[:] = saved[1]
    site.index_view_provider = saved[2]


def test_model_admin_mixins_reach_every_registered_admin(site_hooks):
    site_hooks.model_admin_mixins.append(Marker)
    registry = site_hooks._registry
    assert registry and all(isinstance(model_admin, Marker) for model_admin in registry.values())
    mro = type(registry[Order]).__mro__
    # Before the contributors' mixins and the owner's class: it wraps everything else.
    assert mro.index(Marker) < mro.index(admin.site._declared[Order])


@pytest.mark.django_db
def test_the_index_takes_context_providers_and_a_replacement_view(site_hooks, client):
    from django.http import HttpResponse

    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))
    site_hooks.index_context_providers.append(lambda request: {"title": "DASHBOARD-TITLE"})
    assert "DASHBOARD-TITLE" in client.get(reverse("admin:index")).content.decode()
    site_hooks.index_view_provider = lambda request, context: HttpResponse(f"custom {context['title']}")
    assert client.get(reverse("admin:index")).content.decode() == "custom DASHBOARD-TITLE"


@pytest.mark.django_db
def test_a_customers_page_links_what_staff_may_do():
    from django.test import Client

    customer = factories.UserFactory()
    from payments.models import Wallet

    wallet = Wallet.objects.get(user=customer)  # every account has one from the start
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))
    page = client.get(reverse("admin:shop_user_change", args=[customer.pk])).content.decode()
    assert f"{reverse('admin:orders_order_changelist')}?customer__id__exact={customer.pk}" in page
    assert f"{reverse('admin:aftersales_aftersale_changelist')}?customer__id__exact={customer.pk}" in page
    assert f'href="{reverse("admin:payments_wallet_adjust", args=[wallet.pk])}?next=' in page  # and back here
    # The filtered lists answer (the filter is allowed).
    assert (
        client.get(f"{reverse('admin:orders_order_changelist')}?customer__id__exact={customer.pk}").status_code == 200
    )
    url = reverse("admin:aftersales_aftersale_changelist")
    assert client.get(f"{url}?customer__id__exact={customer.pk}").status_code == 200
