"""Fulfillment in a real browser: warehouse staff pick, pack and ship in the admin, the customer
follows the parcel and confirms receipt.

1. A warehouse staff member (staff, in the "Warehouse staff" group, not a superuser) logs in to
   the admin, which has no Payments section for them, prints the pick list of a warehouse (a
   new tab) and of a selection of parcels, opens a packing slip (a new tab) and fetches its
   PDF, packs two parcels, ships one with Express leaving the tracking number to the carrier's
   sandbox and the other with our own fleet and a typed number. A product's page is read-only
   for them: no price can be changed, and a forged save is refused.
2. The customer of the express parcel logs in and follows it: the order page and the tracking
   page show the parcel handed over; as the sandbox clock runs and the poll (the periodic
   task's service, called here) fetches the carrier's events, the timeline grows to
   "delivered"; "Confirm receipt" completes the order.

A screenshot of every main step goes to ARTIFACTS_DIR. The express carrier is the sandbox of
its API (fulfillment.carrier_sandbox) over real HTTP; the live server runs in this process, so
the `settings` fixture points its client there.

Run: SKIP_LINT=1 bash bin/test tests/browser/test_fulfillment.py
"""

import re
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext, ngettext
from playwright.sync_api import Page, expect

from fulfillment import services
from fulfillment.carrier_sandbox import start_in_thread
from fulfillment.models import Shipment, TrackingEvent
from orders.models import Notification, Order
from tests import factories
from tests.browser.conftest import wait_for_visible_images
from tests.fulfillment.support import paid_order, stock, variant, warehouses

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Warehouse-Pick-4821"
CUSTOMER_PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's
CARRIER_KEY = "browser-test-key"
OWN_FLEET_NUMBER = "OF-BROWSER-0001"
SHIPMENTS = "/admin/fulfillment/shipment/"
# The sandbox's story of a parcel: collected 0.5-1.5 h after the waybill, departed 2-5 h later,
# delivered 36-60 h after the waybill (see fulfillment.carrier_sandbox).
HOURS_TO_IN_TRANSIT = 7
HOURS_TO_DELIVERED = 61


# -- helpers ----------------------------------------------------------------------------------
class Journey:
    """Numbered full-page screenshots of each step, and what went wrong along the way:
    uncaught JavaScript errors, console errors and server errors seen by the browser (on every
    page of the context, the print tabs too)."""

    def __init__(self, page: Page, directory: Path, prefix: str) -> None:
        self.page, self.directory, self.prefix, self.step = page, directory, prefix, 0
        self.errors: list[str] = []
        self.watch(page)
        page.context.on("page", self.watch)

    def watch(self, page: Page) -> None:
        page.on("pageerror", lambda error: self.errors.append(f"JavaScript error: {error}"))
        page.on(
            "console",
            lambda msg: self.errors.append(f"console {msg.type}: {msg.text} ({page.url})")
            # The admin and the print pages name no icon, so Chromium asks for /favicon.ico.
            if msg.type == "error" and not msg.location.get("url", "").endswith("/favicon.ico")
            else None,
        )
        page.on(
            "response",
            lambda r: self.errors.append(f"HTTP {r.status} {r.request.method} {r.url}") if r.status >= 500 else None,
        )

    def shot(self, name: str, page: Page | None = None) -> None:
        page = page or self.page
        self.step += 1
        page.wait_for_load_state()
        # Images in the viewport, as lazy ones further down may never load in a headless run.
        wait_for_visible_images(page)
        page.screenshot(path=self.directory / f"{self.prefix}-{self.step:02d}-{name}.png", full_page=True)

    def assert_clean(self) -> None:
        assert self.errors == [], "\n".join(self.errors)


def arrived(page: Page, url_pattern: str) -> None:
    """Wait for a navigation: the new URL, then the new document fully loaded."""
    expect(page).to_have_url(re.compile(url_pattern))
    page.wait_for_load_state()


def zh(message: str, **params) -> str:
    """A message as the admin and the shop show it to a zh-CN browser."""
    with translation.override("zh-hans"):
        text = gettext(message)
    return text % params if params else text


def zh_count(singular: str, plural: str, n: int) -> str:
    """A count message (singular/plural) as a zh-CN browser sees it."""
    with translation.override("zh-hans"):
        return ngettext(singular, plural, n) % {"n": n}


def label(choice) -> str:
    with translation.override("zh-hans"):
        return str(choice.label)


def table_rows(page: Page, selector: str, sku: int = 1) -> dict[str, tuple[str, ...]]:
    """A printed table's body rows keyed by their SKU (the second cell, after the tick box; the
    pick list has the bin between them), the text of the cells after it."""
    rows = {}
    for row in page.locator(f"{selector} tbody tr").all():
        cells = [cell.strip() for cell in row.locator("td").all_inner_texts()]
        rows[cells[sku]] = tuple(cells[sku + 1 :])
    return rows


def row_of(page: Page, shipment: Shipment):
    return page.locator("#result_list tbody tr", has=page.locator(f"input.action-select[value='{shipment.pk}']"))


def run_action(page: Page, action: str, *shipments: Shipment) -> None:
    """On the shipment list: tick the parcels, choose the action, press Go."""
    for shipment in shipments:
        row_of(page, shipment).locator("input.action-select").check()
    page.locator("select[name=action]").select_option(action)
    page.locator("button[name=index]").click()
    page.wait_for_load_state()


def expect_success(page: Page, text: str) -> None:
    expect(page.locator("ul.messagelist li.success", has_text=text)).to_be_visible()


def log_in(page: Page, url: str, form: str, email: str, password: str) -> None:
    page.goto(url)
    page.locator(f"{form} #id_username").fill(email)
    page.locator(f"{form} #id_password").fill(password)
    page.locator(f"{form} [type=submit]").click()


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture
def carrier_sandbox(settings):
    """The express company's sandbox on a free port; the shop's express client points at it."""
    server = start_in_thread(key=CARRIER_KEY)
    settings.CARRIER_EXPRESS_URL = server.base_url
    settings.CARRIER_EXPRESS_KEY = CARRIER_KEY
    yield server
    server.shutdown()


@pytest.fixture
def warehouse_staff():
    user = factories.UserFactory(email="picker@example.com", password=PASSWORD, is_staff=True)
    user.groups.add(services.staff_groups_ensure())
    assert not user.is_superuser
    return user


# -- tests ------------------------------------------------------------------------------------
def test_staff_pick_pack_ship_and_the_customer_follows_and_confirms(
    desktop_page: Page, carrier_sandbox, warehouse_staff, artifacts_dir
):
    page = desktop_page
    journey = Journey(page, artifacts_dir, "fulfillment")
    places = warehouses()
    shanghai = places["sh"]
    tee = variant(name="纯棉圆领T恤", price="59.00")
    mug = variant(name="陶瓷马克杯", price="35.00")
    stock(shanghai, tee, 10)
    stock(shanghai, mug, 10)
    # Stock in Shanghai only: both orders leave from there, one parcel each.
    express_order = paid_order([(tee, 2), (mug, 1)], province="广东", city="广州", email="buyer@example.com")
    fleet_order = paid_order([(tee, 1)], province="上海", city="上海")
    express_parcel, fleet_parcel = express_order.shipments.get(), fleet_order.shipments.get()
    assert express_parcel.warehouse == fleet_parcel.warehouse == shanghai

    # The admin, as warehouse staff: fulfillment is there, payments are not.
    log_in(page, reverse("admin:login"), "#login-form", warehouse_staff.email, PASSWORD)
    arrived(page, r"/admin/$")
    expect(page.locator("#content-main .app-fulfillment")).to_be_visible()
    expect(page.locator("#content-main .app-payments")).to_have_count(0)
    assert page.request.get("/admin/payments/payment/").status == 403
    journey.shot("admin-index")

    # The warehouse's pick list, in a new tab: every parcel waiting to be packed there.
    page.goto(reverse("admin:fulfillment_warehouse_changelist"))
    with page.context.expect_page() as new_tab:
        page.locator(f"#result_list a[href$='?warehouse={shanghai.pk}']").click()
    pick = new_tab.value
    pick.wait_for_load_state()
    assert table_rows(pick, "#pick-list", sku=2) == {
        tee.sku: (tee.product.name, "", "3", "2"),
        mug.sku: (mug.product.name, "", "1", "1"),
    }
    expect(pick.locator("body")).to_contain_text(express_parcel.number)
    expect(pick.locator("body")).to_contain_text(fleet_parcel.number)
    journey.shot("pick-list-warehouse", pick)
    pick.close()

    # Shipments: the pick list of one selected parcel (the action opens it in this tab).
    page.goto("/admin/")
    page.locator(f"#content-main th a[href='{SHIPMENTS}']").click()
    arrived(page, re.escape(SHIPMENTS) + "$")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    run_action(page, "print_pick_list", express_parcel)
    arrived(page, r"/pick-list/\?warehouse=")
    assert table_rows(page, "#pick-list", sku=2) == {
        tee.sku: (tee.product.name, "", "2", "1"),
        mug.sku: (mug.product.name, "", "1", "1"),
    }
    journey.shot("pick-list-selected")

    # The packing slip of the express parcel, from its page, in a new tab; then its PDF.
    page.goto(reverse("admin:fulfillment_shipment_change", args=[express_parcel.pk]))
    slip_url = reverse("admin:fulfillment_shipment_packing_slip", args=[express_parcel.pk])
    with page.context.expect_page() as new_tab:
        page.locator(f"a[href='{slip_url}']").click()
    slip = new_tab.value
    slip.wait_for_load_state()
    expect(slip.locator("h1")).to_contain_text(express_parcel.number)
    expect(slip.locator("body")).to_contain_text(express_order.recipient)
    assert table_rows(slip, "#slip-lines") == {
        tee.sku: (tee.product.name, "", "2"),
        mug.sku: (mug.product.name, "", "1"),
    }
    expect(slip.locator("#slip-lines tfoot td.num").last).to_have_text("3")
    journey.shot("packing-slip", slip)
    pdf = slip.request.get(slip_url + "?format=pdf")
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")
    slip.close()

    # Pack both parcels from the list.
    page.goto(SHIPMENTS)
    run_action(page, "mark_packed", express_parcel, fleet_parcel)
    expect_success(page, zh_count("%(n)d parcel packed.", "%(n)d parcels packed.", 2))
    for parcel in (express_parcel, fleet_parcel):
        expect(row_of(page, parcel).locator("td.field-status")).to_have_text(label(Shipment.Status.PACKED))

    # Ship the express parcel: the sandbox issues the tracking number.
    run_action(page, "ship", express_parcel)
    form = page.locator("#ship-form")
    expect(form.locator(f"input[name='tracking-{express_parcel.pk}']")).to_have_value("")
    form.locator("select[name=carrier]").select_option(Shipment.Carrier.EXPRESS)
    journey.shot("ship-form-express")
    form.locator("input[type=submit]").click()
    arrived(page, re.escape(SHIPMENTS) + "$")
    expect_success(page, zh_count("%(n)d parcel shipped.", "%(n)d parcels shipped.", 1))
    express_parcel.refresh_from_db()
    assert express_parcel.status == Shipment.Status.SHIPPED and express_parcel.carrier == "express"
    assert re.fullmatch(r"SX\d{12}", express_parcel.tracking_number)
    assert express_parcel.shipped_by == warehouse_staff
    # About one waybill in eight fails its first delivery and arrives a day later: this one
    # is delivered at the first attempt, so that the clock below is enough.
    carrier_sandbox.scenario(express_parcel.tracking_number, exception=False)
    row = row_of(page, express_parcel)
    expect(row.locator("td.field-status")).to_have_text(label(Shipment.Status.SHIPPED))
    expect(row.locator("td.field-tracking_number")).to_have_text(express_parcel.tracking_number)

    # Ship the other parcel with our own fleet and a typed number.
    run_action(page, "ship", fleet_parcel)
    form = page.locator("#ship-form")
    form.locator("select[name=carrier]").select_option(Shipment.Carrier.OWN_FLEET)
    form.locator(f"input[name='tracking-{fleet_parcel.pk}']").fill(OWN_FLEET_NUMBER)
    journey.shot("ship-form-own-fleet")
    form.locator("input[type=submit]").click()
    arrived(page, re.escape(SHIPMENTS) + "$")
    expect_success(page, zh_count("%(n)d parcel shipped.", "%(n)d parcels shipped.", 1))
    row = row_of(page, fleet_parcel)
    expect(row.locator("td.field-status")).to_have_text(label(Shipment.Status.SHIPPED))
    expect(row.locator("td.field-tracking_number")).to_have_text(OWN_FLEET_NUMBER)
    journey.shot("shipped")
    for order in (express_order, fleet_order):
        order.refresh_from_db()
        assert order.status == Order.Status.SHIPPED

    # A product's page is read-only for warehouse staff: no price to change, no save.
    page.goto(reverse("admin:catalog_product_change", args=[tee.product_id]))
    expect(page.locator("#content h1, #content h2").first).to_be_visible()
    expect(page.locator("input[name$=price]")).to_have_count(0)
    expect(page.locator("input[name=_save]")).to_have_count(0)
    expect(page.locator("#content-main")).to_contain_text("59.00")
    journey.shot("product-read-only")
    page.goto(reverse("admin:catalog_productvariant_change", args=[tee.pk]))
    expect(page.locator("#content-main")).to_contain_text(tee.sku)
    expect(page.locator("input[name=price]")).to_have_count(0)
    expect(page.locator("input[name=_save]")).to_have_count(0)
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    forged = page.request.post(
        reverse("admin:catalog_product_change", args=[tee.product_id]),
        form={"csrfmiddlewaretoken": csrf, "name": tee.product.name, "variants-0-price": "1.00"},
        headers={"X-CSRFToken": csrf},
    )
    assert forged.status == 403
    tee.refresh_from_db()
    assert str(tee.price) == "59.00"

    # The customer: the order page and the tracking page show the parcel handed over.
    page.context.clear_cookies()
    log_in(page, reverse("accounts:login"), "form.stack", express_order.customer.email, CUSTOMER_PASSWORD)
    arrived(page, re.escape(reverse("accounts:overview")) + "$")
    page.goto(express_order.get_absolute_url())
    expect(page.locator("#order-status")).to_have_class(re.compile(r"\bstatus-shipped\b"))
    parcel = page.locator(f"#parcel-{express_parcel.number}")
    expect(parcel.locator(".tracking-number")).to_have_text(express_parcel.tracking_number)
    expect(parcel.locator(".tag.parcel-shipped")).to_be_visible()
    expect(page.locator("#confirm-receipt")).to_be_visible()
    journey.shot("customer-order-shipped")

    tracking_url = reverse("fulfillment:tracking", args=[express_order.number])
    page.locator(f"#parcels a[href='{tracking_url}']").first.click()
    arrived(page, re.escape(tracking_url) + "$")
    expect(parcel.locator("ol.timeline li")).to_have_count(0)
    expect(parcel).to_contain_text(zh("Handed to the carrier; the first scan will show here soon."))
    journey.shot("timeline-before")

    # The carrier collects the parcel and moves it on; the poll brings the news.
    carrier_sandbox.advance(hours=HOURS_TO_IN_TRANSIT)
    assert services.shipment_poll(shipment_id=express_parcel.pk) >= 2
    page.reload()
    events = parcel.locator("ol.timeline li")
    expect(parcel.locator(".tag.parcel-in_transit")).to_be_visible()
    expect(parcel.locator("ol.timeline li.event-collected")).to_have_count(1)
    expect(parcel.locator("ol.timeline li.event-in_transit").first).to_be_visible()
    in_transit_count = events.count()
    journey.shot("timeline-in-transit")

    # Delivered: the newest event, with who signed.
    carrier_sandbox.advance(hours=HOURS_TO_DELIVERED)
    assert services.shipment_poll(shipment_id=express_parcel.pk) >= 2
    page.reload()
    expect(parcel.locator(".tag.parcel-delivered")).to_be_visible()
    expect(parcel.locator("ol.timeline li.latest")).to_have_class(re.compile(r"\bevent-delivered\b"))
    assert events.count() > in_transit_count
    assert events.count() == TrackingEvent.objects.filter(shipment=express_parcel).count()
    express_parcel.refresh_from_db()
    assert express_parcel.status == Shipment.Status.DELIVERED and express_parcel.signed_by
    expect(parcel).to_contain_text(express_parcel.signed_by)
    journey.shot("timeline-delivered")

    # Confirm receipt: the order is complete.
    page.locator("#confirm-receipt").click()
    arrived(page, re.escape(express_order.get_absolute_url()) + "$")
    status = page.locator("#order-status")
    expect(status).to_have_class(re.compile(r"\bstatus-completed\b"))
    expect(status).to_have_text(label(Order.Status.COMPLETED))
    expect(page.locator("#confirm-receipt")).to_have_count(0)
    expect(page.locator(".messages li.success")).to_be_visible()
    journey.shot("order-completed")
    express_order.refresh_from_db()
    assert express_order.status == Order.Status.COMPLETED and express_order.delivered_at is not None
    # The customer was told twice: shipped, then delivered.
    parcel_news = express_order.notifications.filter(kind__startswith="shipment_").order_by("pk")
    assert list(parcel_news.values_list("kind", flat=True)) == [
        Notification.Kind.SHIPMENT_SHIPPED,
        Notification.Kind.SHIPMENT_DELIVERED,
    ]
    journey.assert_clean()
