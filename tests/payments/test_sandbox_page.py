"""The sandbox gateway's hosted page, where it is enabled: it pays only its own customer's order,
answers with the shop's own return page and notifies the shop's own notify URL whatever the
request says, and a notification that cannot be delivered never answers the page with a 500."""

import socket
from urllib.error import URLError
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from django.test import Client

from orders.models import Order
from payments import tasks
from payments.models import GatewayNotification, Payment
from tests.purchase import buyer_with_cart, place, stocked_variant

pytestmark = pytest.mark.django_db

SITE = "http://127.0.0.1"
EVIL = "http://127.0.0.1.evil.example/"  # passed `startswith(SITE_URL)`


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = SITE
    assert settings.SANDBOX_GATEWAY_ENABLED and "sandbox" in settings.PAYMENT_PROVIDERS  # bin/test enables it


class Gateway:
    """Stands in for urllib in payments.tasks: records where the sandbox gateway posts, and
    delivers what is addressed to the shop to the shop (through a test client)."""

    def __init__(self) -> None:
        self.posted_to: list[str] = []

    def urlopen(self, request, timeout=None):
        self.posted_to.append(request.full_url)
        if not request.full_url.startswith(SITE + "/"):
            raise URLError("not the shop")
        answer = Client().post(
            urlsplit(request.full_url).path,
            request.data.decode(),
            content_type="application/x-www-form-urlencoded",
            HTTP_HOST="127.0.0.1",
        )
        return _Answer(answer.content)


class _Answer:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def read(self) -> bytes:
        return self.body

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


@pytest.fixture
def post(django_capture_on_commit_callbacks):
    """POST to the gateway's page; what it queues on commit runs as a real commit would run it."""

    def post(client: Client, url: str, data: dict | None = None):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, data or {})

    return post


@pytest.fixture
def gateway(monkeypatch):
    fake = Gateway()
    monkeypatch.setattr(tasks, "urlopen", fake.urlopen)
    return fake


@pytest.fixture
def customer():
    user, address, cart = buyer_with_cart([(stocked_variant(on_hand=5, price="39.00"), 1)])
    order = place(user, address, cart, payment_method="sandbox")
    return user, order


def started(client: Client, order: Order) -> str:
    """Pay now with the sandbox: the URL of the gateway's page, as the shop redirects to it."""
    response = client.post(f"/payments/pay/{order.number}/", {"method": "sandbox"})
    assert response.status_code == 302 and response["Location"].startswith("/payments/sandbox/")
    return response["Location"]


def own_return(payment: Payment) -> str:
    return f"{SITE}/payments/return/?{urlencode({'out_trade_no': payment.reference})}"


def test_anonymous_visitors_are_sent_to_log_in(client, customer, gateway, post):
    user, order = customer
    owner = Client()
    owner.force_login(user)
    page = started(owner, order)

    for response in (client.get(page), post(client, page, {"outcome": "pay"})):
        assert response.status_code == 302
        assert response["Location"].startswith("/account/login/")
    assert gateway.posted_to == []
    assert Order.objects.get(pk=order.pk).status == Order.Status.PENDING_PAYMENT


def test_another_customers_payment_is_not_found(client, customer, gateway, post):
    user, order = customer
    owner = Client()
    owner.force_login(user)
    page = started(owner, order)
    other, _address, _cart = buyer_with_cart([])
    client.force_login(other)

    assert client.get(page).status_code == 404
    assert post(client, page, {"outcome": "pay"}).status_code == 404
    assert gateway.posted_to == []
    assert Order.objects.get(pk=order.pk).status == Order.Status.PENDING_PAYMENT


def test_the_return_and_notify_urls_are_the_shops_own_whatever_the_request_says(client, customer, gateway, post):
    user, order = customer
    client.force_login(user)
    page = started(client, order)
    payment = Payment.objects.get(order=order)
    evil = {"return_url": EVIL, "notify_url": EVIL + "notify/"}
    path, query = page.split("?", 1)
    assert dict(parse_qsl(query))["notify_url"] == f"{SITE}/payments/notify/sandbox/"  # start() carries ours

    shown = client.get(f"{path}?{urlencode(evil)}")
    assert shown.status_code == 200
    assert b"evil.example" not in shown.content and b'name="notify_url"' not in shown.content

    paid = post(client, f"{path}?{urlencode(evil)}", {"outcome": "pay", **evil})
    assert (paid.status_code, paid["Location"]) == (302, own_return(payment))
    assert gateway.posted_to == [f"{SITE}/payments/notify/sandbox/"]
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID  # delivered and taken


def test_abandoning_goes_back_to_the_shop_without_a_notification(client, customer, gateway, post):
    user, order = customer
    client.force_login(user)
    page = started(client, order)
    payment = Payment.objects.get(order=order)

    response = post(client, page, {"outcome": "abandon", "return_url": EVIL})
    # The shop's own quit address (tests/payments/test_abandon.py: back to the order page).
    abandoned = f"{SITE}/payments/abandoned/?{urlencode({'out_trade_no': payment.reference})}"
    assert (response.status_code, response["Location"]) == (302, abandoned)
    assert gateway.posted_to == []


def test_only_a_csrf_checked_post_pays(customer, gateway, post):
    user, order = customer
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    page = started_with_token(browser, order)

    assert browser.get(page + "&outcome=pay").status_code == 200  # a GET shows the page, nothing more
    assert post(browser, page, {"outcome": "pay"}).status_code == 403  # no token: refused
    assert gateway.posted_to == []
    assert Order.objects.get(pk=order.pk).status == Order.Status.PENDING_PAYMENT


def started_with_token(browser: Client, order: Order) -> str:
    browser.get(order.get_absolute_url())
    token = browser.cookies["csrftoken"].value
    response = browser.post(f"/payments/pay/{order.number}/", {"method": "sandbox", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    return response["Location"]


def test_a_settled_payment_is_not_notified_again(client, customer, gateway, post):
    user, order = customer
    client.force_login(user)
    page = started(client, order)
    post(client, page, {"outcome": "pay"})
    assert len(gateway.posted_to) == 1

    again = post(client, page, {"outcome": "pay"})
    assert again.status_code == 302
    assert len(gateway.posted_to) == 1
    assert GatewayNotification.objects.count() == 1


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_paying_answers_a_redirect_when_the_notify_url_is_unreachable(client, customer, settings, caplog, post):
    """make run on another PORT left SITE_URL at :8000: the notification, sent inside the request
    (no broker), could not be delivered and its Retry surfaced as a 500."""
    settings.SITE_URL = f"http://127.0.0.1:{closed_port()}"
    user, order = customer
    client.force_login(user)
    page = started(client, order)
    payment = Payment.objects.get(order=order)

    response = post(client, page, {"outcome": "pay"})
    assert response.status_code == 302
    assert response["Location"] == f"{settings.SITE_URL}/payments/return/?out_trade_no={payment.reference}"
    assert Order.objects.get(pk=order.pk).status == Order.Status.PENDING_PAYMENT  # nothing arrived
    assert any("not retried without a worker" in r.getMessage() for r in caplog.records)


def test_a_broker_that_cannot_be_reached_does_not_break_the_page(client, customer, gateway, monkeypatch, post):
    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.sandbox_notify, "apply_async", down)
    user, order = customer
    client.force_login(user)
    page = started(client, order)

    response = post(client, page, {"outcome": "pay"})
    assert response.status_code == 302
    assert gateway.posted_to == []
