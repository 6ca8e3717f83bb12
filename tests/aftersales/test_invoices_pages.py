"""Invoices through the pages: the order page's invoice block and its form (errors shown on
their field, nothing written), checkout's "I need an invoice", the PDF download (own orders
only: 404 otherwise), and finance's admin (issue button and action, PDF)."""

import pytest
from django.urls import reverse

from aftersales.models import Invoice
from aftersales.services import invoices as svc
from aftersales.services.staff import CUSTOMER_SERVICE_GROUP, FINANCE_GROUP, aftersales_groups_ensure
from orders.models import Notification
from tests import factories
from tests.aftersales.support import completed, paid, shop
from tests.purchase import buyer_with_cart, english, last_message, shown_total

pytestmark = pytest.mark.django_db

ORG_ID = "91350100M000100Y43"


def logged_in(client, user):
    client.force_login(user)
    return english(client)


def form_url(order) -> str:
    return reverse("aftersales:invoice_request", args=[order.number])


def test_the_order_page_offers_the_form_and_a_mistyped_taxpayer_id_is_shown_on_its_field(client, settings):
    settings.INVOICE_AUTO_ISSUE = False
    _, v = shop()
    order = paid([(v, 1)])
    logged_in(client, order.customer)
    page = client.get(order.get_absolute_url())
    assert form_url(order) in page.content.decode()
    assert client.get(form_url(order)).status_code == 200
    data = {"title_type": "organisation", "title": "某某科技有限公司", "taxpayer_id": "91350100M000100Y44", "email": ""}
    response = client.post(form_url(order), data)
    assert response.status_code == 200
    assert response.context["form"].errors["taxpayer_id"] == [
        "This unified social credit code is mistyped: its last character does not match."
    ]
    assert not Invoice.objects.exists()
    response = client.post(form_url(order), data | {"taxpayer_id": ORG_ID})
    assert response.status_code == 302 and response["Location"] == order.get_absolute_url()
    invoice = Invoice.objects.get()
    assert (invoice.title_type, invoice.taxpayer_id, invoice.email) == ("organisation", ORG_ID, order.customer.email)
    page = client.get(order.get_absolute_url()).content.decode()
    assert 'id="invoice-requested"' in page and "某某科技有限公司" in page


def test_another_customer_s_order_form_and_invoice_answer_404(client):
    _, v = shop()
    order = completed([(v, 1)])
    invoice = svc.invoice_request(order_id=order.pk, customer=order.customer, title_type="personal", title="张三")
    assert invoice.state == Invoice.State.ISSUED
    logged_in(client, factories.UserFactory())
    assert client.get(form_url(order)).status_code == 404
    assert client.post(form_url(order), {"title_type": "personal", "title": "x"}).status_code == 404
    assert client.get(invoice.get_absolute_url()).status_code == 404
    assert client.get(reverse("aftersales:invoice_pdf", args=["FP000"])).status_code == 404
    client.logout()
    assert client.get(invoice.get_absolute_url()).status_code == 302  # to log in
    assert Invoice.objects.count() == 1


def test_the_customer_downloads_the_issued_invoice_and_its_red_one_from_the_order_page(client):
    _, v = shop()
    order = completed([(v, 1)])
    logged_in(client, order.customer)
    client.post(form_url(order), {"title_type": "personal", "title": "张三", "taxpayer_id": "", "email": ""})
    invoice = Invoice.objects.get()
    assert invoice.state == Invoice.State.ISSUED
    page = client.get(order.get_absolute_url()).content.decode()
    assert invoice.get_absolute_url() in page and invoice.number in page
    assert 'id="request-invoice"' not in page  # issued: no more changes
    response = client.get(invoice.get_absolute_url())
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF") and b"/FontFile2" in response.content
    assert f'filename="{invoice.number}.pdf"' in response["Content-Disposition"]


def test_checkout_with_i_need_an_invoice_goes_to_the_form_for_the_new_order(client):
    _, v = shop()
    user, address, cart = buyer_with_cart([(v, 1)])
    logged_in(client, user)
    response = client.post(
        reverse("cart:place"),
        {"cart": cart.token, "address": address.pk, "shipping_method": "standard", "insured": "0",
         "payment_method": "sandbox", "note": "", "invoice": "1", "total": shown_total(cart, address)},
    )  # fmt: skip
    order = user.orders.get()
    assert response.status_code == 302 and response["Location"] == form_url(order)
    response = client.post(form_url(order), {"title_type": "personal", "title": "张三", "taxpayer_id": "", "email": ""})
    assert last_message(response) == "We have your invoice details; the invoice is issued when the order completes."
    assert Invoice.objects.get(order=order).state == Invoice.State.REQUESTED


# -- the admin ------------------------------------------------------------------------------------


def member(group: str):
    user = factories.UserFactory(is_staff=True)
    user.groups.add(aftersales_groups_ensure()[group])
    return user


def test_finance_issues_with_the_button_and_the_action_and_downloads_the_pdf(client, settings):
    settings.INVOICE_AUTO_ISSUE = False
    _, v = shop(on_hand=20)
    first, second = completed([(v, 1)]), completed([(v, 1)])
    a = svc.invoice_request(order_id=first.pk, customer=first.customer, title_type="personal", title="张三")
    b = svc.invoice_request(order_id=second.pk, customer=second.customer, title_type="personal", title="李四")
    logged_in(client, member(FINANCE_GROUP))
    change = reverse("admin:aftersales_invoice_change", args=[a.pk])
    assert 'id="invoice-issue"' in client.get(change).content.decode()
    response = client.post(reverse("admin:aftersales_invoice_issue", args=[a.pk]))
    assert response.status_code == 302
    a.refresh_from_db()
    assert a.state == Invoice.State.ISSUED and a.issued_by is not None
    changelist = reverse("admin:aftersales_invoice_changelist")
    response = client.post(changelist, {"action": "issue_selected", "_selected_action": [a.pk, b.pk]}, follow=True)
    assert "1 invoice issued and emailed." in response.content.decode()
    b.refresh_from_db()
    assert b.state == Invoice.State.ISSUED and b.number[-8:] == "00000002"
    assert Notification.objects.filter(kind=Notification.Kind.INVOICE_ISSUED).count() == 2
    pdf = client.get(reverse("admin:aftersales_invoice_pdf", args=[b.pk]))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert client.get(changelist, {"state__exact": "issued", "kind__exact": "blue"}).status_code == 200


def test_customer_service_reads_invoices_but_cannot_issue(client, settings):
    settings.INVOICE_AUTO_ISSUE = False
    _, v = shop()
    order = completed([(v, 1)])
    invoice = svc.invoice_request(order_id=order.pk, customer=order.customer, title_type="personal", title="张三")
    logged_in(client, member(CUSTOMER_SERVICE_GROUP))
    page = client.get(reverse("admin:aftersales_invoice_change", args=[invoice.pk]))
    assert page.status_code == 200 and 'id="invoice-issue"' not in page.content.decode()
    assert client.post(reverse("admin:aftersales_invoice_issue", args=[invoice.pk])).status_code == 403
    invoice.refresh_from_db()
    assert invoice.state == Invoice.State.REQUESTED


def test_a_red_invoice_is_listed_on_the_order_page_and_downloadable(client):
    from tests.aftersales.test_invoices import _return_one

    _, v = shop(price="100.00")
    order = completed([(v, 2)])
    blue = svc.invoice_request(order_id=order.pk, customer=order.customer, title_type="personal", title="张三")
    _return_one(order, v)
    red = Invoice.objects.get(kind=Invoice.Kind.RED)
    logged_in(client, order.customer)
    page = client.get(order.get_absolute_url()).content.decode()
    assert red.number in page and f"cancels part of {blue.number}" in page and "-¥100.00" in page
    response = client.get(red.get_absolute_url())
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    logged_in(client, factories.UserFactory())
    assert client.get(red.get_absolute_url()).status_code == 404
