"""Checkout's one step for the wallet in one transaction: placing the order and paying it from
the wallet commit together, with one mail ("placed and paid", listing the lines) and one task
published; a short wallet still leaves the order placed, awaiting payment, with its "placed"
mail; a sell-out found after the debit takes nothing from the wallet."""

from decimal import Decimal
from unittest import mock

import pytest
from django.core import mail
from django.db import connection
from django.urls import reverse

from cart.exceptions import CartError, CartErrorCode
from cart.models import Cart
from fulfillment.models import Stock
from orders.models import Notification, Order
from orders.services import notification_deliver
from payments.models import Payment, Wallet, WalletEntry
from payments.services import wallet_top_up
from tests.purchase import buyer_with_cart, place, place_form, stocked_variant

D = Decimal
PLACE = reverse("cart:place")


def wallet_buyer(*, balance: str, on_hand: int = 10, language: str = "en"):
    """A customer (mail in `language`) whose cart holds ¥88.00 × 2 (¥176.00, free shipping)."""
    variant = stocked_variant(on_hand=on_hand, price="88.00", name="Vacuum flask", name_en="Vacuum flask")
    user, address, cart = buyer_with_cart([(variant, 2)])
    user.language = language
    user.save(update_fields=["language"])
    if D(balance):
        wallet_top_up(user=user, amount=D(balance), reference="top-up")
    return user, address, cart, variant


@pytest.mark.django_db(transaction=True)
def test_placing_and_paying_from_the_wallet_commit_once(client):
    """Was two commits (the order, then the wallet's payment in a transaction of its own)."""
    user, address, cart, _variant = wallet_buyer(balance="500.00")
    client.force_login(user)

    with mock.patch.object(connection, "commit", wraps=connection.commit) as commit:
        response = client.post(PLACE, place_form(cart, address))

    order = Order.objects.get(customer=user)
    assert response["Location"] == order.get_absolute_url()
    assert order.status == Order.Status.PAID
    assert commit.call_count == 1
    assert Payment.objects.get(order=order).state == Payment.State.CAPTURED
    assert Wallet.objects.get(user=user).balance == D("324.00")


@pytest.mark.django_db
def test_a_one_click_wallet_order_owes_one_mail_placed_and_paid(django_capture_on_commit_callbacks):
    """Was two mails (placed, then paid) and two tasks published for one click."""
    user, address, cart, _variant = wallet_buyer(balance="500.00")

    with django_capture_on_commit_callbacks() as callbacks:
        order = place(user, address, cart, payment_method="wallet")

    assert order.status == Order.Status.PAID and order.one_step[0].state == Payment.State.CAPTURED
    (notification,) = Notification.objects.filter(order=order)
    assert (notification.kind, notification.key) == ("order_paid", f"order_paid:{order.pk}")
    assert notification.context["placed"] is True
    assert [line["quantity"] for line in notification.context["lines"]] == [2]
    sends = [c for c in callbacks if c.__qualname__.startswith("notification_queue.")]
    assert len(sends) == 1, callbacks
    assert list(order.events.values_list("to_status", flat=True).order_by("pk")) == ["pending_payment", "paid"]

    mail.outbox.clear()
    notification_deliver(notification_id=notification.pk)
    (message,) = mail.outbox
    assert message.subject == f"Order {order.number} placed and paid"
    assert f"We have your order {order.number} and your payment of ¥176.00" in message.body
    assert "- Vacuum flask × 2" in message.body
    assert "Vacuum flask × 2" in message.alternatives[0][0]


@pytest.mark.django_db
def test_a_short_wallet_leaves_the_order_placed_with_its_placed_mail_and_nothing_taken():
    user, address, cart, variant = wallet_buyer(balance="100.00")

    order = place(user, address, cart, payment_method="wallet")

    payment, short = order.one_step
    assert payment is None and short.code == "insufficient_balance"
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING_PAYMENT and not order.payments.exists()
    assert list(Notification.objects.filter(order=order).values_list("kind", flat=True)) == ["order_placed"]
    assert Wallet.objects.get(user=user).balance == D("100.00")
    assert not WalletEntry.objects.filter(wallet__user=user, reason=WalletEntry.Reason.PAYMENT).exists()
    assert Stock.objects.get(variant=variant).reserved == 2  # placed: its units held until it times out
    assert Cart.objects.get(pk=cart.pk).state == Cart.State.ORDERED


@pytest.mark.django_db
def test_a_sell_out_found_after_the_debit_takes_nothing_from_the_wallet():
    """The wallet is debited before the stock rows are locked (the order a paid order's address
    change takes them in): a sell-out found then rolls the debit back with the rest."""
    user, address, cart, variant = wallet_buyer(balance="500.00", on_hand=10)
    Stock.objects.filter(variant=variant).update(on_hand=1)  # sold elsewhere since it went in the cart

    with pytest.raises(CartError) as error:
        place(user, address, cart, payment_method="wallet")

    assert error.value.code == CartErrorCode.OUT_OF_STOCK
    assert not Order.objects.filter(customer=user).exists()
    assert Wallet.objects.get(user=user).balance == D("500.00")
    assert list(WalletEntry.objects.filter(wallet__user=user).values_list("reason", flat=True)) == ["top_up"]
    assert Cart.objects.get(pk=cart.pk).state == Cart.State.OPEN
