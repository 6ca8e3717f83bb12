"""The customer's after-sales pages through the test client: the order page's after-sales
state and buttons, the new-request form (eligibility shown first, errors change nothing), the
request list and page, cancel / appeal / message / return shipped, the refund note; another
customer's request or note answers 404; anonymous visitors are sent to log in; the mails."""

import pytest
from django.conf import settings
from django.core import mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from aftersales.exceptions import AfterSaleError, AfterSaleErrorCode
from aftersales.models import AfterSale, AfterSaleMessage, AfterSalePhoto, RefundNote
from aftersales.services import requests as svc
from orders.models import Notification, Order
from payments.models import Wallet
from tests import factories
from tests.aftersales.support import completed, line_of, paid, photo, shop
from tests.purchase import english, last_message

pytestmark = pytest.mark.django_db

Kind, Reason, Status = AfterSale.Kind, AfterSale.Reason, AfterSale.Status
LANGUAGES = ["en", "zh-hans"]


def in_language(client, language: str):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def logged_in(client, user):
    client.force_login(user)
    return english(client)


def completed_order(quantity: int = 2) -> Order:
    _places, v = shop(on_hand=10)
    return completed([(v, quantity)], how="wallet")


def open_return(order: Order, n: int = 1, line=None, **kwargs) -> AfterSale:
    line = line or line_of(order)
    kwargs.setdefault("description", "坏了")
    return svc.aftersale_open(
        order_id=order.pk,
        customer=order.customer,
        kind=Kind.RETURN,
        reason=Reason.QUALITY,
        quantities={line.pk: n},
        **kwargs,
    )


def staff_user():
    return factories.UserFactory(is_staff=True, is_superuser=True)


def snapshot() -> tuple:
    return (
        AfterSale.objects.count(),
        AfterSalePhoto.objects.count(),
        AfterSaleMessage.objects.count(),
        RefundNote.objects.count(),
        list(AfterSale.objects.order_by("pk").values_list("status", "appealed_at", "return_shipment_id")),
    )


# -- the order page ------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_completed_order_offers_after_sales_and_shows_each_lines_request(client, language):
    order = completed_order()
    client.force_login(order.customer)
    in_language(client, language)
    page = client.get(order.get_absolute_url())
    assert page.status_code == 200
    new_url = reverse("aftersales:new", kwargs={"order_number": order.number})
    assert f'id="ask-aftersales" href="{new_url}"' in page.content.decode()
    assert 'id="cancel-items"' not in page.content.decode()

    request = open_return(order)
    page = client.get(order.get_absolute_url())
    body = page.content.decode()
    assert request.get_absolute_url() in body
    with translation.override(language):
        assert str(Status.PENDING.label) in body


def test_a_paid_unshipped_order_offers_cancelling_items_and_the_whole_order(client):
    _places, v = shop()
    order = paid([(v, 2)], how="wallet")
    logged_in(client, order.customer)
    body = client.get(order.get_absolute_url()).content.decode()
    new_url = reverse("aftersales:new", kwargs={"order_number": order.number})
    assert f'href="{new_url}?kind=cancel"' in body
    assert f'href="{new_url}?kind=cancel&amp;all=1"' in body
    assert 'id="ask-aftersales"' not in body  # nothing shipped: only cancelling


def test_an_unpaid_order_shows_no_after_sales(client):
    _places, v = shop()
    from tests.fulfillment.support import placed_order

    order = placed_order([(v, 1)])
    logged_in(client, order.customer)
    body = client.get(order.get_absolute_url()).content.decode()
    assert 'id="order-aftersales"' not in body and "aftersales/new" not in body


# -- the new-request page ------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_form_shows_the_windows_and_only_the_kinds_possible(client, language):
    order = completed_order()
    client.force_login(order.customer)
    in_language(client, language)
    page = client.get(reverse("aftersales:new", kwargs={"order_number": order.number}))
    assert page.status_code == 200
    form = page.context["form"]
    eligibility = page.context["eligibility"]
    assert set(dict(form.fields["kind"].choices)) == set(eligibility.kinds)
    assert Kind.CANCEL not in eligibility.kinds and Kind.RETURN in eligibility.kinds
    body = page.content.decode()
    assert 'id="quality-until"' in body
    line = line_of(order)
    assert f'name="qty_{line.pk}"' in body and 'max="2"' in body
    assert 'name="photos"' in body and "multiple" in body


def test_nothing_possible_says_why_and_shows_no_form(client):
    _places, v = shop()
    from tests.fulfillment.support import placed_order

    order = placed_order([(v, 1)])
    logged_in(client, order.customer)
    page = client.get(reverse("aftersales:new", kwargs={"order_number": order.number}))
    assert page.status_code == 200
    body = page.content.decode()
    assert 'id="why-not"' in body and 'id="aftersale-form"' not in body


def test_opening_a_return_with_a_photo_creates_it_and_shows_its_page(client):
    order = completed_order()
    line = line_of(order)
    logged_in(client, order.customer)
    url = reverse("aftersales:new", kwargs={"order_number": order.number})
    response = client.post(
        url,
        {
            "kind": Kind.RETURN,
            "reason": Reason.QUALITY,
            f"qty_{line.pk}": "1",
            "description": "The seam came apart.",
            "refund_to": "wallet",
            "photos": [photo("a.jpg"), photo("b.png", fmt="PNG")],
        },
    )
    request = AfterSale.objects.get(order=order)
    assert response.status_code == 302 and response["Location"] == request.get_absolute_url()
    assert last_message(response) == f"Request {request.number} sent."
    assert (request.kind, request.reason, request.refund_to) == (Kind.RETURN, Reason.QUALITY, "wallet")
    assert [(x.order_line_id, x.quantity) for x in request.lines.all()] == [(line.pk, 1)]
    assert request.photos.count() == 2
    page = client.get(request.get_absolute_url())
    assert page.status_code == 200
    body = page.content.decode()
    assert request.number in body and "The seam came apart." in body
    assert body.count('<img src="/media/aftersales/') == 2
    assert "The shop answers by" in body


def test_a_paid_order_cancelled_whole_is_refunded_at_once(client):
    _places, v = shop()
    order = paid([(v, 2)], how="wallet")
    balance = Wallet.objects.get(user=order.customer).balance
    line = line_of(order)
    logged_in(client, order.customer)
    url = reverse("aftersales:new", kwargs={"order_number": order.number})
    page = client.get(url + "?kind=cancel&all=1")
    assert page.context["form"].initial == {"kind": Kind.CANCEL, f"qty_{line.pk}": 2}
    response = client.post(
        url, {"kind": Kind.CANCEL, "reason": Reason.CHANGED_MIND, f"qty_{line.pk}": "2", "refund_to": "original"}
    )
    request = AfterSale.objects.get(order=order)
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == Order.Status.CLOSED
    note = RefundNote.objects.get(request=request)
    assert note.amount == order.total
    assert Wallet.objects.get(user=order.customer).balance == balance + order.total
    body = client.get(request.get_absolute_url()).content.decode()
    assert note.get_absolute_url() in body


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"qty": "3"}, "Ensure this value is less than or equal to 2."),  # more than bought
        ({"qty": "-1"}, "Ensure this value is greater than or equal to 0."),
        ({"qty": "0"}, AfterSaleErrorCode.NO_LINES),
        ({"kind": Kind.CANCEL}, "Select a valid choice."),  # shipped: cancelling is not offered
        ({"reason": "bogus"}, "Select a valid choice."),
        ({"reason": Reason.NOT_RECEIVED}, AfterSaleErrorCode.REASON_NOT_ALLOWED),
        ({"description": ""}, AfterSaleErrorCode.DESCRIPTION_REQUIRED),
        ({"photos": "seven"}, "At most 6 photos."),
        ({"photos": "not an image"}, "Photo 1:"),
    ],
)
def test_form_errors_are_shown_and_change_nothing(client, change, expected):
    order = completed_order()
    line = line_of(order)
    logged_in(client, order.customer)
    data = {
        "kind": change.get("kind", Kind.RETURN),
        "reason": change.get("reason", Reason.QUALITY),
        f"qty_{line.pk}": change.get("qty", "1"),
        "description": change.get("description", "Broken, see photo."),
        "refund_to": "original",
    }
    if change.get("photos") == "seven":
        data["photos"] = [photo(f"{n}.jpg") for n in range(7)]
    elif change.get("photos") == "not an image":
        from django.core.files.uploadedfile import SimpleUploadedFile

        data["photos"] = [SimpleUploadedFile("x.jpg", b"GIF89a not really", content_type="image/jpeg")]
    if isinstance(expected, AfterSaleErrorCode):  # the page is in English: the service's message in English
        with translation.override("en"):
            expected = AfterSaleError(expected).message
    before = snapshot()
    mails = Notification.objects.count()
    response = client.post(reverse("aftersales:new", kwargs={"order_number": order.number}), data)
    assert response.status_code == 400
    assert expected in response.content.decode()
    assert snapshot() == before and Notification.objects.count() == mails
    # The input is kept (files are not: a browser cannot be given them back).
    body = response.content.decode()
    if data["description"]:
        assert f"{data['description']}</textarea>" in body
    assert f'name="qty_{line.pk}" value="{data[f"qty_{line.pk}"]}"' in body


def test_another_customers_order_has_no_request_page(client):
    order = completed_order()
    logged_in(client, factories.UserFactory())
    url = reverse("aftersales:new", kwargs={"order_number": order.number})
    assert client.get(url).status_code == 404
    line = line_of(order)
    before = snapshot()
    response = client.post(url, {"kind": Kind.RETURN, "reason": Reason.QUALITY, f"qty_{line.pk}": "1"})
    assert response.status_code == 404 and snapshot() == before


# -- list, detail, 404s, login -------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_list_shows_the_customers_requests_newest_first(client, language):
    order = completed_order(quantity=3)
    first = open_return(order)
    second = open_return(order)
    other = open_return(completed_order())
    client.force_login(order.customer)
    in_language(client, language)
    page = client.get(reverse("aftersales:list"))
    assert page.status_code == 200
    assert [r.pk for r in page.context["requests"]] == [second.pk, first.pk]
    body = page.content.decode()
    assert second.number in body and first.number in body and other.number not in body
    assert body.index(second.number) < body.index(first.number)


def test_the_list_is_paginated_and_counts_its_queries(client, django_assert_max_num_queries):
    variants = [shop()[1] for _ in range(5)]
    order = completed([(v, 1) for v in variants], how="wallet")
    for v in variants:
        open_return(order, line=line_of(order, v))
    logged_in(client, order.customer)
    with django_assert_max_num_queries(12):
        page = client.get(reverse("aftersales:list"))
    assert len(page.context["requests"]) == 5


def test_another_customers_request_and_refund_note_answer_404(client):
    order = completed_order()
    request = open_return(order)
    svc.aftersale_approve(request_id=request.pk, actor=staff_user())
    _places, v = shop()
    cancelled = paid([(v, 1)], how="wallet")
    cancel = svc.aftersale_open(
        order_id=cancelled.pk,
        customer=cancelled.customer,
        kind=Kind.CANCEL,
        reason=Reason.CHANGED_MIND,
        quantities={line_of(cancelled).pk: 1},
    )
    note = RefundNote.objects.get(request=cancel)
    stranger = factories.UserFactory()
    logged_in(client, stranger)
    before = snapshot()
    for url in (
        request.get_absolute_url(),
        note.get_absolute_url(),
        reverse("aftersales:new", kwargs={"order_number": order.number}),
    ):
        assert client.get(url).status_code == 404, url
    for name, data in (
        ("cancel", {}),
        ("appeal", {"text": "please"}),
        ("message", {"body": "hello"}),
        ("return_shipped", {"carrier": "own_fleet", "tracking_number": "OF-1"}),
    ):
        assert client.post(reverse(f"aftersales:{name}", kwargs={"number": request.number}), data).status_code == 404
    assert snapshot() == before
    # The owner sees both.
    logged_in(client, cancelled.customer)
    assert client.get(note.get_absolute_url()).status_code == 200


def test_anonymous_visitors_are_sent_to_log_in(client):
    order = completed_order()
    request = open_return(order)
    login = reverse("accounts:login")
    urls = [
        reverse("aftersales:list"),
        request.get_absolute_url(),
        reverse("aftersales:new", kwargs={"order_number": order.number}),
        reverse("aftersales:refund", kwargs={"number": "R-NONE"}),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(login), url
    for name in ("cancel", "appeal", "message", "return_shipped"):
        response = client.post(reverse(f"aftersales:{name}", kwargs={"number": request.number}))
        assert response.status_code == 302 and response["Location"].startswith(login)


@pytest.mark.parametrize("name", ["cancel", "appeal", "message", "return_shipped"])
def test_the_actions_are_post_only(client, name):
    order = completed_order()
    request = open_return(order)
    logged_in(client, order.customer)
    assert client.get(reverse(f"aftersales:{name}", kwargs={"number": request.number})).status_code == 405


def test_posts_need_the_csrf_token():
    from django.test import Client

    order = completed_order()
    request = open_return(order)
    client = Client(enforce_csrf_checks=True)
    client.force_login(order.customer)
    assert client.post(reverse("aftersales:cancel", kwargs={"number": request.number})).status_code == 403
    line = line_of(order)
    url = reverse("aftersales:new", kwargs={"order_number": order.number})
    data = {"kind": Kind.RETURN, "reason": Reason.QUALITY, f"qty_{line.pk}": "1", "description": "x"}
    assert client.post(url, data).status_code == 403
    request.refresh_from_db()
    assert request.status == Status.PENDING and AfterSale.objects.count() == 1


# -- the actions call through to the services ----------------------------------------------------


def test_withdrawing_closes_the_request(client):
    order = completed_order()
    request = open_return(order)
    logged_in(client, order.customer)
    response = client.post(reverse("aftersales:cancel", kwargs={"number": request.number}))
    assert response.status_code == 302 and response["Location"] == request.get_absolute_url()
    assert last_message(response) == f"Request {request.number} withdrawn."
    request.refresh_from_db()
    assert request.status == Status.CLOSED
    # Again: the service refuses and says so; nothing changes.
    response = client.post(reverse("aftersales:cancel", kwargs={"number": request.number}))
    assert last_message(response) == str(AfterSaleError(AfterSaleErrorCode.NOT_OPEN).message)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_rejected_request_can_be_appealed_once(client, language):
    order = completed_order()
    request = open_return(order)
    svc.aftersale_reject(request_id=request.pk, actor=staff_user(), reason="Worn, not faulty")
    client.force_login(order.customer)
    in_language(client, language)
    body = client.get(request.get_absolute_url()).content.decode()
    assert "Worn, not faulty" in body and 'id="appeal-form"' in body
    english(client)
    url = reverse("aftersales:appeal", kwargs={"number": request.number})
    response = client.post(url, {"text": ""})
    assert last_message(response) == "Please say why the request should be looked at again."
    request.refresh_from_db()
    assert request.status == Status.REJECTED
    response = client.post(url, {"text": "It broke on the first day."})
    assert last_message(response) == "Your appeal is with a supervisor."
    request.refresh_from_db()
    assert (request.status, request.appeal_text) == (Status.ESCALATED, "It broke on the first day.")
    assert 'id="appeal-form"' not in client.get(request.get_absolute_url()).content.decode()


def test_messages_go_to_the_service_and_show_both_ways(client):
    order = completed_order()
    request = open_return(order)
    logged_in(client, order.customer)
    url = reverse("aftersales:message", kwargs={"number": request.number})
    response = client.post(url, {"body": "   "})
    assert AfterSaleMessage.objects.count() == 0
    assert last_message(response) == "The message is empty or too long (at most 1000 characters)."
    response = client.post(url, {"body": "Can I send it next week?"})
    assert last_message(response) == "Message sent."
    svc.aftersale_message_post(request_id=request.pk, author=staff_user(), body="Yes, of course.", from_staff=True)
    body = client.get(request.get_absolute_url()).content.decode()
    assert "Can I send it next week?" in body and "Yes, of course." in body
    assert body.index("Can I send it next week?") < body.index("Yes, of course.")
    assert list(AfterSaleMessage.objects.values_list("from_staff", flat=True).order_by("pk")) == [False, True]


def test_the_return_form_records_the_parcel(client):
    order = completed_order()
    request = open_return(order)
    svc.aftersale_approve(request_id=request.pk, actor=staff_user())
    request.refresh_from_db()
    assert request.status == Status.AWAITING_RETURN
    logged_in(client, order.customer)
    body = client.get(request.get_absolute_url()).content.decode()
    assert 'id="return-form"' in body and request.return_address in body
    assert "Please send the goods back by" in body
    url = reverse("aftersales:return_shipped", kwargs={"number": request.number})
    response = client.post(url, {"carrier": "own_fleet", "tracking_number": ""})
    assert last_message(response) == str(AfterSaleError(AfterSaleErrorCode.TRACKING_REQUIRED).message)
    response = client.post(url, {"carrier": "pigeon", "tracking_number": "X"})
    assert last_message(response) == "Choose a carrier and enter the tracking number."
    request.refresh_from_db()
    assert request.status == Status.AWAITING_RETURN
    response = client.post(url, {"carrier": "own_fleet", "tracking_number": "RET-0001"})
    assert last_message(response) == "Thank you: the shop has your return's tracking number."
    request.refresh_from_db()
    assert request.status == Status.RETURN_SHIPPED
    assert request.return_shipment.tracking_number == "RET-0001"
    body = client.get(request.get_absolute_url()).content.decode()
    assert "RET-0001" in body and 'id="return-form"' not in body


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_refund_note_page(client, language):
    _places, v = shop(price="30.00")
    order = paid([(v, 3)], how="wallet")
    request = svc.aftersale_open(
        order_id=order.pk,
        customer=order.customer,
        kind=Kind.CANCEL,
        reason=Reason.CHANGED_MIND,
        quantities={line_of(order).pk: 1},
        refund_to="wallet",
    )
    note = RefundNote.objects.get(request=request)
    client.force_login(order.customer)
    in_language(client, language)
    page = client.get(note.get_absolute_url())
    assert page.status_code == 200
    body = page.content.decode()
    assert note.number in body and order.number in body and request.number in body
    from shop.core.money import format_money

    assert format_money(note.amount) in body and format_money(note.goods_amount) in body
    with translation.override(language):
        assert str(note.get_state_display()) in body
        assert str(note.get_destination_display()) in body
    assert 'id="print"' in body


# -- mails ----------------------------------------------------------------------------------------

MAIL_KINDS = [
    "aftersale_received",
    "aftersale_approved",
    "aftersale_rejected",
    "aftersale_closed",
    "aftersale_message",
    "return_received",
    "refund_paid",
    "exchange_shipped",
]
MAIL_CONTEXT = {
    "number": "AS2026112800001",
    "order": "2026112812345",
    "kind": "Return and refund",
    "status": "Awaiting the shop",
    "url": "/aftersales/AS2026112800001/",
    "reason": "Worn, not faulty",
    "amount": "¥30.00",
    "refund_url": "/aftersales/refunds/RF1/",
    "lines": [{"name": "Teapot", "options": "Blue", "quantity": 1}],
    "message": "Yes, of course.",
    "return_address": "上海仓, 上海 上海",
    "deadline": "2026-12-05 10:00",
    "tracking_number": "EX123",
    "site_url": "https://shop.example",
}


@pytest.mark.parametrize("kind", MAIL_KINDS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_mail_renders_in_both_languages(kind, language):
    with translation.override(language):
        subject = render_to_string(f"orders/emails/{kind}_subject.txt", MAIL_CONTEXT).strip()
        text = render_to_string(f"orders/emails/{kind}.txt", MAIL_CONTEXT)
        html = render_to_string(f"orders/emails/{kind}.html", MAIL_CONTEXT)
    assert subject and "\n" not in subject
    for body in (text, html):
        assert "AS2026112800001" in body
        assert "https://shop.example/aftersales/AS2026112800001/" in body
        assert "{%" not in body and "{{" not in body


def test_the_mails_a_request_sends_are_delivered(settings, django_capture_on_commit_callbacks):
    """The services queue them; the templates render them (the outbox's real path)."""
    from orders.services import notification_deliver

    order = completed_order()
    with django_capture_on_commit_callbacks():
        request = open_return(order)
        svc.aftersale_reject(request_id=request.pk, actor=staff_user(), reason="Worn, not faulty")
    for notification in Notification.objects.filter(kind__startswith="aftersale_"):
        notification_deliver(notification_id=notification.pk)
    subjects = [m.subject for m in mail.outbox]
    assert any(request.number in s for s in subjects)
    rejected = [m for m in mail.outbox if "Worn, not faulty" in m.body]
    assert rejected and request.get_absolute_url() in rejected[0].body


def test_an_exchange_offers_the_products_other_options_and_records_the_choice(client):
    places, small = shop(price="60.00")
    large = factories.VariantFactory(product=small.product, price=small.price)
    from tests.fulfillment.support import stock

    stock(places["sh"], large, 5)
    order = completed([(small, 1)], how="wallet")
    line = line_of(order)
    logged_in(client, order.customer)
    url = reverse("aftersales:new", kwargs={"order_number": order.number})
    page = client.get(url)
    assert Kind.EXCHANGE in page.context["eligibility"].kinds
    body = page.content.decode()
    assert f'name="exchange_{line.pk}"' in body and f'<option value="{large.pk}">' in body
    assert f'<option value="{small.pk}">' not in body  # not the option bought
    data = {"kind": Kind.EXCHANGE, "reason": Reason.QUALITY, f"qty_{line.pk}": "1", "description": "Too small."}
    response = client.post(url, data)  # no option chosen: the service says which item needs one
    assert response.status_code == 400 and AfterSale.objects.count() == 0
    # The page is in English: the line's English name (the factory gives every product one).
    assert str(AfterSaleError(AfterSaleErrorCode.EXCHANGE_VARIANT, name=line.product_name_en).message) in (
        response.content.decode().replace("&ldquo;", "“").replace("&rdquo;", "”")
    )
    response = client.post(url, {**data, f"exchange_{line.pk}": str(large.pk)})
    request = AfterSale.objects.get(order=order)
    assert response.status_code == 302 and request.kind == Kind.EXCHANGE
    assert [(x.order_line_id, x.exchange_variant_id) for x in request.lines.all()] == [(line.pk, large.pk)]
    assert large.sku in client.get(request.get_absolute_url()).content.decode()


@pytest.mark.parametrize("express", [True, False])
def test_the_return_form_offers_express_only_when_the_carrier_is_configured(client, settings, express):
    settings.CARRIER_EXPRESS_URL = "http://127.0.0.1:9" if express else ""
    settings.CARRIER_EXPRESS_KEY = "a-test-key-of-some-length"
    order = completed_order()
    request = open_return(order)
    svc.aftersale_approve(request_id=request.pk, actor=staff_user())
    logged_in(client, order.customer)
    page = client.get(request.get_absolute_url())
    carriers = [value for value, _label in page.context["return_form"].fields["carrier"].choices]
    assert carriers == (["own_fleet", "express"] if express else ["own_fleet"])
    assert ("return waybill" in page.content.decode()) is express


def test_the_account_page_links_to_my_after_sales(client):
    logged_in(client, factories.UserFactory())
    body = client.get(reverse("accounts:overview")).content.decode()
    assert f'href="{reverse("aftersales:list")}" id="my-aftersales"' in body


def _queries(client, url) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_order_page_and_the_request_page_do_not_query_per_line():
    from django.test import Client

    counts = []
    for n in (1, 4):
        variants = [shop()[1] for _ in range(n)]
        order = completed([(v, 2) for v in variants], how="wallet")
        request = svc.aftersale_open(
            order_id=order.pk,
            customer=order.customer,
            kind=Kind.RETURN,
            reason=Reason.QUALITY,
            quantities={line.pk: 1 for line in order.lines.all()},
            description="x",
            photos=[photo() for _ in range(n)],
        )
        svc.aftersale_message_post(request_id=request.pk, author=order.customer, body="hello", from_staff=False)
        client = Client()
        client.force_login(order.customer)
        counts.append((_queries(client, order.get_absolute_url()), _queries(client, request.get_absolute_url())))
    assert counts[0] == counts[1], counts
