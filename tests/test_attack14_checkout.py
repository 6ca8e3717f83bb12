"""Issue 12, second session, an attacker's review of the one-page confirm and of placing and
paying in one transaction (cart/views.py checkout and checkout_place, cart/services.py
checkout_place_order, payments wallet_debit): another customer's address or cart by id,
tampered and garbage fields, replayed POSTs, a replay racing a cancellation, a wallet short by
one cent, CSRF and CSP on the new page, and the "placed and paid" mail sent once across a
retried delivery task."""

from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from cart.models import Cart
from fulfillment.models import Stock
from orders.models import Notification, Order
from orders.services import notification_deliver, order_cancel
from payments.models import Payment, Wallet, WalletEntry
from payments.services import wallet_top_up
from tests import factories
from tests.purchase import buyer_with_cart, english, stocked_variant

pytestmark = pytest.mark.django_db
D = Decimal
CHECKOUT = reverse("cart:checkout")
PLACE = reverse("cart:place")
HUGE = "9" * 30


@pytest.fixture
def buyer(client):
    """A signed-in customer (English pages) whose cart holds ¥60.00 × 2 (¥120.00, standard
    shipping free), with ¥500.00 in the wallet."""
    variant = stocked_variant(price="60.00", on_hand=10)
    user, address, cart = buyer_with_cart([(variant, 2)])
    english(client).force_login(user)
    wallet_top_up(user=user, amount=D("500.00"), reference="T")
    return user, address, cart, variant


def form(cart, address, /, **changes) -> dict:
    """The place form as the confirm page fills it for the fixture's cart (its total: ¥120.00)."""
    return {
        "cart": str(cart.token),
        "address": str(address.pk),
        "shipping_method": "standard",
        "insured": "0",
        "payment_method": "wallet",
        "total": "120.00",
    } | changes


def nothing_happened(user, variant, balance="500.00") -> None:
    assert not Order.objects.filter(customer=user).exists()
    assert Wallet.objects.get(user=user).balance == D(balance)
    assert Stock.objects.get(variant=variant).reserved == 0
    assert Cart.objects.get(user=user).state == Cart.State.OPEN


def test_another_customers_address_or_cart_places_nothing(client, buyer):
    user, address, cart, variant = buyer
    other, other_address, other_cart = buyer_with_cart([(stocked_variant(price="5.00"), 1)])

    for data in (form(cart, other_address), form(other_cart, address), form(other_cart, other_address)):
        response = client.post(PLACE, data)
        assert response.status_code == 302, data

    nothing_happened(user, variant)
    assert not Order.objects.filter(customer=other).exists()
    assert Cart.objects.get(pk=other_cart.pk).state == Cart.State.OPEN


def test_the_confirm_page_posted_back_with_another_customers_address_never_shows_it(client, buyer):
    _user, address, _cart, _variant = buyer
    stranger = factories.AddressFactory(user=factories.UserFactory(), recipient="Stranger Zhang")

    response = client.post(CHECKOUT, {"address": str(stranger.pk), "shipping_method": "standard"})

    assert response.status_code == 200
    assert "Stranger Zhang" not in response.content.decode()
    assert response.context["address"].pk == address.pk


@pytest.mark.parametrize(
    "changes",
    [
        {"address": "x"},
        {"address": HUGE},
        {"address": "-1"},
        {"address": ""},
        {"cart": "garbage"},
        {"cart": ""},
        {"cart": HUGE},
        {"payment_method": "bitcoin"},
        {"payment_method": "wallet "},
        {"payment_method": ""},
        {"shipping_method": "teleport"},
        {"shipping_method": ""},
        {"shown": "x:y:z"},
        {"shown": ""},
    ],
)
def test_tampered_or_garbage_fields_place_nothing_and_never_answer_500(client, buyer, changes):
    user, address, cart, variant = buyer

    response = client.post(PLACE, form(cart, address, **changes))

    assert response.status_code in (200, 302)
    nothing_happened(user, variant)


def test_a_replayed_place_post_debits_once_and_mails_once_across_retried_deliveries(client, buyer):
    """Two tabs (or a double click) posting the same place form: one order, one debit, one
    payment, one "placed and paid" notification; its delivery task run again (a redelivered
    Celery task, the sweeper) sends no second mail."""
    user, address, cart, variant = buyer

    first = client.post(PLACE, form(cart, address))
    again = client.post(PLACE, form(cart, address))
    cod_again = client.post(PLACE, form(cart, address, payment_method="cod"))  # the other tab chose otherwise

    order = Order.objects.get(customer=user)
    assert first["Location"] == again["Location"] == cod_again["Location"] == order.get_absolute_url()
    assert order.status == Order.Status.PAID and order.payment_method == "wallet"
    assert Wallet.objects.get(user=user).balance == D("380.00")
    assert WalletEntry.objects.filter(wallet__user=user, reason=WalletEntry.Reason.PAYMENT).count() == 1
    assert Payment.objects.filter(order=order).count() == 1
    assert Stock.objects.get(variant=variant).reserved == 2
    (notification,) = Notification.objects.filter(order=order)
    assert notification.kind == "order_paid" and notification.context["placed"] is True

    mail.outbox.clear()
    assert notification_deliver(notification_id=notification.pk) is True
    assert notification_deliver(notification_id=notification.pk) is False
    assert len(mail.outbox) == 1


def test_a_replay_after_the_order_was_cancelled_and_the_wallet_topped_up_pays_nothing(client, buyer):
    """Placed with a wallet short for it (awaiting payment), cancelled by the customer, the
    wallet topped up, then the old place form posted again: the cancelled order is not paid."""
    user, address, cart, variant = buyer
    Wallet.objects.filter(user=user).update(balance=D("10.00"))
    client.post(PLACE, form(cart, address))
    order = Order.objects.get(customer=user)
    assert order.status == Order.Status.PENDING_PAYMENT
    order_cancel(order_id=order.pk, actor=user, actor_kind="customer", reason="changed my mind")
    wallet_top_up(user=user, amount=D("500.00"), reference="T2")

    response = client.post(PLACE, form(cart, address))

    assert response["Location"] == order.get_absolute_url()
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert not Payment.objects.filter(order=order, state=Payment.State.CAPTURED).exists()
    assert Wallet.objects.get(user=user).balance == D("510.00")
    assert Stock.objects.get(variant=variant).reserved == 0


@pytest.mark.parametrize(("balance", "paid"), [("119.99", False), ("120.00", True)])
def test_a_wallet_short_by_one_cent_takes_nothing_and_an_exact_one_pays_to_zero(client, buyer, balance, paid):
    user, address, cart, variant = buyer
    Wallet.objects.filter(user=user).update(balance=D(balance))

    client.post(PLACE, form(cart, address))

    order = Order.objects.get(customer=user)
    assert order.total == D("120.00")
    assert (order.status == Order.Status.PAID) is paid
    assert Wallet.objects.get(user=user).balance == (D("0.00") if paid else D(balance))
    entries = WalletEntry.objects.filter(wallet__user=user, reason=WalletEntry.Reason.PAYMENT)
    assert list(entries.values_list("amount", "balance_after")) == ([(D("-120.00"), D("0.00"))] if paid else [])
    assert Stock.objects.get(variant=variant).reserved == 2  # placed either way, its units held


def test_placing_without_the_csrf_token_is_refused(buyer):
    user, address, cart, variant = buyer
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)

    assert browser.post(PLACE, form(cart, address)).status_code == 403
    assert browser.post(CHECKOUT, form(cart, address)).status_code == 403
    nothing_happened(user, variant)


def test_the_confirm_page_keeps_the_content_security_policy(client, buyer):
    """No inline script, no style attribute, no on* handler; the page's script is a static file."""
    import re

    for response in (client.get(CHECKOUT), client.post(CHECKOUT, {"shipping_method": "express", "insured": "1"})):
        page = response.content.decode()
        assert response.status_code == 200
        scripts = re.findall(r"<script\b([^>]*)>", page)
        assert scripts and all("src=" in attrs for attrs in scripts), scripts
        assert not re.search(r"\sstyle\s*=", page)
        assert not re.search(r"\son[a-z]+\s*=", page, re.IGNORECASE)
        assert "/static/shop/checkout." in page
        assert "unsafe-inline" not in response.get("Content-Security-Policy", "script-src")


@pytest.mark.django_db(transaction=True)
def test_two_tabs_placing_at_once_make_one_order_and_one_debit():
    """The second tab's place POST arrives while the first's transaction is still open: it waits
    on the cart's row lock and then returns the first's order, paying nothing again."""
    import threading
    import time

    from django.db import connection, connections, transaction

    from tests.purchase import place

    variant = stocked_variant(price="60.00", on_hand=10)
    user, address, cart = buyer_with_cart([(variant, 2)])
    wallet_top_up(user=user, amount=D("500.00"), reference="T")
    outcome: dict = {}
    pid: list[int] = []

    def second_tab():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pid.append(cursor.fetchone()[0])
            outcome["second"] = place(user, address, cart, payment_method="wallet")
        except Exception as exc:  # asserted on below
            outcome["second"] = exc
        finally:
            connections.close_all()

    def waiting() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid[0]])
            found = cursor.fetchone()
        return bool(found) and found[0] == "Lock"

    thread = threading.Thread(target=second_tab)
    with transaction.atomic():
        first = place(user, address, cart, payment_method="wallet")
        thread.start()
        deadline = time.monotonic() + 20
        while not (pid and waiting()):
            assert time.monotonic() < deadline, "the second tab never waited for the cart's lock"
            time.sleep(0.01)
    thread.join(timeout=30)

    second = outcome["second"]
    assert isinstance(second, Order), second
    assert second.pk == first.pk and not hasattr(second, "one_step")  # a replay: nothing paid by it
    assert Order.objects.filter(customer=user).count() == 1
    assert Wallet.objects.get(user=user).balance == D("380.00")
    assert WalletEntry.objects.filter(wallet__user=user, reason=WalletEntry.Reason.PAYMENT).count() == 1
    assert Stock.objects.get(variant=variant).reserved == 2


@pytest.mark.parametrize("field", ["total", "note", "shown", "payment_method"])
def test_a_nul_in_any_field_of_the_place_form_is_refused_and_places_nothing(client, buyer, field):
    user, address, cart, variant = buyer

    response = client.post(PLACE, form(cart, address, **{field: "120.00\x00" if field == "total" else "x\x00y"}))

    assert response.status_code == 400
    nothing_happened(user, variant)


def test_a_nul_in_the_confirm_page_posted_back_is_refused(client, buyer):
    user, address, _cart, variant = buyer

    response = client.post(CHECKOUT, {"address": f"{address.pk}\x00", "shipping_method": "standard"})

    assert response.status_code == 400
    nothing_happened(user, variant)
