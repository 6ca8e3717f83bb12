"""Cash on delivery and the wallet, chosen at checkout, finish with placing the order: no second
"pay" click, and so no payment window in which a forgotten click lets the order be cancelled.
A gateway's order still goes on to be paid."""

from decimal import Decimal

import pytest
from django.db.models import Sum
from django.urls import reverse

from cart.models import Cart
from fulfillment.models import Shipment
from orders.models import Order
from payments.models import Payment, Wallet, WalletEntry
from payments.services import wallet_adjust, wallet_top_up
from tests import factories
from tests.purchase import buyer_with_cart, last_message, shown_total, stocked_variant

pytestmark = pytest.mark.django_db
D = Decimal
PLACE = reverse("cart:place")
CHECKOUT = reverse("cart:checkout")


def place_form(cart, address, payment_method: str, **extra) -> dict:
    """What the confirm page posts to cart:place (its "shown" left out: a hand-made POST), with
    the total it shows."""
    return {
        "cart": str(cart.token),
        "address": str(address.pk),
        "shipping_method": "standard",
        "insured": "0",
        "payment_method": payment_method,
        "note": "",
        "total": shown_total(cart, address),
        **extra,
    }


@pytest.fixture
def buyer(client):
    """A logged-in customer whose cart holds ¥88.00 × 2 (¥176.00, free shipping over ¥99)."""
    user, address, cart = buyer_with_cart([(stocked_variant(on_hand=10, price="88.00"), 2)])
    client.force_login(user)
    return user, address, cart


def ledger_holds(user) -> None:
    """The wallet's balance is the sum of its entries, each balance_after the running sum."""
    wallet = Wallet.objects.get(user=user)
    running = D("0.00")
    for entry in wallet.entries.order_by("created_at", "pk"):
        running += entry.amount
        assert entry.balance_after == running, entry
    assert wallet.balance == running == (wallet.entries.aggregate(s=Sum("amount"))["s"] or 0)


def test_cash_on_delivery_at_checkout_completes_the_order(client, buyer):
    user, address, cart = buyer

    response = client.post(PLACE, place_form(cart, address, "cod"))

    order = Order.objects.get(customer=user)
    assert response.status_code == 302 and response["Location"] == order.get_absolute_url()
    assert last_message(response) == (
        f"Order {order.number} placed. Cash on delivery: pay the courier when the parcel arrives."
    )
    assert order.status == Order.Status.PAID and order.payment_method == "cod"
    payment = Payment.objects.get(order=order)
    assert (payment.provider, payment.state, payment.amount) == ("cod", Payment.State.AWAITING_COLLECTION, D("176.00"))
    # Its parcel is made and collects the cash, as when accepted on the payment page.
    parcels = list(Shipment.objects.filter(order=order))
    assert len(parcels) == 1 and parcels[0].cod_amount == D("176.00")
    assert list(order.events.values_list("to_status", flat=True).order_by("pk")) == ["pending_payment", "paid"]
    page = client.get(order.get_absolute_url())
    assert b'id="pay-now"' not in page.content


def test_the_wallet_at_checkout_pays_the_order_once(client, buyer):
    user, address, cart = buyer
    wallet_top_up(user=user, amount=D("200.00"), reference="top-up-1")

    response = client.post(PLACE, place_form(cart, address, "wallet"))

    order = Order.objects.get(customer=user)
    assert response["Location"] == order.get_absolute_url()
    assert last_message(response) == f"Order {order.number} placed and paid from your wallet. Thank you!"
    assert order.status == Order.Status.PAID and order.paid_at is not None
    payment = Payment.objects.get(order=order)
    assert (payment.provider, payment.state, payment.amount) == ("wallet", Payment.State.CAPTURED, D("176.00"))
    assert Wallet.objects.get(user=user).balance == D("24.00")
    assert WalletEntry.objects.filter(wallet__user=user, reason=WalletEntry.Reason.PAYMENT).count() == 1
    ledger_holds(user)
    assert Shipment.objects.filter(order=order).count() == 1


def test_a_short_wallet_leaves_the_order_awaiting_payment_on_its_payment_page(client, buyer):
    """The balance fell since the checkout page: nothing is charged, the order waits to be paid
    and the customer is told why and how to pay instead."""
    user, address, cart = buyer
    wallet_top_up(user=user, amount=D("200.00"), reference="top-up-1")
    staff = factories.UserFactory(is_staff=True)
    wallet_adjust(user=user, amount=D("-50.00"), note="spent elsewhere", actor=staff)  # ¥150.00 left

    response = client.post(PLACE, place_form(cart, address, "wallet"))

    order = Order.objects.get(customer=user)
    assert response["Location"] == order.get_absolute_url()
    message = last_message(response)
    assert message.startswith(f"Order {order.number} is placed but not paid: your wallet was short.")
    assert "(¥150.00) is less than the order total (¥176.00)" in message
    assert "choose another way to pay below" in message
    assert order.status == Order.Status.PENDING_PAYMENT
    assert not order.payments.exists() and not Shipment.objects.filter(order=order).exists()
    assert Wallet.objects.get(user=user).balance == D("150.00")
    assert not WalletEntry.objects.filter(wallet__user=user, reason=WalletEntry.Reason.PAYMENT).exists()
    ledger_holds(user)
    page = client.get(order.get_absolute_url())
    assert b'id="pay-now"' in page.content  # the payment page, its other methods offered
    assert Cart.objects.get(pk=cart.pk).state == Cart.State.ORDERED


@pytest.mark.parametrize("method", ["wallet", "cod"])
def test_a_replayed_place_order_post_gives_one_order_and_one_charge(client, buyer, method):
    user, address, cart = buyer
    wallet_top_up(user=user, amount=D("1000.00"), reference="top-up-1")
    form = place_form(cart, address, method)

    first = client.post(PLACE, form)
    again = client.post(PLACE, form)

    order = Order.objects.get(customer=user)
    assert first["Location"] == again["Location"] == order.get_absolute_url()
    assert order.status == Order.Status.PAID
    assert Payment.objects.filter(order=order).count() == 1
    assert Shipment.objects.filter(order=order).count() == 1
    charged = D("176.00") if method == "wallet" else D("0.00")
    assert Wallet.objects.get(user=user).balance == D("1000.00") - charged
    assert WalletEntry.objects.filter(wallet__user=user).count() == (2 if method == "wallet" else 1)
    ledger_holds(user)
    assert list(order.events.values_list("to_status", flat=True).order_by("pk")) == ["pending_payment", "paid"]


def test_a_replay_after_a_short_wallet_and_another_payment_begun_charges_nothing(client, buyer):
    """The wallet was short, the customer went on to pay online: a replayed checkout POST must
    not now take the wallet as well."""
    user, address, cart = buyer
    form = place_form(cart, address, "wallet")
    client.post(PLACE, form)
    order = Order.objects.get(customer=user)
    client.post(f"/payments/pay/{order.number}/", {"method": "sandbox"})
    assert order.payments.filter(provider="sandbox", state=Payment.State.PENDING).exists()
    wallet_top_up(user=user, amount=D("500.00"), reference="top-up-1")

    client.post(PLACE, form)

    order.refresh_from_db()
    assert order.status == Order.Status.PENDING_PAYMENT
    assert not order.payments.filter(provider="wallet").exists()
    assert Wallet.objects.get(user=user).balance == D("500.00")


def test_a_gateway_order_still_goes_on_to_be_paid(client, buyer):
    user, address, cart = buyer

    response = client.post(PLACE, place_form(cart, address, "sandbox"))

    order = Order.objects.get(customer=user)
    assert response["Location"] == order.get_absolute_url()
    assert last_message(response) == f"Order {order.number} placed. Please pay to confirm it."
    assert order.status == Order.Status.PENDING_PAYMENT and not order.payments.exists()
    page = client.get(order.get_absolute_url())
    assert b'id="pay-now"' in page.content


def test_the_checkout_pages_say_placing_completes_a_cod_or_wallet_order(client, buyer):
    user, address, _cart = buyer
    wallet_top_up(user=user, amount=D("500.00"), reference="T")  # a short wallet cannot be chosen
    page = client.get(CHECKOUT)  # the confirm page: the wallet, which covers the order, chosen
    assert "Placing the order completes it: ¥176.00 is paid from your wallet at once." in page.content.decode()

    form = {"address": address.pk, "shipping_method": "standard", "payment_method": "wallet", "note": ""}
    review = client.post(CHECKOUT, form).content.decode()
    assert "Placing the order completes it: ¥176.00 is paid from your wallet at once." in review
    form["payment_method"] = "cod"
    review = client.post(CHECKOUT, form).content.decode()
    assert "Placing the order completes it: you pay the courier in cash when the parcel arrives." in review
    form["payment_method"] = "sandbox"
    assert 'id="one-step-note"' not in client.post(CHECKOUT, form).content.decode()


def test_a_short_wallet_with_an_invoice_asked_for_lands_on_the_payment_page_first(client, buyer):
    user, address, cart = buyer

    response = client.post(PLACE, place_form(cart, address, "wallet", invoice="1"))

    order = Order.objects.get(customer=user)
    assert response["Location"] == order.get_absolute_url()
    assert "your wallet was short" in last_message(response)


def test_a_replay_of_a_cancelled_order_neither_pays_it_nor_calls_it_paid(client, buyer):
    user, address, cart = buyer
    form = place_form(cart, address, "wallet")
    client.post(PLACE, form)  # short: awaiting payment
    order = Order.objects.get(customer=user)
    client.post(reverse("orders:cancel", args=[order.number]))
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    wallet_top_up(user=user, amount=D("500.00"), reference="top-up-1")

    response = client.post(PLACE, form)

    assert last_message(response) == f"Order {order.number}: Cancelled."
    assert not order.payments.exists() and Wallet.objects.get(user=user).balance == D("500.00")
