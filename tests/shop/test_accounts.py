"""Customer accounts through their pages: register, log in and out, passwords, profile, address
book, the account overview, and the brakes on abuse (django-axes lockout, registration limit)."""

import re
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import time_machine
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.utils import timezone, translation

from orders.models import Notification
from payments.services import wallet_top_up
from shop.models import Address
from tests import factories
from tests.purchase import english, messages_of

pytestmark = pytest.mark.django_db
User = get_user_model()
PASSWORD = "correct horse battery staple"  # the factories' password
NEW_PASSWORD = "a brand new passphrase 42"


@pytest.fixture(autouse=True)
def _default_language_afterwards():
    """English pages leave their language active in this thread: restore the default."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def client():
    return english(Client())


@pytest.fixture
def customer():
    return factories.UserFactory(email="li.lei@example.com", language="en")  # mail in English


@pytest.fixture
def signed_in(client, customer):
    client.force_login(customer)
    return client


def register(client, email="han.meimei@example.com", password1="plum blossom 2024", password2=None, **extra):
    data = {"email": email, "phone": "", "password1": password1, "password2": password2 or password1, **extra}
    return client.post("/account/register/", data)


def login(client, email, password, **extra):
    return client.post("/account/login/", {"username": email, "password": password}, **extra)


def signed_in_user_id(client):
    return client.session.get("_auth_user_id")


# -- registration ---------------------------------------------------------------------------


def test_register_creates_the_customer_signs_in_and_sends_a_welcome_mail(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = register(client, email="Han.MeiMei@Example.com", phone="13800138000")

    assert response.status_code == 302 and response.url == "/account/"
    user = User.objects.get()
    assert user.email == "han.meimei@example.com"  # one spelling per address
    assert user.check_password("plum blossom 2024")
    assert user.phone == "13800138000"
    assert signed_in_user_id(client) == str(user.pk)
    welcome = Notification.objects.get(kind="welcome")
    assert (welcome.user, welcome.to, welcome.key) == (user, user.email, f"welcome:{user.pk}")
    assert welcome.state == Notification.State.SENT
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [user.email]
    assert mail.outbox[0].subject == "Welcome to the shop"


def test_the_welcome_row_is_written_even_before_any_mail_is_sent(client):
    """The outbox row is written in the registration's transaction; the mail follows on commit."""
    register(client)
    assert Notification.objects.filter(kind="welcome", state=Notification.State.PENDING).count() == 1
    assert mail.outbox == []


@pytest.mark.parametrize("spelling", ["li.lei@example.com", "LI.LEI@EXAMPLE.COM", " Li.Lei@example.com "])
def test_an_email_already_registered_is_refused_with_a_message(client, customer, spelling):
    response = register(client, email=spelling)

    assert response.status_code == 200
    assert "An account with this email already exists" in response.content.decode()
    assert response.context["form"].errors["email"]
    assert User.objects.count() == 1
    assert signed_in_user_id(client) is None
    assert not Notification.objects.exists()


@pytest.mark.parametrize(
    ("password1", "password2", "field", "text"),
    [
        pytest.param("12345678", None, "password1", "too common", id="common"),
        pytest.param("short1", None, "password1", "too short", id="short"),
        pytest.param("83749217364", None, "password1", "entirely numeric", id="numeric"),
        pytest.param("han.meimei@example", None, "password1", "too similar", id="like-the-email"),
        pytest.param("plum blossom 2024", "plum blossom 2025", "password2", "The two passwords differ", id="mismatch"),
    ],
)
def test_weak_or_mismatched_passwords_are_refused(client, password1, password2, field, text):
    response = register(client, password1=password1, password2=password2)

    assert response.status_code == 200
    assert any(text in e for e in response.context["form"].errors[field])
    assert not User.objects.exists()
    assert not Notification.objects.exists()


def test_registration_is_rate_limited_per_address_with_a_429_page(client):
    limit = int(settings.RATELIMIT_REGISTER.split("/")[0])
    # Frozen clock: django-ratelimit counts per time window, and a window must not end mid-test.
    with time_machine.travel(timezone.now(), tick=False):
        for i in range(limit):
            response = register(client, email=f"bot{i}@example.com")
            assert response.status_code == 302, i
            client.logout()
            english(client)  # logout() dropped every cookie, the language's too
        refused = register(client, email="one.more@example.com")
        other_address = english(Client(REMOTE_ADDR="10.1.2.3"))
        allowed_elsewhere = register(other_address, email="someone.else@example.com")
        form_still_shown = client.get("/account/register/")

    assert refused.status_code == 429
    assert "Too many requests" in refused.content.decode()
    assert not User.objects.filter(email="one.more@example.com").exists()
    assert User.objects.count() == limit + 1
    assert allowed_elsewhere.status_code == 302
    assert form_still_shown.status_code == 200  # only POSTs count


# -- logging in and out ---------------------------------------------------------------------


def test_login_with_email_and_password_then_logout_by_post(client, customer):
    response = login(client, "li.lei@example.com", PASSWORD)
    assert response.status_code == 302 and response.url == "/account/"
    assert signed_in_user_id(client) == str(customer.pk)

    assert client.get("/account/logout/").status_code == 405  # a link cannot log anyone out
    assert signed_in_user_id(client) == str(customer.pk)

    response = client.post("/account/logout/")
    assert response.status_code == 302
    assert signed_in_user_id(client) is None
    assert client.get("/account/").status_code == 302  # back to the login page


def test_login_with_a_wrong_password_is_refused(client, customer):
    response = login(client, "li.lei@example.com", "not my password")
    assert response.status_code == 200
    assert "Please enter a correct email address and password" in response.content.decode()
    assert signed_in_user_id(client) is None


def test_login_follows_next_but_never_off_site(client, customer):
    inside = client.post("/account/login/?next=/orders/", {"username": customer.email, "password": PASSWORD})
    assert inside.url == "/orders/"
    client.post("/account/logout/")
    outside = client.post(
        "/account/login/?next=https://evil.example/", {"username": customer.email, "password": PASSWORD}
    )
    assert outside.url == "/account/"


# -- passwords ------------------------------------------------------------------------------


def test_password_change(signed_in, customer):
    wrong = signed_in.post(
        "/account/password/",
        {"old_password": "wrong", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert wrong.status_code == 200 and wrong.context["form"].errors["old_password"]

    response = signed_in.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302 and response.url == "/account/"
    assert "Your password has been changed." in messages_of(response)
    customer.refresh_from_db()
    assert customer.check_password(NEW_PASSWORD)
    assert signed_in_user_id(signed_in) == str(customer.pk)  # still signed in on this device
    english_client = english(Client())
    assert login(english_client, customer.email, PASSWORD).status_code == 200
    assert login(english_client, customer.email, NEW_PASSWORD).status_code == 302


def test_password_reset_by_email_end_to_end(client, customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/account/password/reset/", {"email": "Li.Lei@example.com"})
    assert response.status_code == 302 and response.url == "/account/password/reset/sent/"

    # The mail went through the outbox like every other mail.
    notification = Notification.objects.get(kind="password_reset")
    assert (notification.user, notification.to, notification.state) == (customer, customer.email, "sent")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [customer.email]
    assert message.subject == "Reset your password"
    links = re.findall(r"https?://\S+/account/password/reset/[^/\s]+/[^/\s]+/", message.body)
    assert len(links) == 1
    assert links[0].startswith(settings.SITE_URL)

    page = client.get(urlsplit(links[0]).path, follow=True)  # Django swaps the token for a session key
    assert page.status_code == 200 and page.context["validlink"] is True
    set_password_url = page.redirect_chain[-1][0]
    response = client.post(set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302 and response.url == "/account/login/"
    customer.refresh_from_db()
    assert customer.check_password(NEW_PASSWORD)

    again = client.get(urlsplit(links[0]).path, follow=True)  # a link works once
    assert again.context["validlink"] is False
    assert login(english(Client()), customer.email, NEW_PASSWORD).status_code == 302


def test_password_reset_for_an_unknown_address_says_the_same_and_sends_nothing(
    client, customer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/account/password/reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302 and response.url == "/account/password/reset/sent/"
    assert not Notification.objects.exists()
    assert mail.outbox == []


# -- profile --------------------------------------------------------------------------------


def test_profile_edit(signed_in, customer):
    response = signed_in.post(
        "/account/profile/", {"first_name": "磊", "last_name": "李", "phone": "139 0013 9000", "language": "zh-hans"}
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.first_name, customer.last_name, customer.phone, customer.language) == (
        "磊",
        "李",
        "13900139000",  # stored in the national form (shop.core.phones)
        "zh-hans",
    )

    refused = signed_in.post("/account/profile/", {"first_name": "X", "last_name": "", "phone": "call me"})
    assert refused.status_code == 200 and refused.context["form"].errors["phone"]
    customer.refresh_from_db()
    assert customer.first_name == "磊"


# -- address book ---------------------------------------------------------------------------

ADDRESS = {
    "recipient": "李雷",
    "phone": "13800138000",
    "province": "330000",  # 浙江省 杭州市 西湖区 (division codes: shop.core.divisions)
    "city": "330100",
    "district": "330106",
    "street": "文三路 1 号",
    "postcode": "310000",
}


def defaults(user) -> list[str]:
    return list(Address.objects.filter(user=user, is_default=True).values_list("street", flat=True))


def test_address_book_keeps_exactly_one_default(signed_in, customer):
    # The first address becomes the default even when not marked so.
    response = signed_in.post("/account/addresses/new/", {**ADDRESS, "street": "first"})
    assert response.status_code == 302 and response.url == "/account/addresses/"
    assert defaults(customer) == ["first"]

    signed_in.post("/account/addresses/new/", {**ADDRESS, "street": "second"})
    assert defaults(customer) == ["first"]

    # A new address marked default takes the mark.
    signed_in.post("/account/addresses/new/", {**ADDRESS, "street": "third", "is_default": "on"})
    assert defaults(customer) == ["third"]

    # Marking another one default moves it.
    second = Address.objects.get(street="second")
    response = signed_in.post(f"/account/addresses/{second.pk}/", {**ADDRESS, "street": "second", "is_default": "on"})
    assert response.status_code == 302
    assert defaults(customer) == ["second"]

    # Unticking the only default does not leave the book without one.
    signed_in.post(f"/account/addresses/{second.pk}/", {**ADDRESS, "street": "second"})
    assert defaults(customer) == ["second"]

    # Deleting the default promotes another.
    response = signed_in.post(f"/account/addresses/{second.pk}/delete/")
    assert response.status_code == 302
    assert not Address.objects.filter(pk=second.pk).exists()
    assert len(defaults(customer)) == 1
    assert Address.objects.filter(user=customer).count() == 2

    # Deleting one that is not the default leaves the default alone.
    default = Address.objects.get(user=customer, is_default=True)
    other = Address.objects.filter(user=customer, is_default=False).get()
    signed_in.post(f"/account/addresses/{other.pk}/delete/")
    assert defaults(customer) == [default.street]

    signed_in.post(f"/account/addresses/{default.pk}/delete/")
    assert not Address.objects.filter(user=customer).exists()


def test_address_edit_and_list(signed_in, customer):
    signed_in.post("/account/addresses/new/", ADDRESS)
    address = Address.objects.get(user=customer)

    page = signed_in.get(f"/account/addresses/{address.pk}/")
    assert page.status_code == 200 and page.context["form"].instance == address
    signed_in.post(
        f"/account/addresses/{address.pk}/",
        {**ADDRESS, "city": "330200", "district": "330203", "street": "中山路 2 号"},
    )  # 宁波市 海曙区
    address.refresh_from_db()
    assert (address.city, address.street, address.user) == ("宁波市", "中山路 2 号", customer)

    listing = signed_in.get("/account/addresses/")
    assert listing.status_code == 200
    assert "中山路 2 号" in listing.content.decode()


@pytest.mark.parametrize(
    ("change", "field"),
    [({"phone": ""}, "phone"), ({"phone": "call me"}, "phone"), ({"postcode": "31OOOO"}, "postcode")],
)
def test_an_invalid_address_is_refused(signed_in, customer, change, field):
    response = signed_in.post("/account/addresses/new/", {**ADDRESS, **change})
    assert response.status_code == 200 and response.context["form"].errors[field]
    assert not Address.objects.exists()


def test_deleting_an_address_needs_a_post(signed_in, customer):
    address = factories.AddressFactory(user=customer)
    assert signed_in.get(f"/account/addresses/{address.pk}/delete/").status_code == 405
    assert Address.objects.filter(pk=address.pk).exists()


# -- overview -------------------------------------------------------------------------------


def test_overview_shows_the_wallet_balance_and_default_address(signed_in, customer):
    assert re.search(r'id="wallet-balance">¥0\.00<', signed_in.get("/account/").content.decode())

    wallet_top_up(user=customer, amount=Decimal("1234.50"), reference="T1")
    factories.AddressFactory(user=customer, street="世纪大道 8 号")
    page = signed_in.get("/account/").content.decode()
    assert re.search(r'id="wallet-balance">¥1,234\.50<', page)
    assert "世纪大道 8 号" in page


# -- django-axes ----------------------------------------------------------------------------


def test_five_failed_logins_lock_the_email_from_that_address_for_fifteen_minutes(client, customer):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        answers = [login(client, customer.email, "guess").status_code for _ in range(settings.AXES_FAILURE_LIMIT)]
        # The form again with its error, until the fifth failure, which axes answers with the lock.
        assert answers == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]

        locked = login(client, customer.email, PASSWORD)  # even the right password
        assert locked.status_code == 429
        assert "shop/accounts/locked_out.html" in [t.name for t in locked.templates]
        assert "locked for 15 minutes after 5 failed attempts" in locked.content.decode()
        assert signed_in_user_id(client) is None

        # The lock is on that email from that address: other pairs are not punished.
        other_customer = factories.UserFactory(email="other@example.com")
        assert login(english(Client()), other_customer.email, PASSWORD).status_code == 302
        assert login(english(Client(REMOTE_ADDR="10.9.8.7")), customer.email, PASSWORD).status_code == 302

    cooloff = settings.AXES_COOLOFF_TIME
    with time_machine.travel(start + cooloff - timedelta(seconds=1), tick=False):
        assert locked_out(client, customer)
        # AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT is off: trying during the lock does not
        # extend it, so the page's "15 minutes" holds.
    assert AccessAttempt.objects.get(username=customer.email).attempt_time == start

    with time_machine.travel(start + cooloff + timedelta(seconds=1), tick=False):
        response = login(client, customer.email, PASSWORD)
        assert response.status_code == 302 and response.url == "/account/"
        assert signed_in_user_id(client) == str(customer.pk)


def test_the_lock_ends_fifteen_minutes_after_the_last_attempt(client, customer):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(settings.AXES_FAILURE_LIMIT):
            login(client, customer.email, "guess")
        assert locked_out(client, customer)
    with time_machine.travel(start + settings.AXES_COOLOFF_TIME + timedelta(seconds=1), tick=False):
        response = login(client, customer.email, PASSWORD)
        assert response.status_code == 302
        assert signed_in_user_id(client) == str(customer.pk)


def locked_out(client, customer) -> bool:
    response = login(client, customer.email, PASSWORD)
    return response.status_code == 429 and signed_in_user_id(client) is None


def test_four_failures_then_success_resets_the_count(client, customer):
    with time_machine.travel(timezone.now(), tick=False):
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            login(client, customer.email, "guess")
        assert login(client, customer.email, PASSWORD).status_code == 302
        client.post("/account/logout/")
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            login(client, customer.email, "guess")
        assert login(client, customer.email, PASSWORD).status_code == 302
