"""After-sales in a real browser, customer and staff, end to end.

1. A customer who paid at the sandbox gateway returns one of two units of a completed order:
   on the order page "After-sales", the form (return, quality problem, one unit, a photo,
   refund to the wallet). A customer-service agent approves it in the admin (the return
   address is the warehouse that shipped); the customer enters the return's carrier and
   tracking number; warehouse staff receive it in the admin (back into stock); the refund
   reaches the customer's wallet at once: the refund note says paid and the account page
   shows the balance.
2. Another customer pays an order at the sandbox gateway (in the browser, its signed
   notification coming back over HTTP), then cancels it whole before anything is packed: the
   cancellation is approved at once, the order closes, and the refund goes back through the
   sandbox gateway (payments.tasks.refund_send, run on commit: bin/test sets
   CELERY_TASK_ALWAYS_EAGER=1, so it runs in the live server's request thread).

Orders are placed, shipped and delivered through the services (tests/aftersales/support.py);
everything the customer and staff do after that happens in the browser. Screenshots of each
step go to ARTIFACTS_DIR.

Run: SKIP_LINT=1 bash bin/test tests/browser/test_aftersales.py
"""

import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse
from PIL import Image
from playwright.sync_api import Page, expect

from aftersales.models import AfterSale, RefundNote
from aftersales.services.staff import CUSTOMER_SERVICE_GROUP, aftersales_groups_ensure
from fulfillment.models import Shipment, Stock, StockMovement
from fulfillment.services.staff import WAREHOUSE_GROUP
from orders.models import Order
from orders.services import order_confirm_receipt
from payments.models import Payment, Refund, Wallet
from payments.providers.sandbox import sandbox_refunded
from shop.core.money import format_money
from tests import factories
from tests.aftersales.support import line_of, pay_by_gateway, ship_all, shop
from tests.browser.conftest import DESKTOP, MOBILE, wait_for_visible_images
from tests.fulfillment.support import placed_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CUSTOMER_PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's
STAFF_PASSWORD = "After-Sales-5127"
PAYMENT_CONFIRMED_MS = 20_000
CHANGE = "/admin/aftersales/aftersale/{pk}/change/"


# -- helpers ----------------------------------------------------------------------------------
class Journey:
    """Numbered full-page screenshots of each step, and what went wrong along the way:
    uncaught JavaScript errors, console errors and server errors seen by the browser."""

    def __init__(self, directory: Path, prefix: str) -> None:
        self.directory, self.prefix, self.step = directory, prefix, 0
        self.errors: list[str] = []

    def watch(self, page: Page) -> Page:
        page.on("pageerror", lambda error: self.errors.append(f"JavaScript error: {error}"))
        page.on(
            "console",
            lambda msg: self.errors.append(f"console {msg.type}: {msg.text} ({page.url})")
            # The admin names no icon, so Chromium asks for /favicon.ico.
            if msg.type == "error" and not msg.location.get("url", "").endswith("/favicon.ico")
            else None,
        )
        page.on(
            "response",
            lambda r: self.errors.append(f"HTTP {r.status} {r.request.method} {r.url}") if r.status >= 500 else None,
        )
        return page

    def shot(self, page: Page, name: str) -> Path:
        self.step += 1
        page.wait_for_load_state()
        # From the top: scrolled, the sticky header would land mid-page in a full-page shot.
        page.evaluate("() => window.scrollTo(0, 0)")
        wait_for_visible_images(page)
        path = self.directory / f"{self.prefix}-{self.step:02d}-{name}.png"
        page.screenshot(path=path, full_page=True)
        return path

    def assert_clean(self) -> None:
        assert self.errors == [], "\n".join(self.errors)


def arrived(page: Page, url_pattern: str) -> None:
    expect(page).to_have_url(re.compile(url_pattern))
    page.wait_for_load_state()


def log_in(page: Page, url: str, form: str, email: str, password: str) -> None:
    page.goto(url)
    page.locator(f"{form} #id_username").fill(email)
    page.locator(f"{form} #id_password").fill(password)
    page.locator(f"{form} [type=submit]").click()
    page.wait_for_load_state()


def customer_page(browser, live_server, journey: Journey, user) -> Page:
    from tests.browser.conftest import _page

    page = journey.watch(_page(browser, viewport=DESKTOP, base_url=live_server.url))
    log_in(page, reverse("accounts:login"), "form.stack", user.email, CUSTOMER_PASSWORD)
    arrived(page, re.escape(reverse("accounts:overview")) + "$")
    return page


def staff_page(browser, live_server, journey: Journey, *, email: str, group: str) -> Page:
    from tests.browser.conftest import _page

    user = factories.UserFactory(email=email, password=STAFF_PASSWORD, is_staff=True)
    user.groups.add(aftersales_groups_ensure()[group])
    page = journey.watch(_page(browser, viewport=DESKTOP, base_url=live_server.url))
    log_in(page, reverse("admin:login"), "#login-form", email, STAFF_PASSWORD)
    arrived(page, r"/admin/$")
    return page


def jpeg(path: Path) -> Path:
    """A photo of the fault, as a phone would send it."""
    out = io.BytesIO()
    image = Image.new("RGB", (800, 600), (235, 235, 230))
    for x in range(300, 500):  # a dark crack across the middle
        for y in range(295 + (x % 7), 305 + (x % 7)):
            image.putpixel((x, y), (40, 40, 40))
    image.save(out, "JPEG", quality=90)
    path.write_bytes(out.getvalue())
    return path


def on_a_phone(page: Page, journey: "Journey", name: str) -> None:
    """The page at 390 px: nothing wider than the screen; a screenshot; back to the desktop."""
    page.set_viewport_size(MOBILE)
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), page.url
    journey.shot(page, name)
    page.set_viewport_size(DESKTOP)


def expect_status(page: Page, status: str) -> None:
    expect(page.locator("#request-status")).to_have_class(re.compile(rf"\bas-{status}\b"))


def wallet_balance(user) -> Decimal:
    wallet = Wallet.objects.filter(user=user).first()
    return wallet.balance if wallet else Decimal("0.00")


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture
def shop_url(settings, live_server):
    """Links in mail, the gateway's return URL and its notify URL point at the live server."""
    settings.SITE_URL = live_server.url
    return live_server.url


# -- tests ------------------------------------------------------------------------------------
def test_return_one_unit_with_a_photo_staff_approve_and_receive_refund_to_the_wallet(
    browser, live_server, shop_url, artifacts_dir, tmp_path
):
    journey = Journey(artifacts_dir, "aftersales-return")
    places, teapot = shop(on_hand=10, price="128.00", name="青瓷茶壶")
    order = placed_order([(teapot, 2)], email="return.buyer@example.com")
    pay_by_gateway(order)
    ship_all(order)  # packed, shipped with our own fleet and delivered from Shanghai
    order_confirm_receipt(order_id=order.pk, customer=order.customer)
    order.refresh_from_db()
    assert order.status == Order.Status.COMPLETED
    customer = order.customer
    line = line_of(order)
    on_hand_before = Stock.objects.get(warehouse=places["sh"], variant=teapot).on_hand
    assert wallet_balance(customer) == 0

    # The customer: the order page offers after-sales; the form shows the windows first.
    page = customer_page(browser, live_server, journey, customer)
    page.goto(order.get_absolute_url())
    expect(page.locator("#ask-aftersales")).to_be_visible()
    journey.shot(page, "order-page")
    page.locator("#ask-aftersales").click()
    arrived(page, re.escape(reverse("aftersales:new", kwargs={"order_number": order.number})) + "$")
    expect(page.locator("#quality-until")).to_be_visible()
    expect(page.locator("input[name=kind][value=cancel]")).to_have_count(0)  # shipped: no cancelling
    page.locator("input[name=kind][value=return]").check()
    # The script offers only the reasons of a return.
    assert page.evaluate("() => document.querySelector('#id_reason option[value=not_received]').disabled")
    page.locator(f"#id_qty_{line.pk}").fill("1")
    page.locator("#id_reason").select_option("quality")
    page.locator("#id_description").fill("壶嘴有裂纹,倒水会漏。")
    page.locator("#id_photos").set_input_files(jpeg(tmp_path / "crack.jpg"))
    page.locator("input[name=refund_to][value=wallet]").check()
    journey.shot(page, "form")
    on_a_phone(page, journey, "form-phone")
    page.locator("#send-request").click()
    arrived(page, r"/aftersales/AS[\w-]+/$")
    request = AfterSale.objects.get(order=order)
    assert page.url.endswith(request.get_absolute_url())
    expect_status(page, "pending")
    expect(page.locator(".as-photos img")).to_have_count(1)
    assert (request.kind, request.refund_to, request.photos.count()) == ("return", "wallet", 1)
    assert [(x.order_line_id, x.quantity) for x in request.lines.all()] == [(line.pk, 1)]
    journey.shot(page, "request-sent")
    on_a_phone(page, journey, "request-phone")

    # A customer-service agent approves it in the admin: the goods go back to Shanghai.
    agent = staff_page(browser, live_server, journey, email="agent@example.com", group=CUSTOMER_SERVICE_GROUP)
    agent.goto(CHANGE.format(pk=request.pk))
    expect(agent.locator("#aftersale-photos img")).to_have_count(1)
    journey.shot(agent, "admin-request")
    agent.locator("#approve-form [type=submit]").click()
    arrived(agent, re.escape(CHANGE.format(pk=request.pk)) + "$")
    expect(agent.locator("ul.messagelist li.success")).to_be_visible()
    request.refresh_from_db()
    assert request.status == AfterSale.Status.AWAITING_RETURN
    assert request.return_warehouse == places["sh"] and request.return_address

    # The customer sees the return address and enters the parcel's tracking number.
    page.reload()
    expect_status(page, "awaiting_return")
    expect(page.locator("#return-address")).to_have_text(request.return_address)
    page.locator("#id_carrier").select_option("own_fleet")
    page.locator("#id_tracking_number").fill("OF-RETURN-0001")
    journey.shot(page, "return-form")
    page.locator("#return-sent").click()
    arrived(page, re.escape(request.get_absolute_url()) + "$")
    expect_status(page, "return_shipped")
    expect(page.locator("#return-tracking")).to_have_text("OF-RETURN-0001")
    request.refresh_from_db()
    assert request.return_shipment.kind == Shipment.Kind.RETURN
    journey.shot(page, "return-shipped")

    # Warehouse staff receive it: the unit goes back into stock.
    picker = staff_page(browser, live_server, journey, email="picker@example.com", group=WAREHOUSE_GROUP)
    picker.goto(CHANGE.format(pk=request.pk))
    picker.locator("#receive-link").click()
    picker.wait_for_load_state()
    journey.shot(picker, "admin-receive")
    picker.locator("form.aftersale-form [type=submit]").click()
    arrived(picker, re.escape(CHANGE.format(pk=request.pk)) + "$")
    expect(picker.locator("ul.messagelist li.success")).to_be_visible()

    # The refund reached the wallet at once.
    request.refresh_from_db()
    note = RefundNote.objects.get(request=request)
    assert request.status == AfterSale.Status.COMPLETED
    assert (note.state, note.destination, note.amount) == (RefundNote.State.PAID, "wallet", Decimal("128.00"))
    assert wallet_balance(customer) == note.amount
    assert Stock.objects.get(warehouse=places["sh"], variant=teapot).on_hand == on_hand_before + 1
    assert StockMovement.objects.filter(reference=request.number).exists()
    page.reload()
    expect_status(page, "completed")
    journey.shot(page, "request-completed")
    page.locator("#refund-note-link").click()
    arrived(page, re.escape(note.get_absolute_url()) + "$")
    expect(page.locator("#r-total")).to_have_text(format_money(note.amount))
    expect(page.locator("#refund-state")).to_have_class(re.compile(r"\brefund-paid\b"))
    journey.shot(page, "refund-note")
    page.goto(reverse("accounts:overview"))
    expect(page.locator("#wallet-balance")).to_have_text(format_money(note.amount))
    journey.shot(page, "wallet")
    page.goto(order.get_absolute_url())
    expect(page.locator(f".line-aftersales[data-line='{line.pk}'] a.as-completed")).to_be_visible()
    journey.shot(page, "order-after")
    journey.assert_clean()


def test_cancel_a_paid_unshipped_order_refunded_through_the_sandbox_gateway(
    browser, live_server, shop_url, artifacts_dir
):
    journey = Journey(artifacts_dir, "aftersales-cancel")
    places, kettle = shop(on_hand=5, price="89.00", name="不锈钢电水壶")
    order = placed_order([(kettle, 1)], email="cancel.buyer@example.com", payment_method="sandbox")
    customer = order.customer
    stock = Stock.objects.get(warehouse=places["sh"], variant=kettle)
    assert stock.reserved == 1

    # Pay at the sandbox gateway, in the browser.
    page = customer_page(browser, live_server, journey, customer)
    page.goto(order.get_absolute_url())
    page.locator(".pay-box select[name=method]").select_option("sandbox")
    page.locator("#pay-now").click()
    arrived(page, r"/payments/sandbox/\w+/\?")
    page.locator("#gateway-pay").click()
    arrived(page, re.escape(reverse("payments:return")) + r"\?out_trade_no=\w+")
    expect(page.locator("meta[http-equiv=refresh]")).to_have_count(0, timeout=PAYMENT_CONFIRMED_MS)
    payment = Payment.objects.get(order=order)
    assert payment.state == Payment.State.CAPTURED

    # Paid, nothing packed: the order page offers cancelling it.
    page.goto(order.get_absolute_url())
    expect(page.locator("#order-status")).to_have_class(re.compile(r"\bstatus-paid\b"))
    expect(page.locator("#ask-aftersales")).to_have_count(0)
    journey.shot(page, "order-paid")
    page.locator("#cancel-paid-order").click()
    arrived(page, r"/aftersales/new/\w+/\?kind=cancel&all=1$")
    expect(page.locator("input[name=kind][value=cancel]")).to_be_checked()
    expect(page.locator(f"#id_qty_{line_of(order).pk}")).to_have_value("1")
    expect(page.locator("#id_photos")).to_be_hidden()  # no photos needed to cancel
    page.locator("#id_reason").select_option("changed_mind")
    journey.shot(page, "cancel-form")
    page.locator("#send-request").click()
    arrived(page, r"/aftersales/AS[\w-]+/$")

    # Approved at once; the refund went back through the gateway in the same request.
    request = AfterSale.objects.get(order=order)
    expect_status(page, "completed")
    order.refresh_from_db()
    payment.refresh_from_db()
    note = RefundNote.objects.get(request=request)
    refund = Refund.objects.get(payment=payment)
    assert order.status == Order.Status.CLOSED
    assert (note.state, note.destination, note.amount) == (RefundNote.State.PAID, "original", order.total)
    assert (refund.state, refund.amount) == (Refund.State.SUCCEEDED, order.total)
    assert payment.refunded == order.total
    assert sandbox_refunded(payment.reference) == order.total
    assert wallet_balance(customer) == 0  # to the original method, not the wallet
    stock.refresh_from_db()
    assert stock.reserved == 0  # the reserved unit was released
    journey.shot(page, "cancel-completed")
    page.locator("#refund-note-link").click()
    arrived(page, re.escape(note.get_absolute_url()) + "$")
    expect(page.locator("#r-total")).to_have_text(format_money(order.total))
    journey.shot(page, "refund-note")
    page.goto(order.get_absolute_url())
    expect(page.locator("#order-status")).to_have_class(re.compile(r"\bstatus-closed\b"))
    journey.shot(page, "order-closed")
    page.goto(reverse("aftersales:list"))
    expect(page.locator("#request-list li")).to_have_count(1)
    journey.shot(page, "my-aftersales")
    journey.assert_clean()
