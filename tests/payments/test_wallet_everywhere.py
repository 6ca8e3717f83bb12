"""Every customer has a wallet, from the moment the account exists: on their account page
(balance and latest entries), at checkout (the balance beside the option, which cannot be chosen
when short, with the reason), and on their admin page where staff adjust it with a reason that
the admin log keeps. A wallet with entries is never deleted, in the admin or in code."""

import importlib
import re
from decimal import Decimal

import pytest
from django.apps import apps
from django.db.models import ProtectedError
from django.test import Client
from django.urls import reverse

from orders.models import Order
from payments.exceptions import PaymentError, PaymentErrorCode
from payments.models import Wallet, WalletEntry
from payments.services import wallet_adjust, wallet_pay, wallet_top_up
from shop.accounts.services import customer_register
from shop.models import AdminLogEntry, User
from tests import factories
from tests.purchase import buyer_with_cart, english, place, stocked_variant

pytestmark = pytest.mark.django_db
D = Decimal
CHECKOUT = reverse("cart:checkout")


def superuser_client() -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))
    return client


# -- a wallet from the start ----------------------------------------------------------------


def test_registering_opens_the_wallet(client):
    response = client.post(
        "/account/register/",
        {"email": "new@example.com", "phone": "", "password1": "plum blossom 2024", "password2": "plum blossom 2024"},
    )
    assert response.status_code == 302
    wallet = Wallet.objects.get(user__email="new@example.com")
    assert wallet.balance == D("0.00") and not wallet.entries.exists()
    # The service too, as any other way of making an account (createsuperuser, the demo).
    assert Wallet.objects.filter(user=customer_register(email="other@example.com", password="x" * 12)).exists()


def test_an_account_added_in_the_admin_has_its_wallet():
    response = superuser_client().post(
        reverse("admin:shop_user_add"),
        {"email": "added@example.com", "password1": "plum blossom 2024", "password2": "plum blossom 2024"},
    )
    assert response.status_code == 302
    assert Wallet.objects.filter(user__email="added@example.com").exists()


def test_the_migration_opens_a_wallet_for_each_account_made_before():
    old = [factories.UserFactory() for _ in range(3)]
    kept = Wallet.objects.get(user=old[0])
    wallet_top_up(user=old[0], amount=D("5.00"), reference="T")
    Wallet.objects.filter(user__in=old[1:]).delete()  # as before this change: no wallet yet
    migration = importlib.import_module("payments.migrations.0007_wallet_for_everyone")

    migration.open_missing_wallets(apps, None)

    assert Wallet.objects.filter(user__in=old).count() == 3
    assert Wallet.objects.get(user=old[0]) == kept and kept.entries.count() == 1  # untouched
    assert not User.objects.filter(wallet__isnull=True).exists()


# -- the account page -----------------------------------------------------------------------


def test_the_account_page_shows_the_balance_and_the_latest_entries(client):
    variant = stocked_variant(price="40.00")
    user, address, cart = buyer_with_cart([(variant, 1)])
    client.force_login(user)
    page = english(client).get(reverse("accounts:overview")).content.decode()
    assert re.search(r'id="wallet-balance">¥0\.00<', page) and 'id="wallet-empty"' in page

    wallet_top_up(user=user, amount=D("200.00"), reference="TOPUP-1")
    order = place(user, address, cart, payment_method="sandbox")
    wallet_pay(order_id=order.pk, user=user)
    wallet_adjust(user=user, amount=D("-12.00"), note="duplicate coupon", actor=None)

    page = client.get(reverse("accounts:overview")).content.decode()
    balance = D("200.00") - order.total - D("12.00")
    assert re.search(rf'id="wallet-balance">¥{balance:,.2f}<', page)
    entries = page.split('id="wallet-entries"')[1].split("</ul>")[0]
    # Newest first: the adjustment with its reason, the payment naming its order, the top-up.
    assert entries.index("duplicate coupon") < entries.index(order.number) < entries.index("TOPUP-1")
    assert f"−¥{order.total:,.2f}" in entries and "+¥200.00" in entries and "−¥12.00" in entries
    assert "Staff adjustment" in entries and "Top-up" in entries


# -- checkout -------------------------------------------------------------------------------


def wallet_option(page: str) -> str:
    return re.search(r'<input[^>]*value="wallet"[^>]*>[^<]*', page).group(0)


@pytest.fixture
def buyer(client):
    """A signed-in customer whose cart holds ¥120.00 of goods (free standard shipping)."""
    user, address, cart = buyer_with_cart([(stocked_variant(price="60.00"), 2)])
    client.force_login(user)
    english(client)
    return user, address, cart


def test_checkout_shows_the_balance_and_offers_the_wallet_when_it_is_enough(client, buyer):
    user, _address, _cart = buyer
    wallet_top_up(user=user, amount=D("500.00"), reference="T")
    option = wallet_option(client.get(CHECKOUT).content.decode())
    assert "disabled" not in option and "Wallet balance (¥500.00 available)" in option


def test_a_short_wallet_cannot_be_chosen_and_says_why(client, buyer):
    user, address, _cart = buyer
    wallet_top_up(user=user, amount=D("100.00"), reference="T")
    page = client.get(CHECKOUT).content.decode()
    option = wallet_option(page)
    assert "disabled" in option
    assert "Wallet balance (¥100.00): not enough for this order (at least ¥120.00)" in option
    assert not re.search(r'value="wallet"[^>]*checked|checked[^>]*value="wallet"', page)

    # A stale page or a hand-made POST choosing it anyway: the page again, "place order" disabled.
    form = {"address": address.pk, "shipping_method": "standard", "payment_method": "wallet", "note": ""}
    response = client.post(CHECKOUT, form)
    assert response.templates[0].name == "cart/checkout.html"
    assert "Your wallet balance is not enough for this order." in response.content.decode()
    assert 'id="place-order" disabled>' in response.content.decode()
    assert not Order.objects.filter(customer=user).exists()


def test_a_wallet_enough_for_the_cheapest_but_not_for_express_is_refused_on_the_confirm_page(client, buyer):
    user, address, _cart = buyer
    wallet_top_up(user=user, amount=D("125.00"), reference="T")  # ¥120.00 + free standard, not express
    assert "disabled" not in wallet_option(client.get(CHECKOUT).content.decode())

    form = {"address": address.pk, "shipping_method": "express", "payment_method": "wallet", "note": ""}
    response = client.post(CHECKOUT, form)
    page = response.content.decode()
    assert response.templates[0].name == "cart/checkout.html"
    assert "Your wallet balance (¥125.00) is less than the order total (¥" in page
    assert 'id="place-order" disabled>' in page
    form["shipping_method"] = "standard"
    assert 'id="place-order">' in client.post(CHECKOUT, form).content.decode()


# -- never deleted with entries -------------------------------------------------------------


def test_a_wallet_with_entries_is_never_deleted_in_code():
    customer = factories.UserFactory()
    wallet_top_up(user=customer, amount=D("1.00"), reference="T")
    wallet = Wallet.objects.get(user=customer)
    for delete in (wallet.delete, Wallet.objects.filter(pk=wallet.pk).delete, customer.delete):
        with pytest.raises(ProtectedError):
            delete()
    assert Wallet.objects.filter(pk=wallet.pk).exists() and WalletEntry.objects.filter(wallet=wallet).count() == 1


def test_an_account_with_an_empty_wallet_can_still_be_deleted_and_takes_it_along():
    customer = factories.UserFactory()
    wallet_pk = customer.wallet.pk
    client = superuser_client()
    delete = reverse("admin:shop_user_delete", args=[customer.pk])
    assert "permission to delete" not in client.get(delete).content.decode()
    assert client.post(delete, {"post": "yes"}).status_code == 302
    assert not User.objects.filter(pk=customer.pk).exists() and not Wallet.objects.filter(pk=wallet_pk).exists()


def test_the_admin_refuses_to_delete_a_wallet_with_entries_and_says_why():
    customer = factories.UserFactory()
    wallet_top_up(user=customer, amount=D("3.00"), reference="T")
    client = superuser_client()
    wallet = Wallet.objects.get(user=customer)
    assert client.get(reverse("admin:payments_wallet_delete", args=[wallet.pk])).status_code == 403
    changelist = client.get(reverse("admin:payments_wallet_changelist"))
    assert "delete_selected" not in changelist.content.decode()
    # Through the customer: the confirmation names the ledger's entries that hold it.
    delete = reverse("admin:shop_user_delete", args=[customer.pk])
    page = client.get(delete).content.decode()
    assert "would require deleting the following protected related objects" in page and "Wallet entry: 3.00" in page
    client.post(delete, {"post": "yes"})
    assert User.objects.filter(pk=customer.pk).exists() and Wallet.objects.filter(pk=wallet.pk).exists()


# -- staff adjust from the customer's page --------------------------------------------------


def test_staff_adjust_from_the_customers_page_with_a_reason_the_admin_log_keeps():
    customer = factories.UserFactory()
    wallet = customer.wallet
    client = superuser_client()
    customer_page = reverse("admin:shop_user_change", args=[customer.pk])
    page = client.get(customer_page).content.decode()
    link = re.search(r'href="([^"]*/adjust/\?next=[^"]*)">Adjust wallet<', page).group(1).replace("&amp;", "&")
    form = client.get(link)
    assert form.status_code == 200

    response = client.post(link, {"amount": "50.00", "note": "late delivery goodwill", "next": customer_page})
    assert response.status_code == 302 and response.url == customer_page  # back where it started
    wallet.refresh_from_db()
    assert wallet.balance == D("50.00")
    entry = wallet.entries.get()
    assert (entry.reason, entry.note, entry.amount) == (WalletEntry.Reason.ADJUSTMENT, "late delivery goodwill", 50)
    log = AdminLogEntry.objects.get(action="adjust")
    assert log.changes == {"balance": ["0.00", "50.00"]}
    assert "+50.00" in log.note and "late delivery goodwill" in log.note
    assert "late delivery goodwill" in client.get(customer_page).content.decode()  # the inline's entries

    # No reason, or nothing to adjust: refused with a message, nothing written (no 500).
    for data in ({"amount": "5.00", "note": " "}, {"amount": "0.00", "note": "nothing"}):
        refused = client.post(link, data)
        assert refused.status_code == 200 and refused.context["form"].errors
    # An outside address to go back to is ignored.
    elsewhere = client.post(link, {"amount": "1.00", "note": "x", "next": "https://evil.example/"})
    assert elsewhere.url == reverse("admin:payments_wallet_change", args=[wallet.pk])
    assert wallet.entries.count() == 2


def test_the_same_adjust_form_sent_twice_adjusts_once_and_a_new_form_adjusts_again():
    customer = factories.UserFactory()
    wallet = customer.wallet
    client = superuser_client()
    url = reverse("admin:payments_wallet_adjust", args=[wallet.pk])

    def form_key() -> str:
        page = client.get(url).content.decode()
        return re.search(r'name="key" value="([^"]+)"', page).group(1)

    key = form_key()
    data = {"amount": "20.00", "note": "goodwill", "key": key}
    first = client.post(url, data)
    again = client.post(url, data)  # a double click, or back and resend
    back = reverse("admin:payments_wallet_change", args=[wallet.pk])
    assert first.url == back and again.url == back
    assert "already recorded" in client.get(back).content.decode()
    wallet.refresh_from_db()
    assert wallet.balance == D("20.00") and wallet.entries.get().idempotency_key == key

    # The same adjustment asked for again on a fresh form is a new one.
    assert form_key() != key
    client.post(url, {**data, "key": form_key()})
    wallet.refresh_from_db()
    assert wallet.balance == D("40.00") and wallet.entries.count() == 2


def test_an_adjustment_key_moves_the_wallet_once_in_the_service():
    customer = factories.UserFactory()
    wallet_adjust(user=customer, amount=D("5.00"), note="goodwill", actor=None, key="k1")
    with pytest.raises(PaymentError) as raised:
        wallet_adjust(user=customer, amount=D("5.00"), note="goodwill", actor=None, key="k1")
    assert raised.value.code == PaymentErrorCode.ADJUSTMENT_REPEATED
    wallet_adjust(user=customer, amount=D("5.00"), note="goodwill", actor=None)  # no key: no check
    wallet_adjust(user=customer, amount=D("5.00"), note="goodwill", actor=None)
    customer.wallet.refresh_from_db()
    assert customer.wallet.balance == D("15.00")
