"""The admin log's page and what it holds: superusers only, read only, filtered by staff member,
date, object type and action, searched by object; a wallet adjustment's balance before and
after; the address behind a trusted proxy; passwords never shown; customers' own writes
(checkout, reviews) never logged."""

from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from aftersales.models import Review
from cart.models import Cart
from orders.models import Order
from payments.models import Wallet
from payments.services import wallet_top_up
from shop.adminlog import changes_between, snapshot
from shop.models import AdminLogEntry
from tests import factories
from tests.aftersales.support import completed, line_of, shop
from tests.purchase import shown_total, stocked_variant
from tests.shop.adminforms import form_data

pytestmark = pytest.mark.django_db

LOG = reverse("admin:shop_adminlogentry_changelist")


def signed_in(user, **extra) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en", **extra)
    client.force_login(user)
    return client


def superuser(email: str = "root@example.com"):
    return factories.UserFactory(email=email, is_staff=True, is_superuser=True)


def a_wallet(balance: str = "", **user) -> Wallet:
    """A customer's wallet (every account has one), topped up to `balance` through the ledger."""
    customer = factories.UserFactory(**user)
    if balance:
        wallet_top_up(user=customer, amount=Decimal(balance), reference="TOPUP")
    return Wallet.objects.get(user=customer)


def adjust(client, wallet, amount: str, note: str = "补偿"):
    url = reverse("admin:payments_wallet_adjust", args=[wallet.pk])
    return client.post(url, {"amount": amount, "note": note})


def test_a_wallet_adjustment_records_the_balance_before_and_after_with_who_and_where():
    root = superuser()
    wallet = a_wallet("10.00")
    response = adjust(signed_in(root, REMOTE_ADDR="203.0.113.5"), wallet, "25.50")
    assert response.status_code == 302
    entry = AdminLogEntry.objects.get()
    assert (entry.actor, entry.actor_email, entry.ip) == (root, root.email, "203.0.113.5")
    assert (entry.kind, entry.action, entry.content_type.model_class()) == ("page", "adjust", Wallet)
    assert entry.object_pk == str(wallet.pk) and entry.object_repr == str(Wallet.objects.get(pk=wallet.pk))
    assert entry.changes == {"balance": ["10.00", "35.50"]}
    assert "Wallet adjusted." in entry.note

    page = signed_in(root).get(reverse("admin:shop_adminlogentry_change", args=[entry.pk])).content.decode()
    assert "<td>balance</td><td>10.00</td><td>35.50</td>" in page


def test_a_refused_adjustment_is_not_recorded():
    wallet = a_wallet("10.00")
    response = adjust(signed_in(superuser()), wallet, "-99.00")  # more than the balance
    assert response.status_code == 200 and response.context["form"].errors
    assert not AdminLogEntry.objects.exists()


def test_the_address_is_the_client_behind_a_trusted_proxy(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    wallet = a_wallet()
    client = signed_in(superuser(), REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.9.9.9, 198.51.100.77")
    adjust(client, wallet, "5.00")
    assert AdminLogEntry.objects.get().ip == "198.51.100.77"


def test_a_change_is_recorded_field_by_field_and_a_password_never_shows():
    root = superuser()
    staff = factories.UserFactory(email="clerk@example.com", is_staff=True, first_name="Li")
    client = signed_in(root)
    url = reverse("admin:shop_user_change", args=[staff.pk])
    data = form_data(client.get(url).content.decode(), "user_form")
    data["first_name"] = ["Wang"]
    assert client.post(url, data).status_code == 302
    entry = AdminLogEntry.objects.get()
    assert entry.kind == "change" and entry.changes["first_name"] == ["Li", "Wang"]

    password = reverse("admin:auth_user_password_change", args=[staff.pk])
    new = "Another long passphrase 42"
    client.post(password, {"password1": new, "password2": new, "usable_password": "true"})
    entry = AdminLogEntry.objects.latest("pk")
    before, after = entry.changes["password"]
    assert before != after and before.startswith("••••••") and after.startswith("••••••")
    staff.refresh_from_db()
    assert staff.password not in str(entry.changes) and new not in str(entry.changes)


def test_only_superusers_see_the_log_not_even_staff_given_its_permission():
    superuser()
    signed_in(superuser("other@example.com")).get(LOG)
    clerk = factories.UserFactory(is_staff=True)
    clerk.user_permissions.add(*Permission.objects.filter(content_type__app_label="shop"))
    assert signed_in(clerk).get(LOG).status_code == 403
    assert b"admin log" not in signed_in(clerk).get(reverse("admin:index")).content.lower()
    customer = signed_in(factories.UserFactory())
    response = customer.get(LOG)
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    assert Client().get(LOG).status_code == 302
    assert signed_in(superuser("third@example.com")).get(LOG).status_code == 200


def test_the_log_is_read_only_even_for_a_superuser():
    root = superuser()
    wallet = a_wallet()
    client = signed_in(root)
    adjust(client, wallet, "5.00")
    entry = AdminLogEntry.objects.get()
    change = reverse("admin:shop_adminlogentry_change", args=[entry.pk])
    assert client.get(reverse("admin:shop_adminlogentry_add")).status_code == 403
    page = client.get(change)
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.post(change, {"action": "tampered"}).status_code == 403
    assert client.post(reverse("admin:shop_adminlogentry_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    listing = client.get(LOG)
    assert listing.context["action_form"] is None  # no actions, not even delete
    entry.refresh_from_db()
    assert entry.action == "adjust" and AdminLogEntry.objects.count() == 1


def test_the_log_filters_by_staff_member_date_object_type_and_action_and_searches_objects():
    root, other = superuser(), superuser("other@example.com")
    wallet = a_wallet(email="wallet-owner@example.com")
    product = factories.ProductFactory(name="雨伞", is_active=True)
    with time_machine.travel("2026-03-02 10:00 +0800", tick=False):
        adjust(signed_in(root), wallet, "5.00")
    with time_machine.travel("2026-03-09 10:00 +0800", tick=False):
        signed_in(other).post(
            reverse("admin:catalog_product_changelist"),
            {"action": "make_inactive", "_selected_action": [product.pk], "index": "0"},
        )
    adjusted = AdminLogEntry.objects.get(action="adjust")
    hidden = AdminLogEntry.objects.get(action="make_inactive")
    assert hidden.changes == {"is_active": [True, False]}
    client = signed_in(root)

    def listed(**query) -> set[int]:
        response = client.get(LOG, query)
        assert response.status_code == 200, query
        return {entry.pk for entry in response.context["cl"].result_list}

    assert listed() == {adjusted.pk, hidden.pk}
    assert listed(actor__id__exact=other.pk) == {hidden.pk}
    assert listed(at__gte="2026-03-01 00:00:00+08:00", at__lt="2026-03-05 00:00:00+08:00") == {adjusted.pk}
    assert listed(content_type__id__exact=hidden.content_type_id) == {hidden.pk}
    assert listed(action="adjust") == {adjusted.pk}
    assert listed(kind="action") == {hidden.pk}
    assert listed(q="雨伞") == {hidden.pk}
    page = client.get(LOG).content.decode()
    assert "other@example.com" in page and "make_inactive" in page  # the filters' choices


def test_customers_checking_out_and_reviewing_leave_no_record(client):
    variant = stocked_variant(price="30.00")
    user = factories.UserFactory()
    address = factories.AddressFactory(user=user, province="上海")
    client.force_login(user)
    client.post("/cart/add/", {"variant": variant.pk, "quantity": "1"})
    choice = {"address": address.pk, "shipping_method": "standard", "payment_method": "sandbox"}
    cart = Cart.objects.get(user=user)
    total = shown_total(cart, address)
    assert client.post("/checkout/place/", {**choice, "cart": cart.token, "total": total}).status_code == 302
    assert Order.objects.filter(customer=user).exists()

    _places, v = shop()
    order = completed([(v, 1)])
    line = line_of(order)
    client.force_login(order.customer)
    response = client.post(
        f"/aftersales/reviews/order/{order.number}/", {"line": line.pk, f"line-{line.pk}-rating": "5"}
    )
    assert response.status_code == 302 and Review.objects.filter(order_line=line).exists()
    assert not AdminLogEntry.objects.exists()


def test_a_long_text_is_kept_short_yet_a_change_past_its_kept_start_still_shows():
    product = factories.ProductFactory(description="长" * 2000)
    before = snapshot(product)
    product.description = "长" * 1999 + "短"
    after = snapshot(product)
    assert len(before["description"]) < 700 and "2000 characters" in before["description"]
    assert list(changes_between(before, after)) == ["description"]


def test_an_action_on_many_rows_records_each_changed_row_once():
    products = [factories.ProductFactory(is_active=True) for _ in range(3)]
    already_hidden = factories.ProductFactory(is_active=False)
    client = signed_in(superuser())
    selected = [p.pk for p in products] + [already_hidden.pk]
    client.post(
        reverse("admin:catalog_product_changelist"),
        {"action": "make_inactive", "_selected_action": selected, "index": "0"},
    )
    entries = AdminLogEntry.objects.filter(action="make_inactive")
    assert sorted(int(e.object_pk) for e in entries) == sorted(p.pk for p in products)  # not the unchanged one
    assert all(e.changes == {"is_active": [True, False]} and e.kind == "action" for e in entries)


def test_a_staff_member_changing_their_own_password_on_the_admin_site_is_recorded(client):
    """The site's own page (not a model admin's): it used to leave no record."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(email="pw-staff@example.com", password="Old-pass-2468", is_staff=True)
    client.force_login(user)
    response = client.post(
        "/admin/password_change/",
        {"old_password": "Old-pass-2468", "new_password1": "New-pass-13579x", "new_password2": "New-pass-13579x"},
    )
    assert response.status_code == 302
    entry = AdminLogEntry.objects.get(action="password_change")
    assert entry.actor == user and entry.object_pk == str(user.pk) and "password" in entry.changes
    before, after = entry.changes["password"]
    assert before != after and "New-pass" not in str(entry.changes)
