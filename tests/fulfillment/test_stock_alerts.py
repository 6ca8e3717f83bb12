"""Out-of-stock variants and "tell me when it is back": the cart refuses them, a customer asks
for an alert, and when stock arrives each waiting customer gets one mail through the outbox,
however often the stock arrives or the task runs."""

import threading

import pytest
from django.core import mail
from django.db import close_old_connections
from django.urls import reverse

from cart import services as cart_services
from cart.exceptions import CartError, CartErrorCode
from cart.models import Cart
from catalog.models import StockAlert
from fulfillment import services
from fulfillment.exceptions import FulfillmentError, FulfillmentErrorCode
from fulfillment.services.alerts import STOCK_BACK
from orders.models import Notification
from orders.services import notification_deliver, order_cancel
from tests import factories
from tests.fulfillment.support import placed_order, stock, variant, warehouses
from tests.purchase import english, last_message

pytestmark = pytest.mark.django_db


@pytest.fixture
def shelves(db):
    return warehouses()


@pytest.fixture
def sold_out(shelves):
    """A red T-shirt in XL whose stock ran out (its row exists, with nothing left)."""
    colour = factories.AttributeFactory(code="colour", name="颜色", name_en="Colour")
    size = factories.AttributeFactory(code="size", name="尺码", name_en="Size", position=1)
    tee = variant(name="纯棉T恤", name_en="Cotton T-shirt")
    tee.options.set(
        [
            factories.AttributeValueFactory(attribute=colour, value="红色", value_en="red"),
            factories.AttributeValueFactory(attribute=size, value="XL", value_en="XL"),
        ]
    )
    stock(shelves["sh"], tee, 0)
    return tee


def mails() -> list[Notification]:
    return list(Notification.objects.filter(kind=STOCK_BACK).order_by("pk"))


def waiting(variant, *, language="zh-hans", email=None) -> StockAlert:
    customer = factories.UserFactory(language=language, **({"email": email} if email else {}))
    alert, created = services.stock_alert_create(customer=customer, variant_id=variant.pk)
    assert created
    return alert


# -- the cart --------------------------------------------------------------------------------


def test_an_out_of_stock_variant_cannot_be_added_to_a_cart(sold_out):
    cart = Cart.objects.create()
    with pytest.raises(CartError) as refused:
        cart_services.cart_add(cart=cart, variant_id=sold_out.pk, quantity=1)
    assert refused.value.code == CartErrorCode.SOLD_OUT
    assert not cart.lines.exists()


def test_the_add_to_cart_page_says_out_of_stock_and_adds_nothing(client, sold_out):
    english(client)
    response = client.post(reverse("cart:add"), {"variant": sold_out.pk, "quantity": 1})
    assert response.status_code == 302
    assert "is out of stock" in last_message(response)
    assert not Cart.objects.filter(lines__isnull=False).exists()


# -- asking ----------------------------------------------------------------------------------


def test_an_alert_is_asked_for_once_and_only_for_what_is_out_of_stock(sold_out, shelves):
    customer = factories.UserFactory()
    first, created = services.stock_alert_create(customer=customer, variant_id=sold_out.pk)
    again, created_again = services.stock_alert_create(customer=customer, variant_id=sold_out.pk)
    assert created and not created_again and again.pk == first.pk

    stocked = variant(name="有货")
    stock(shelves["bj"], stocked, 3)
    with pytest.raises(FulfillmentError) as refused:
        services.stock_alert_create(customer=customer, variant_id=stocked.pk)
    assert refused.value.code == FulfillmentErrorCode.ALERT_IN_STOCK

    sold_out.product.is_active = False
    sold_out.product.save()
    with pytest.raises(FulfillmentError) as gone:
        services.stock_alert_create(customer=factories.UserFactory(), variant_id=sold_out.pk)
    assert gone.value.code == FulfillmentErrorCode.ALERT_UNAVAILABLE


# -- telling ---------------------------------------------------------------------------------


def test_stock_arriving_twice_mails_each_waiting_customer_once(sold_out, shelves, django_capture_on_commit_callbacks):
    alerts = [waiting(sold_out), waiting(sold_out)]
    with django_capture_on_commit_callbacks(execute=True):
        services.stock_receive(warehouse_id=shelves["sh"].pk, variant_id=sold_out.pk, quantity=5)
    with django_capture_on_commit_callbacks(execute=True):
        services.stock_receive(warehouse_id=shelves["bj"].pk, variant_id=sold_out.pk, quantity=5)
    # The task retried, or the sweeper passing by: nothing more.
    assert services.stock_alerts_notify(variant_id=sold_out.pk) == 0
    assert services.stock_alerts_sweep() == 0

    sent = mails()
    assert [n.key for n in sent] == [f"stock_back:{a.pk}" for a in alerts]
    assert {n.to for n in sent} == {a.customer.email for a in alerts}
    assert all(a.notified_at for a in StockAlert.objects.all())


def test_a_retried_task_after_a_lost_commit_mails_nothing_twice(sold_out, shelves):
    """The notifier run twice on the same alert (a retry after the worker died before it
    acknowledged) writes one outbox row: the second finds the alert notified."""
    waiting(sold_out)
    stock(shelves["sh"], sold_out, 2)  # the on-commit task does not run in this test's transaction
    assert services.stock_alerts_notify(variant_id=sold_out.pk) == 1
    assert services.stock_alerts_notify(variant_id=sold_out.pk) == 0
    assert len(mails()) == 1


def test_nothing_is_mailed_while_the_variant_is_still_out_of_stock(sold_out, shelves):
    waiting(sold_out)
    assert services.stock_alerts_notify(variant_id=sold_out.pk) == 0
    assert services.stock_alerts_sweep() == 0
    assert mails() == [] and StockAlert.objects.get().notified_at is None


def test_asking_again_after_being_told_opens_a_new_alert_and_a_new_mail(
    sold_out, shelves, django_capture_on_commit_callbacks
):
    alert = waiting(sold_out)
    with django_capture_on_commit_callbacks(execute=True):
        stock(shelves["sh"], sold_out, 1)
    stock(shelves["sh"], sold_out, 0)  # sold out again
    again, created = services.stock_alert_create(customer=alert.customer, variant_id=sold_out.pk)
    assert created and again.pk != alert.pk
    with django_capture_on_commit_callbacks(execute=True):
        stock(shelves["sh"], sold_out, 4)
    assert [n.key for n in mails()] == [f"stock_back:{alert.pk}", f"stock_back:{again.pk}"]


def test_units_released_by_a_cancelled_order_tell_the_waiting_customers(shelves, django_capture_on_commit_callbacks):
    last = variant(name="最后一件")
    stock(shelves["sh"], last, 1)
    order = placed_order([(last, 1)])  # reserves the only unit
    alert = waiting(last)
    with django_capture_on_commit_callbacks(execute=True):
        order_cancel(order_id=order.pk, actor_kind="customer", reason="changed my mind")
    assert [n.key for n in mails()] == [f"stock_back:{alert.pk}"]


def test_the_sweeper_tells_what_a_lost_task_did_not(sold_out, shelves):
    alert = waiting(sold_out)
    stock(shelves["sh"], sold_out, 3)  # committed, but its task never ran (a broker outage)
    assert services.stock_alerts_sweep() == 1
    assert [n.key for n in mails()] == [f"stock_back:{alert.pk}"]


@pytest.mark.django_db(transaction=True)
def test_two_restocks_at_once_send_one_mail(shelves):
    """Two warehouses receive the variant in the same instant, each in its own transaction and
    thread, each queueing the notifier on commit (run eagerly here): one mail."""
    tee = variant(name="抢手货")
    stock(shelves["sh"], tee, 0)
    alert = waiting(tee)
    start = threading.Barrier(2)
    errors = []

    def receive(code: str) -> None:
        try:
            start.wait(timeout=10)
            services.stock_receive(warehouse_id=shelves[code].pk, variant_id=tee.pk, quantity=3)
        except Exception as exc:  # reported below: a thread's exception would be lost
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=receive, args=(code,)) for code in ("sh", "bj")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert [n.key for n in mails()] == [f"stock_back:{alert.pk}"]
    assert StockAlert.objects.get().notified_at is not None


@pytest.mark.django_db(transaction=True)
def test_two_notifiers_at_once_send_one_mail(shelves):
    """The task delivered twice at once (a redelivery racing the first run): one mail."""
    tee = variant(name="双份任务")
    stock(shelves["sh"], tee, 0)
    alert = waiting(tee)
    stock(shelves["sh"], tee, 2)
    Notification.objects.filter(kind=STOCK_BACK).delete()  # the on-commit run above; start again
    StockAlert.objects.filter(pk=alert.pk).update(notified_at=None)
    start = threading.Barrier(2)
    counts, errors = [], []

    def notify() -> None:
        try:
            start.wait(timeout=10)
            counts.append(services.stock_alerts_notify(variant_id=tee.pk))
        except Exception as exc:
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=notify) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(counts) == [0, 1]
    assert len(mails()) == 1


# -- the mail --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "expected", "other"),
    [("en", ["Cotton T-shirt", "red / XL"], "纯棉T恤"), ("zh-hans", ["纯棉T恤", "红色 / XL"], "Cotton T-shirt")],
)
def test_the_mail_speaks_the_customers_language(sold_out, shelves, language, expected, other, settings):
    settings.SITE_URL = "https://shop.example.com"
    waiting(sold_out, language=language)
    stock(shelves["sh"], sold_out, 2)
    services.stock_alerts_notify(variant_id=sold_out.pk)
    (notification,) = mails()
    mail.outbox.clear()
    assert notification_deliver(notification_id=notification.pk)
    (message,) = mail.outbox
    html = message.alternatives[0][0]
    for text in (message.subject, message.body, html):
        assert expected[0] in text and other not in text
    for text in (message.body, html):
        assert expected[1] in text
        assert f"https://shop.example.com{sold_out.product.get_absolute_url()}" in text
    if language == "en":
        assert message.subject == "Back in stock: Cotton T-shirt"


# -- the pages -------------------------------------------------------------------------------


def test_a_visitor_asking_is_sent_to_log_in_and_back_to_the_product(client, sold_out):
    response = client.post(reverse("stock_alerts:create"), {"variant": sold_out.pk})
    assert response.status_code == 302
    product_url = sold_out.product.get_absolute_url()
    assert response["Location"].startswith(reverse("accounts:login"))
    assert f"next={product_url}" in response["Location"].replace("%2F", "/")
    assert not StockAlert.objects.exists()


def test_a_customer_asks_sees_it_on_the_account_page_and_withdraws_it(client, sold_out):
    customer = factories.UserFactory()
    client.force_login(customer)
    english(client)
    response = client.post(reverse("stock_alerts:create"), {"variant": sold_out.pk})
    assert response["Location"] == sold_out.product.get_absolute_url()
    assert "once when it is back in stock" in last_message(response)
    alert = StockAlert.objects.get(customer=customer)

    page = client.get(reverse("accounts:overview")).content.decode()
    assert 'id="stock-alerts"' in page and "Cotton T-shirt" in page and "red / XL" in page
    assert reverse("stock_alerts:cancel", args=[alert.pk]) in page

    # Another customer cannot withdraw it.
    other = factories.UserFactory()
    client.force_login(other)
    client.post(reverse("stock_alerts:cancel", args=[alert.pk]))
    assert StockAlert.objects.filter(pk=alert.pk).exists()

    client.force_login(customer)
    response = client.post(reverse("stock_alerts:cancel", args=[alert.pk]))
    assert response["Location"] == reverse("accounts:overview")
    assert not StockAlert.objects.exists()
    assert 'id="stock-alerts"' not in client.get(reverse("accounts:overview")).content.decode()


def test_the_product_page_offers_the_alert_instead_of_the_cart_for_a_sold_out_variant(
    client, sold_out, shelves, settings
):
    settings.PAGE_CACHE_ENABLED = False
    url = sold_out.product.get_absolute_url()
    body = client.get(url).content.decode()
    assert 'id="add-to-cart" disabled' in body and 'id="buy-now" disabled' in body
    assert 'id="alert-form" class="stock-alert" >' in body  # shown
    assert f'name="variant" id="alert-variant" value="{sold_out.pk}"' in body

    stock(shelves["sh"], sold_out, 3)
    body = client.get(url).content.decode()
    assert 'id="add-to-cart" >' in body
    assert 'id="alert-form" class="stock-alert" hidden>' in body
