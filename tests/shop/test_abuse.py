"""Brakes on abuse (issue 8): the client's address behind a trusted reverse proxy, login lockout
per address across usernames, and password-reset requests limited per address and per account.

In production gunicorn sits behind nginx, so every request arrives from the proxy's address: a
lockout keyed on REMOTE_ADDR would lock one customer's email (or the admin's) for everyone."""

from unittest import mock

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client, RequestFactory
from django.utils import timezone

from orders.models import Notification
from shop.core.net import client_ip
from tests import factories
from tests.purchase import english

pytestmark = pytest.mark.django_db
User = get_user_model()
PASSWORD = "correct horse battery staple"  # the factories' password
PROXY = "10.0.0.2"


@pytest.fixture
def behind_proxy(settings):
    settings.TRUSTED_PROXIES = [PROXY, "fd00::/8"]


@pytest.fixture(autouse=True)
def _frozen_clock():
    # django-ratelimit counts in fixed windows and axes in a cool-off: no window may end mid-test.
    with time_machine.travel(timezone.now(), tick=False):
        yield


def browser(remote: str = "127.0.0.1", forwarded: str | None = None) -> Client:
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return english(Client(**extra))


def via_proxy(client_address: str) -> Client:
    """A browser at `client_address` reaching gunicorn through the proxy, which appends the
    address it saw to X-Forwarded-For as nginx's $proxy_add_x_forwarded_for does."""
    return browser(PROXY, client_address)


def login(client, email, password):
    return client.post("/account/login/", {"username": email, "password": password})


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


# -- the client's address ---------------------------------------------------------------------


def address_of(remote: str, forwarded: str | None = None) -> str:
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **meta))


def test_without_trusted_proxies_the_address_is_remote_addr_and_the_header_is_ignored():
    assert settings.TRUSTED_PROXIES == []
    assert address_of("198.51.100.7") == "198.51.100.7"
    assert address_of("198.51.100.7", "203.0.113.5") == "198.51.100.7"


@pytest.mark.parametrize(
    ("remote", "forwarded", "client"),
    [
        (PROXY, "203.0.113.5", "203.0.113.5"),  # one proxy
        (PROXY, "1.2.3.4, 203.0.113.5", "203.0.113.5"),  # the client wrote the left part
        (PROXY, "203.0.113.5, 10.0.0.2", "203.0.113.5"),  # two of our proxies in a row
        (PROXY, "1.2.3.4,203.0.113.5 , 10.0.0.2", "203.0.113.5"),
        (PROXY, "2001:db8::1", "2001:db8::1"),
        (PROXY, "[2001:db8::1]", "2001:db8::1"),
        (PROXY, "::ffff:203.0.113.5", "203.0.113.5"),  # an IPv4 client on an IPv6 socket
        ("fd00::1", "203.0.113.5", "203.0.113.5"),  # a proxy inside a trusted network
        (PROXY, "10.0.0.2", "10.0.0.2"),  # only proxies: the proxy itself asking
        (PROXY, "", PROXY),  # the proxy did not say
        (PROXY, None, PROXY),
        (PROXY, "not-an-address", PROXY),  # never a key an attacker could vary freely
        (PROXY, "203.0.113.5, garbage", PROXY),
        ("198.51.100.7", "203.0.113.5", "198.51.100.7"),  # not a proxy: its header is its own invention
        ("198.51.100.7", "10.0.0.2", "198.51.100.7"),
    ],
)
def test_behind_trusted_proxies_the_client_is_the_right_most_untrusted_hop(behind_proxy, remote, forwarded, client):
    assert address_of(remote, forwarded) == client


def test_axes_and_ratelimit_both_use_the_helper():
    assert settings.AXES_CLIENT_IP_CALLABLE == "shop.core.net.client_ip"
    assert settings.RATELIMIT_IP_META_KEY == "shop.core.net.client_ip"


# -- login lockout behind the proxy -----------------------------------------------------------


def test_behind_the_proxy_one_clients_bad_passwords_do_not_lock_out_another(behind_proxy):
    customer = factories.UserFactory(email="li.lei@example.com")
    attacker = via_proxy("203.0.113.66")
    answers = [login(attacker, customer.email, "guess").status_code for _ in range(settings.AXES_FAILURE_LIMIT)]
    assert answers[-1] == 429  # the attacker is locked out of that email

    owner = via_proxy("198.51.100.20")
    response = login(owner, customer.email, PASSWORD)
    assert response.status_code == 302 and signed_in(owner)
    assert login(via_proxy("203.0.113.66"), customer.email, PASSWORD).status_code == 429


def test_the_admin_is_not_locked_out_by_someone_elses_guesses(behind_proxy):
    admin = factories.UserFactory(email="boss@example.com", is_staff=True, is_superuser=True)
    attacker = via_proxy("203.0.113.66")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attacker.post("/admin/login/", {"username": admin.email, "password": "guess"})
    assert attacker.post("/admin/login/", {"username": admin.email, "password": PASSWORD}).status_code == 429

    owner = via_proxy("198.51.100.20")
    response = owner.post("/admin/login/", {"username": admin.email, "password": PASSWORD})
    assert response.status_code == 302 and signed_in(owner)


def test_a_spoofed_forwarded_header_from_an_untrusted_address_is_ignored(behind_proxy):
    customer = factories.UserFactory(email="li.lei@example.com")
    for i in range(settings.AXES_FAILURE_LIMIT):
        # A new "client" each time, per the header: it must not escape the lock.
        login(browser("198.51.100.7", f"203.0.113.{i}"), customer.email, "guess")
    assert login(browser("198.51.100.7", "203.0.113.250"), customer.email, PASSWORD).status_code == 429
    # Nor can it pin the lock on someone else's address.
    assert login(via_proxy("203.0.113.1"), customer.email, PASSWORD).status_code == 302


def test_varying_the_left_part_of_the_header_through_the_proxy_does_not_escape_the_lock(behind_proxy):
    customer = factories.UserFactory(email="li.lei@example.com")
    for i in range(settings.AXES_FAILURE_LIMIT):
        login(via_proxy(f"192.0.2.{i}, 203.0.113.66"), customer.email, "guess")
    assert login(via_proxy("192.0.2.200, 203.0.113.66"), customer.email, PASSWORD).status_code == 429


# -- one address, many usernames --------------------------------------------------------------


def limit() -> int:
    return int(settings.RATELIMIT_LOGIN_FAILURES_PER_ADDRESS.split("/")[0])


def test_one_address_trying_many_usernames_is_stopped(behind_proxy):
    assert settings.RATELIMIT_LOGIN_FAILURES_PER_ADDRESS == "20/h"
    real = factories.UserFactory(email="real@example.com")
    stuffer = via_proxy("203.0.113.66")
    # One guess per email: axes (username + address) never sees a second failure for any of them.
    answers = [login(stuffer, f"victim{i}@example.com", "123456").status_code for i in range(limit())]
    assert answers == [200] * limit()

    with mock.patch.object(User, "check_password") as check_password:
        refused = login(stuffer, real.email, PASSWORD)  # even right credentials, from that address
    assert refused.status_code == 429
    assert "Too many requests" in refused.content.decode()
    check_password.assert_not_called()  # refused before any password was hashed
    assert not signed_in(stuffer)

    # The admin's login is held to the same rule.
    admin = factories.UserFactory(email="boss@example.com", is_staff=True, is_superuser=True)
    admin_try = stuffer.post("/admin/login/", {"username": admin.email, "password": PASSWORD})
    assert admin_try.status_code == 200 and not signed_in(stuffer)

    # Other addresses behind the same proxy are not affected.
    elsewhere = via_proxy("198.51.100.20")
    assert login(elsewhere, real.email, PASSWORD).status_code == 302


def test_successful_logins_do_not_count_against_the_address(behind_proxy):
    office = "203.0.113.80"  # many colleagues behind one NAT
    for i in range(limit() + 5):
        colleague = factories.UserFactory(email=f"colleague{i}@example.com")
        client = via_proxy(office)
        assert login(client, colleague.email, PASSWORD).status_code == 302, i


# -- password reset ---------------------------------------------------------------------------


def ask_reset(client, email):
    return client.post("/account/password/reset/", {"email": email})


def test_the_fourth_reset_request_for_one_account_in_an_hour_sends_nothing(
    behind_proxy, django_capture_on_commit_callbacks
):
    assert settings.RATELIMIT_PASSWORD_RESET_PER_EMAIL == "3/h"
    customer = factories.UserFactory(email="li.lei@example.com", language="en")
    answers = []
    with django_capture_on_commit_callbacks(execute=True):
        for i in range(4):  # from four addresses: the per-address limit is not what stops it
            answers.append(ask_reset(via_proxy(f"203.0.113.{i}"), "Li.Lei@example.com"))
    assert [(r.status_code, r.url) for r in answers] == [(302, "/account/password/reset/sent/")] * 4
    assert Notification.objects.filter(kind="password_reset", user=customer).count() == 3
    assert len(mail.outbox) == 3

    # An unknown address gets exactly the same answers: the limit reveals nothing.
    unknown = [ask_reset(via_proxy(f"198.51.100.{i}"), "nobody@example.com") for i in range(4)]
    assert [(r.status_code, r.url) for r in unknown] == [(302, "/account/password/reset/sent/")] * 4
    assert Notification.objects.filter(kind="password_reset").count() == 3


def test_reset_requests_from_one_address_are_limited_with_a_429(behind_proxy):
    assert settings.RATELIMIT_PASSWORD_RESET_PER_ADDRESS == "5/h"
    for i in range(3):
        factories.UserFactory(email=f"user{i}@example.com")
    flooder = via_proxy("203.0.113.66")
    answers = [ask_reset(flooder, f"user{i % 3}@example.com").status_code for i in range(5)]
    assert answers == [302] * 5
    refused = ask_reset(flooder, "user0@example.com")
    assert refused.status_code == 429
    assert "Too many requests" in refused.content.decode()
    assert flooder.get("/account/password/reset/").status_code == 200  # only requests count
    assert ask_reset(via_proxy("198.51.100.20"), "someone@example.com").status_code == 302
