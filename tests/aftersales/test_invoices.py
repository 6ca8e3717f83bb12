"""Invoices (发票): the request and its taxpayer ID, issuing (numbers, amount, lines, PDF, mail
with the PDF attached), issuing on completion, and red invoices for refunds after issue; through
the real services on PostgreSQL."""

from decimal import Decimal

import pytest
from django.core import mail

from aftersales.exceptions import InvoiceError, InvoiceErrorCode
from aftersales.models import AfterSale, Invoice, RefundNote
from aftersales.services import invoices as svc
from aftersales.services import requests as requests_svc
from aftersales.services.invoice_pdf import invoice_document
from orders.models import Notification, Order
from orders.services import notification_deliver, order_confirm_receipt
from shop.models import Sequence
from tests.aftersales.support import completed, line_of, paid, ship_all, shop
from tests.aftersales.test_requests import open_request, staff

pytestmark = pytest.mark.django_db

D = Decimal
ORG_ID = "91350100M000100Y43"  # a well-formed 统一社会信用代码 (check character 3)


def ask(order, **kwargs):
    data = {"title_type": "personal", "title": "张三"} | kwargs
    return svc.invoice_request(order_id=order.pk, customer=order.customer, **data)


# -- the taxpayer ID ------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [ORG_ID, "91110000600037341L", " 9135 0100 m000 100y43 "])
def test_a_well_formed_credit_code_is_accepted_and_normalised(code):
    assert svc.taxpayer_id_clean(code) == "".join(code.split()).upper()


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("91350100M000100Y4", InvoiceErrorCode.TAXPAYER_ID_LENGTH),
        ("91350100M000100Y433", InvoiceErrorCode.TAXPAYER_ID_LENGTH),
        ("91350100M000100I43", InvoiceErrorCode.TAXPAYER_ID_CHARACTERS),  # no I in the alphabet
        ("913501O0M000100Y43", InvoiceErrorCode.TAXPAYER_ID_CHARACTERS),  # places 3-8: digits
        ("91350100M000100Y44", InvoiceErrorCode.TAXPAYER_ID_CHECK),
        ("91350100M000100Y34", InvoiceErrorCode.TAXPAYER_ID_CHECK),  # two characters swapped
    ],
)
def test_a_mistyped_credit_code_is_refused_with_its_reason(code, error):
    with pytest.raises(InvoiceError) as exc:
        svc.taxpayer_id_clean(code)
    assert exc.value.code == error


# -- the request ----------------------------------------------------------------------------------


def test_an_organisation_needs_a_valid_taxpayer_id_and_nothing_is_written_without_one():
    _, v = shop()
    order = paid([(v, 1)])
    for taxpayer_id, code in [
        ("", InvoiceErrorCode.TAXPAYER_ID_REQUIRED),
        ("9135", InvoiceErrorCode.TAXPAYER_ID_LENGTH),
    ]:
        with pytest.raises(InvoiceError) as exc:
            ask(order, title_type="organisation", title="某某科技有限公司", taxpayer_id=taxpayer_id)
        assert exc.value.code == code
    assert not Invoice.objects.exists()
    invoice = ask(order, title_type="organisation", title=" 某某科技 有限公司 ", taxpayer_id=ORG_ID.lower())
    assert (invoice.title, invoice.taxpayer_id, invoice.state) == ("某某科技 有限公司", ORG_ID, "requested")
    assert invoice.email == order.customer.email  # the account's by default
    assert invoice.number is None


def test_an_individual_s_taxpayer_id_is_ignored_and_the_request_may_be_corrected_until_issued():
    _, v = shop()
    order = paid([(v, 1)])
    ask(order, title="张三", taxpayer_id="whatever", email="me@example.org")
    invoice = ask(order, title="李四")
    assert Invoice.objects.count() == 1  # one per order: the second call corrects it
    assert (invoice.title, invoice.taxpayer_id, invoice.email) == ("李四", "", order.customer.email)
    with pytest.raises(InvoiceError) as exc:
        ask(order, title="")
    assert exc.value.code == InvoiceErrorCode.TITLE_REQUIRED
    with pytest.raises(InvoiceError) as exc:
        ask(order, email="not an address")
    assert exc.value.code == InvoiceErrorCode.BAD_EMAIL


def test_another_customer_s_order_is_not_found():
    _, v = shop()
    order = paid([(v, 1)])
    stranger = type(order.customer).objects.create_user(email="stranger@example.com", password="x")
    with pytest.raises(Order.DoesNotExist):
        svc.invoice_request(order_id=order.pk, customer=stranger, title_type="personal", title="王五")


# -- issuing --------------------------------------------------------------------------------------


def test_issuing_numbers_the_invoice_for_what_was_paid_and_mails_the_pdf(settings):
    settings.INVOICE_AUTO_ISSUE = False
    _, v = shop(price="100.00")
    order = paid([(v, 2)], insured=True)
    invoice = ask(order, title_type="organisation", title="某某科技有限公司", taxpayer_id=ORG_ID)
    finance = staff()
    invoice = svc.invoice_issue(invoice_id=invoice.pk, actor=finance)
    assert invoice.state == Invoice.State.ISSUED and invoice.issued_by == finance
    assert invoice.number.endswith("00000001") and invoice.number.startswith("FP")
    # Goods, shipping and insurance: what the customer paid.
    assert invoice.amount == order.total
    assert sum(line.amount for line in invoice.lines.all()) == invoice.amount
    assert invoice.lines.first().quantity == 2
    assert svc.invoice_issue(invoice_id=invoice.pk).number == invoice.number  # idempotent
    note = Notification.objects.get(kind=Notification.Kind.INVOICE_ISSUED)
    assert note.to == order.customer.email and note.context["number"] == invoice.number
    mail.outbox.clear()
    notification_deliver(notification_id=note.pk)
    (message,) = mail.outbox
    assert invoice.number in message.subject
    ((filename, content, mimetype),) = message.attachments
    assert (filename, mimetype) == (f"{invoice.number}.pdf", "application/pdf")
    assert content.startswith(b"%PDF") and b"/FontFile2" in content and b"ShopSansSC" in content


def test_the_pdf_embeds_the_font_and_names_buyer_and_number():
    _, v = shop()
    order = completed([(v, 1)])
    invoice = ask(order, title_type="organisation", title="某某科技有限公司", taxpayer_id=ORG_ID)
    body = invoice_document(invoice)
    assert body.startswith(b"%PDF") and b"/FontFile2" in body and b"ShopSansSC" in body
    assert b"/STSong-Light" not in body
    assert invoice.number.encode() in body  # the document's title


def test_a_requested_invoice_is_issued_when_the_order_completes():
    _, v = shop()
    order = paid([(v, 1)])
    invoice = ask(order)
    ship_all(order)
    assert Invoice.objects.get(pk=invoice.pk).state == Invoice.State.REQUESTED
    order_confirm_receipt(order_id=order.pk, customer=order.customer)
    invoice.refresh_from_db()
    assert invoice.state == Invoice.State.ISSUED and invoice.issued_by is None
    assert invoice.amount == order.total
    assert Notification.objects.filter(
        kind=Notification.Kind.INVOICE_ISSUED, key=f"invoice_issued:{invoice.pk}"
    ).exists()


def test_without_auto_issue_completion_leaves_the_request_to_finance(settings):
    settings.INVOICE_AUTO_ISSUE = False
    _, v = shop()
    order = paid([(v, 1)])
    invoice = ask(order)
    ship_all(order)
    order_confirm_receipt(order_id=order.pk, customer=order.customer)
    assert Invoice.objects.get(pk=invoice.pk).state == Invoice.State.REQUESTED
    assert not Sequence.objects.filter(name__startswith="invoice:").exists()


def test_asking_on_a_completed_order_issues_at_once():
    _, v = shop()
    order = completed([(v, 1)])
    invoice = ask(order)
    assert invoice.state == Invoice.State.ISSUED
    with pytest.raises(InvoiceError) as exc:
        ask(order, title="改名")
    assert exc.value.code == InvoiceErrorCode.ALREADY_ISSUED


def test_numbers_are_gap_free_across_blue_and_red_and_a_failed_issue_gives_its_number_back(settings):
    settings.INVOICE_AUTO_ISSUE = False
    _, v = shop(on_hand=20)
    first, second = paid([(v, 1)]), paid([(v, 1)])
    a, b = ask(first), ask(second)
    Order.objects.filter(pk=second.pk).update(status=Order.Status.CLOSED)  # refunded in full meanwhile
    with pytest.raises(InvoiceError) as exc:
        svc.invoice_issue(invoice_id=b.pk)
    assert exc.value.code == InvoiceErrorCode.NOT_INVOICEABLE
    issued = svc.invoice_issue(invoice_id=a.pk)
    assert issued.number[-8:] == "00000001"  # the refused issue used no number


# -- red invoices ---------------------------------------------------------------------------------


def _return_one(order, v):
    request = open_request(order, AfterSale.Kind.RETURN, AfterSale.Reason.QUALITY, {line_of(order, v).pk: 1})
    requests_svc.aftersale_approve(request_id=request.pk, actor=staff())
    requests_svc.aftersale_return_shipped(
        request_id=request.pk, customer=order.customer, carrier="own_fleet", tracking_number="RT-1"
    )
    requests_svc.aftersale_receive(
        request_id=request.pk, actor=staff(), restock={request.lines.get().pk: 1}, write_off={}
    )
    return RefundNote.objects.get(request=request)


def test_a_refund_after_issue_gets_one_red_invoice_for_its_amount():
    _, v = shop(price="100.00")
    order = completed([(v, 2)])
    blue = ask(order)
    assert blue.amount == order.total
    note = _return_one(order, v)
    red = Invoice.objects.get(kind=Invoice.Kind.RED)
    assert (red.original, red.refund_note, red.amount) == (blue, note, -note.amount)
    assert red.number[-8:] == "00000002"  # the same sequence as the blue one
    assert sum(line.amount for line in red.lines.all()) == red.amount
    assert red.lines.first().quantity == -1
    assert Notification.objects.filter(kind=Notification.Kind.INVOICE_RED, key=f"invoice_red:{red.pk}").exists()
    # Once per refund note, however often it is asked.
    assert svc.invoice_red_for_refund(note=note) == red
    assert Invoice.objects.filter(kind=Invoice.Kind.RED).count() == 1
    body = invoice_document(red)
    assert b"/FontFile2" in body


def test_a_refund_before_issue_is_taken_off_the_invoice_instead(settings):
    settings.INVOICE_AUTO_ISSUE = False
    _, v = shop(price="100.00")
    order = completed([(v, 2)])
    invoice = ask(order)
    note = _return_one(order, v)
    assert not Invoice.objects.filter(kind=Invoice.Kind.RED).exists()
    invoice = svc.invoice_issue(invoice_id=invoice.pk)
    assert invoice.amount == order.total - note.amount == D("100.00") + order.shipping_fee
    goods = invoice.lines.first()
    assert goods.quantity == 1 and goods.amount == D("100.00")
