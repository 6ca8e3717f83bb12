"""A strict Content-Security-Policy on every page: scripts, styles, images, fonts and requests
from the shop itself only, no inline script, style or event handler ('unsafe-inline' nowhere),
forms posting to the shop (and the payment gateway's origin when it is enabled), no framing.

Every customer page and every admin page answers with the header, pages served from the page
cache included; the pages rendered from our own templates hold nothing the policy would block
(tests/browser/test_csp.py loads the main ones in Chromium and collects violations)."""

from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.db.models import Model
from django.test import Client
from django.urls import NoReverseMatch, reverse

from cart.models import Cart
from catalog.models import Supplier
from fulfillment import services as fulfillment_services
from fulfillment.models import PurchaseOrder, Shipment
from payments.models import Payment, Wallet
from payments.services import payment_start
from shop.models import Address
from tests import factories
from tests.fulfillment.support import paid_order, placed_order, stock, variant, warehouses

pytestmark = pytest.mark.django_db

HEADER = "Content-Security-Policy"
POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "frame-ancestors": ["'none'"],
    "base-uri": ["'self'"],
    "object-src": ["'none'"],
}
# Scripts that are data, not code: the policy does not apply to them (json_script).
DATA_SCRIPT_TYPES = {"application/json", "application/ld+json"}


def policy_of(response) -> dict[str, list[str]]:
    assert HEADER in response, f"no {HEADER} on {response.request['PATH_INFO']} ({response.status_code})"
    directives = {}
    for part in response[HEADER].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


class _InlineCode(HTMLParser):
    """What a strict policy blocks in a page: inline <script> code, <style> elements, style=""
    attributes, on...="" handlers and javascript: URLs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and not attrs.get("src") and (attrs.get("type") or "").lower() not in DATA_SCRIPT_TYPES:
            self.found.append(f"inline <script> at line {self.getpos()[0]}")
        if tag == "style":
            self.found.append(f"<style> at line {self.getpos()[0]}")
        for name, value in attrs.items():
            if name == "style":
                self.found.append(f'<{tag} style="{value}">')
            elif name.startswith("on") or (
                name in ("href", "src", "action", "formaction")
                and (value or "").strip().lower().startswith("javascript:")
            ):
                self.found.append(f'<{tag} {name}="{value}">')


def inline_code(html: str) -> list[str]:
    parser = _InlineCode()
    parser.feed(html)
    return parser.found


def assert_strict(response, *, check_html: bool = True) -> None:
    assert response.status_code < 500, response.status_code
    assert policy_of(response) == {**POLICY, "form-action": policy_of(response)["form-action"]}
    assert "'unsafe-inline'" not in response[HEADER] and "'unsafe-eval'" not in response[HEADER]
    if check_html and response["Content-Type"].startswith("text/html"):
        found = inline_code(response.content.decode())
        assert found == [], f"{response.request['PATH_INFO']}: {found}"


# -- the policy itself -------------------------------------------------------------------------


def test_the_policy_is_strict(client, settings):
    policy = policy_of(client.get("/healthz"))
    assert {name: values for name, values in policy.items() if name != "form-action"} == POLICY
    # The shop itself and SITE_URL (where gateways send the browser back); no gateway here.
    assert policy["form-action"][0] == "'self'" and len(policy["form-action"]) <= 2
    assert not any("alipay" in origin for origin in policy["form-action"])


def test_form_action_names_the_alipay_gateway_when_alipay_is_enabled():
    """Alipay page pay: the browser POSTs to /payments/pay/... and is redirected to the gateway,
    which Chromium holds to form-action. Checked in a fresh interpreter, as the policy is built
    from the settings at start."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PAYMENT_PROVIDERS": "alipay,wallet,cod",
        "SITE_URL": "https://shop.example.com",
        "ALIPAY_APP_ID": "2021000000000000",
        "ALIPAY_PRIVATE_KEY": "not-read-here",
        "ALIPAY_PUBLIC_KEY": "not-read-here",
        "ALIPAY_SELLER_ID": "2088000000000000",
    }
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps(s.CONTENT_SECURITY_POLICY['DIRECTIVES']['form-action']))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [
        "'self'",
        "https://shop.example.com",
        "https://openapi.alipay.com",
    ]


# -- customer pages ----------------------------------------------------------------------------


@pytest.fixture
def world():
    """A category with a product in stock, and a customer with a cart, an address, a paid order
    with a parcel and an unpaid order with a started sandbox payment."""
    places = warehouses()
    category = factories.CategoryFactory()
    v = variant(name="玻璃杯", category=category)
    stock(places["sh"], v, 50)
    order = paid_order([(v, 1)])
    customer = order.customer
    unpaid = placed_order([(v, 1)], email="unpaid@example.com")
    payment_start(order=unpaid, provider="sandbox", return_url="http://testserver/r", notify_url="http://testserver/n")
    cart = Cart.objects.create(user=customer)
    cart.lines.create(variant=v, quantity=1, price_seen=v.price)
    return {
        "category": category,
        "product": v.product,
        "customer": customer,
        "order": order,
        "unpaid": unpaid,
        "payment": Payment.objects.get(order=unpaid),
        "address": Address.objects.filter(user=customer).first(),
    }


def test_every_anonymous_page_has_the_policy_and_no_inline_code(client, world):
    product, category = world["product"], world["category"]
    pages = [
        "/",
        "/products/",
        "/products/?sort=price_asc&page=1",
        "/search/?q=玻璃",
        f"/c/{category.slug}/",
        product.get_absolute_url(),
        "/cart/",
        "/account/login/",
        "/account/register/",
        "/account/password/reset/",
        "/account/password/reset/sent/",
        "/no-such-page/",  # the 404 page
    ]
    for url in pages:
        assert_strict(client.get(url))
    visitor = Client()  # no cookie yet: the page cache serves them
    visitor.get("/products/")
    again = visitor.get("/products/")  # from the page cache: a response built anew
    assert again.get("X-Page-Cache") == "hit"
    assert_strict(again)


def test_every_customer_page_has_the_policy_and_no_inline_code(client, world):
    client.force_login(world["customer"])
    order, unpaid, payment = world["order"], world["unpaid"], world["payment"]
    pages = [
        "/",
        world["product"].get_absolute_url(),
        "/cart/",
        "/checkout/",
        "/account/",
        "/account/profile/",
        "/account/password/",
        "/account/addresses/",
        "/account/addresses/new/",
        f"/account/addresses/{world['address'].pk}/",
        "/orders/",
        order.get_absolute_url(),
        reverse("fulfillment:tracking", args=[order.number]),
    ]
    for url in pages:
        assert_strict(client.get(url))
    # The checkout's review step (a POST answering a page).
    review = client.post(
        "/checkout/",
        {"address": world["address"].pk, "shipping_method": "standard", "payment_method": "cod", "note": ""},
    )
    assert review.status_code == 200
    assert_strict(review)
    # The payment pages: the unpaid order's customer back from the gateway, and the gateway's page.
    client.force_login(unpaid.customer)
    assert_strict(client.get(unpaid.get_absolute_url()))
    assert_strict(client.get(reverse("payments:return"), {"out_trade_no": payment.reference}))
    try:
        sandbox = reverse("payments:sandbox_page", args=[payment.reference])
    except NoReverseMatch:  # the sandbox gateway is not enabled in this environment
        return
    assert_strict(client.get(sandbox))


def test_the_error_page_has_no_inline_style():
    from django.template.loader import render_to_string

    assert inline_code(render_to_string("500.html")) == []


# -- admin pages -------------------------------------------------------------------------------


@pytest.fixture
def staff_client(world):
    """A superuser's client, with a wallet and a placed purchase order to look at."""
    superuser = factories.UserFactory(email="root@example.com", is_staff=True, is_superuser=True)
    staff = Client(HTTP_ACCEPT_LANGUAGE="en")
    staff.force_login(superuser)
    Wallet.objects.get_or_create(user=world["customer"])
    po = PurchaseOrder.objects.create(
        number=fulfillment_services.purchase_order_number_new(),
        supplier=Supplier.objects.create(name="供应商"),
        warehouse=world["order"].shipments.get().warehouse,
        created_by=superuser,
    )
    po.lines.create(variant=world["product"].variants.first(), quantity=5, unit_cost="8.00")
    fulfillment_services.purchase_order_place(po_id=po.pk)
    return staff


# django-import-export's export page: two style="" (cosmetic; static/shop/admin_export.css says
# the same) and the "Select all" onchange="", bound again by static/shop/admin_export.js.
EXPORT_PAGE_INLINE = {
    '<p style="padding: 0;">',
    '<label style="font-weight: bold;">',
    '<input onchange="onSelectToggleChange(event)">',
}


def _admin_url(model: type[Model], view: str, *args) -> str | None:
    try:
        return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)
    except NoReverseMatch:
        return None


def test_every_admin_page_has_the_policy(staff_client, world):
    """Every registered model's list, add, change and history page, and the import and export
    pages: the header, and nothing inline but what django-import-export's export page has."""
    seen = 0
    for model in admin.site._registry:
        urls = [_admin_url(model, "changelist"), _admin_url(model, "add"), _admin_url(model, "import")]
        urls.append(_admin_url(model, "export"))
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            urls.append(_admin_url(model, "change", first.pk))
            urls.append(_admin_url(model, "history", first.pk))
        for url in filter(None, urls):
            response = staff_client.get(url)
            assert response.status_code < 500, url
            policy_of(response)
            if response["Content-Type"].startswith("text/html"):
                found = set(inline_code(response.content.decode()))
                if url.endswith("/export/"):
                    found -= EXPORT_PAGE_INLINE
                assert found == set(), f"{url}: {found}"
            seen += 1
    assert seen > 40
    assert_strict(staff_client.get("/admin/"))


def test_our_admin_pages_have_the_policy_and_no_inline_code(staff_client, world):
    """The admin pages rendered from our templates: print pages, actions' forms, custom views."""
    order = world["order"]
    parcel = order.shipments.get()
    Shipment.objects.filter(pk=parcel.pk).update(carrier=Shipment.Carrier.OWN_FLEET)
    wallet = Wallet.objects.get(user=world["customer"])
    warehouse = parcel.warehouse
    pages = [
        f"/admin/fulfillment/shipment/pick-list/?warehouse={warehouse.pk}",
        f"/admin/fulfillment/shipment/{parcel.pk}/packing-slip/",
        f"/admin/fulfillment/shipment/{parcel.pk}/delivery-note/",
        f"/admin/fulfillment/shipment/{parcel.pk}/record-event/",
        f"/admin/payments/wallet/{wallet.pk}/adjust/",
        f"/admin/payments/wallet/{wallet.pk}/change/",
        f"/admin/fulfillment/shipment/{parcel.pk}/change/",
        f"/admin/orders/order/{order.pk}/change/",
    ]
    for url in pages:
        response = staff_client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        assert_strict(response)
    # The actions' intermediate pages (Ship, Re-route, Cancel), then a purchase order's receiving.
    actions = [
        ("/admin/fulfillment/shipment/", "ship", parcel.pk),
        ("/admin/fulfillment/shipment/", "reroute", parcel.pk),
        ("/admin/orders/order/", "cancel_orders", world["unpaid"].pk),
    ]
    for url, action, pk in actions:
        response = staff_client.post(url, {"action": action, "_selected_action": [pk]})
        assert response.status_code == 200, (url, action, response.status_code)
        assert_strict(response)
    po = PurchaseOrder.objects.get()
    assert_strict(staff_client.get(f"/admin/fulfillment/purchaseorder/{po.pk}/receive/"))


def test_the_policy_built_once_is_django_csps_own_and_per_view_changes_still_apply(rf):
    """StaticCSPMiddleware sends the policy it built once; a response changed by django-csp's
    decorators, or a request that used a nonce, goes through django-csp's own path."""
    from csp.decorators import csp_update
    from csp.middleware import CSPMiddleware
    from django.http import HttpResponse

    from shop.core.middleware import StaticCSPMiddleware

    plain = StaticCSPMiddleware(lambda request: HttpResponse("ok"))(rf.get("/"))
    reference = CSPMiddleware(lambda request: HttpResponse("ok"))(rf.get("/"))
    assert plain["Content-Security-Policy"] == reference["Content-Security-Policy"]
    assert "'unsafe-inline'" not in plain["Content-Security-Policy"]

    @csp_update({"img-src": ["https://img.example.com"]})
    def view(request):
        return HttpResponse("ok")

    updated = StaticCSPMiddleware(view)(rf.get("/"))
    assert "https://img.example.com" in updated["Content-Security-Policy"]

    def uses_nonce(request):
        return HttpResponse(str(request.csp_nonce))

    # Our policy has no nonce placeholder, so django-csp adds none: the same header either way.
    with_nonce = StaticCSPMiddleware(uses_nonce)(rf.get("/"))
    assert with_nonce["Content-Security-Policy"] == CSPMiddleware(uses_nonce)(rf.get("/"))["Content-Security-Policy"]


def test_a_changed_policy_setting_is_picked_up(rf, settings):
    from django.http import HttpResponse

    from shop.core.middleware import StaticCSPMiddleware

    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'none'"]}}
    response = StaticCSPMiddleware(lambda request: HttpResponse("ok"))(rf.get("/"))
    assert response["Content-Security-Policy"] == "default-src 'none'"
