"""Orders in the customer's language: a line copies the product's name and options in Chinese
and English when it is bought; the order's pages, the customer's mails, after-sales pages and
invoices read the copy in the reader's language; the warehouse's documents keep the Chinese.
Lines bought before the English copy existed are filled from the product by the migration."""

import importlib
import re

import pytest
from django.apps import apps
from django.core import mail
from django.urls import reverse
from django.utils import translation

from aftersales.services import invoices as invoices_svc
from aftersales.services.reviews import review_create, review_reply
from orders.models import Notification, Order, OrderLine
from orders.services import notification_deliver, order_cancel
from tests import factories
from tests.aftersales.support import completed, paid, ship_all, shop
from tests.fulfillment.support import placed_order
from tests.purchase import english

pytestmark = pytest.mark.django_db

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def flask(**product):
    """A product named in both languages whose variant is red (红色 / Red), stocked in Shanghai."""
    colour = factories.AttributeValueFactory(value="红色", value_en="Red")
    _, v = shop(name="保温杯", name_en="Vacuum flask", **product)
    v.options.set([colour])
    return v


def customer(language: str):
    return factories.UserFactory(email=f"buyer-{language}@example.com", language=language)


def order_for(language: str, **kwargs) -> Order:
    buyer = customer(language)
    return placed_order([(flask(), 1)], email=buyer.email, **kwargs)


def deliver(kind: str) -> mail.EmailMessage:
    mail.outbox.clear()
    notification_deliver(notification_id=Notification.objects.get(kind=kind).pk)
    (message,) = mail.outbox
    return message


def text_of(message) -> str:
    return "\n".join([message.subject, message.body, message.alternatives[0][0]])


# -- the copy ---------------------------------------------------------------------------------------


def test_a_line_copies_the_names_in_both_languages():
    order = order_for("zh-hans")
    line = order.lines.get()
    assert (line.product_name, line.variant_label) == ("保温杯", "红色")
    assert (line.product_name_en, line.variant_label_en) == ("Vacuum flask", "Red")
    with translation.override("en"):
        assert (line.display_name, line.display_options) == ("Vacuum flask", "Red")
    with translation.override("zh-hans"):
        assert (line.display_name, line.display_options) == ("保温杯", "红色")


def test_a_product_without_english_reads_in_chinese_on_english_pages():
    _, v = shop(name="月饼", name_en="")
    v.options.set([factories.AttributeValueFactory(value="莲蓉"), factories.AttributeValueFactory(value="大号")])
    line = placed_order([(v, 1)]).lines.get()
    assert (line.product_name_en, line.variant_label_en) == ("", "")
    with translation.override("en"):
        assert (line.display_name, line.display_options) == ("月饼", "大号 / 莲蓉")


def test_one_option_without_english_does_not_hide_the_others():
    _, v = shop()
    v.options.set([factories.AttributeValueFactory(value="红色", value_en="Red"),
                   factories.AttributeValueFactory(value="特大", attribute=factories.AttributeFactory(
                       code="size", name="尺码", name_en="Size", position=1))])  # fmt: skip
    line = placed_order([(v, 1)]).lines.get()
    assert (line.variant_label, line.variant_label_en) == ("红色 / 特大", "Red / 特大")


# -- pages ------------------------------------------------------------------------------------------


def test_the_order_page_and_list_read_the_line_in_the_page_s_language(client):
    order = order_for("en")
    client.force_login(order.customer)
    for url in (order.get_absolute_url(), reverse("orders:list")):
        chinese = client.get(url).content.decode()
        assert "保温杯" in chinese and "红色" in chinese and "Vacuum flask" not in chinese
        page = english(client).get(url).content.decode()
        assert "Vacuum flask" in page and "Red" in page
        assert "保温杯" not in page and "红色" not in page
        client.cookies.pop("django_language", None)


# -- mail -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "other"), [("en", "zh-hans"), ("zh-hans", "en")])
def test_an_order_mail_is_in_the_customer_s_language_whoever_caused_it(language, other):
    with translation.override(other):  # the request, a staff member or a task in the other language
        order = order_for(language)
    message = deliver(Notification.Kind.ORDER_PLACED)
    text = text_of(message)
    if language == "en":
        assert "Vacuum flask (Red) × 1" in message.body
        assert "We have your order" in message.body
        # Nothing Chinese but what the customer typed (the recipient's name).
        assert not CJK.search(text.replace(order.recipient, "")), CJK.findall(text)
    else:
        assert "保温杯 (红色) × 1" in message.body
        assert "Vacuum flask" not in text and "We have your order" not in text


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_status_in_a_cancellation_mail_is_in_the_customer_s_language(language):
    order = order_for(language)
    with translation.override("en" if language == "zh-hans" else "zh-hans"):
        order_cancel(order_id=order.pk, actor_kind="system", reason="payment timeout")
    status = Notification.objects.get(kind=Notification.Kind.ORDER_CANCELLED).context["status"]
    with translation.override(language):
        assert status == str(Order.Status.CANCELLED.label)
    assert bool(CJK.search(status)) == (language == "zh-hans")


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_parcel_mail_names_goods_and_carrier_in_the_customer_s_language(language):
    buyer = customer(language)
    order = paid([(flask(), 1)], email=buyer.email)
    with translation.override("zh-hans"):  # the warehouse's staff work in Chinese
        ship_all(order, deliver=False)
    note = Notification.objects.get(kind=Notification.Kind.SHIPMENT_SHIPPED)
    (line,) = note.context["lines"]
    if language == "en":
        assert (line["name"], line["options"], note.context["carrier"]) == ("Vacuum flask", "Red", "Own fleet")
        assert "Vacuum flask" in deliver(Notification.Kind.SHIPMENT_SHIPPED).body
    else:
        assert (line["name"], line["options"]) == ("保温杯", "红色")
        assert CJK.search(note.context["carrier"])


def test_a_reply_to_a_review_is_mailed_with_the_product_in_the_customer_s_language():
    buyer = customer("en")
    order = completed([(flask(), 1)], email=buyer.email)
    line = order.lines.get()
    review = review_create(order_line_id=line.pk, customer=buyer, rating=5, text="Keeps tea hot all day.")
    staff = factories.UserFactory(email="service@example.com", is_staff=True)
    with translation.override("zh-hans"):
        review_reply(review_id=review.pk, actor=staff, text="Thank you!")
    note = Notification.objects.get(kind=Notification.Kind.REVIEW_REPLY)
    assert (note.context["product"], note.context["options"]) == ("Vacuum flask", "Red")


# -- invoices ---------------------------------------------------------------------------------------


def test_invoice_lines_are_named_in_both_languages_and_read_in_the_reader_s():
    buyer = customer("en")
    order = paid([(flask(), 1)], email=buyer.email, insured=True)  # a fee line: insurance
    invoice = invoices_svc.invoice_request(order_id=order.pk, customer=buyer, title_type="personal", title="Li Lei")
    with translation.override("en"):  # finance working in English still writes both names
        invoice = invoices_svc.invoice_issue(invoice_id=invoice.pk)
    goods, fee = [x for x in invoice.lines.all() if x.name != str(invoices_svc.SHIPPING)]
    assert (goods.name, goods.options, goods.name_en, goods.options_en) == ("保温杯", "红色", "Vacuum flask", "Red")
    assert (fee.name, fee.name_en) == ("运费险", "Shipping insurance")
    with translation.override("zh-hans"):
        assert [(x.display_name, x.display_options) for x in (goods, fee)] == [("保温杯", "红色"), ("运费险", "")]
    with translation.override("en"):
        assert [(x.display_name, x.display_options) for x in (goods, fee)] == [
            ("Vacuum flask", "Red"),
            ("Shipping insurance", ""),
        ]


# -- the warehouse keeps Chinese ------------------------------------------------------------------


def test_packing_documents_stay_in_chinese_for_an_english_customer():
    from fulfillment.services import shipment_lines_described

    buyer = customer("en")
    order = paid([(flask(), 1)], email=buyer.email)
    (line,) = shipment_lines_described(shipment=order.shipments.get())
    assert (line.product_name, line.options) == ("保温杯", "红色")


# -- lines bought before the English copy -----------------------------------------------------------


def test_the_migration_fills_old_lines_from_the_product_as_it_is_now():
    order = order_for("en")
    OrderLine.objects.filter(order=order).update(product_name_en="", variant_label_en="")
    _, gone = shop(name="旧货", name_en="")
    old = placed_order([(gone, 1)]).lines.get()
    migration = importlib.import_module("orders.migrations.0010_line_english_names")
    migration.backfill_english(apps, None)
    line = order.lines.get()
    assert (line.product_name_en, line.variant_label_en) == ("Vacuum flask", "Red")
    old.refresh_from_db()
    assert (old.product_name_en, old.variant_label_en) == ("", "")  # nothing in English to take
