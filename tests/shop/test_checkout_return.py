"""Issue 11: a guest sent from checkout to log in or register comes back to checkout afterwards,
and never to another site."""

import pytest

from tests import factories
from tests.purchase import english, stocked_variant

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # the factories' password
NEW = {"email": "guest@example.com", "phone": "", "password1": "plum blossom 2024", "password2": "plum blossom 2024"}


@pytest.fixture
def guest_with_cart(client):
    english(client)
    client.post("/cart/add/", {"variant": stocked_variant().pk, "quantity": "1"})
    return client


def test_checkout_sends_a_guest_to_log_in_and_the_register_link_keeps_next(guest_with_cart):
    to_login = guest_with_cart.get("/checkout/")
    assert to_login.status_code == 302 and to_login.url == "/account/login/?next=/checkout/"
    page = guest_with_cart.get(to_login.url).content.decode()
    assert 'href="/account/register/?next=/checkout/"' in page
    register_page = guest_with_cart.get("/account/register/?next=/checkout/").content.decode()
    assert 'name="next" value="/checkout/"' in register_page
    assert 'href="/account/login/?next=/checkout/"' in register_page


def test_registering_from_checkout_returns_to_checkout(guest_with_cart):
    response = guest_with_cart.post("/account/register/", {**NEW, "next": "/checkout/"})  # the hidden field
    assert response.status_code == 302 and response.url == "/checkout/"
    assert guest_with_cart.get("/checkout/").status_code in (200, 302)  # signed in: no login redirect
    assert "/account/login/" not in guest_with_cart.get("/checkout/").get("Location", "")


def test_logging_in_from_checkout_returns_to_checkout(guest_with_cart):
    user = factories.UserFactory(email="li.lei@example.com")
    response = guest_with_cart.post(
        "/account/login/", {"username": user.email, "password": PASSWORD, "next": "/checkout/"}
    )
    assert response.status_code == 302 and response.url == "/checkout/"


@pytest.mark.parametrize("evil", ["https://evil.example/", "//evil.example/checkout/"])
def test_an_off_site_next_is_ignored(guest_with_cart, evil):
    registered = guest_with_cart.post("/account/register/", {**NEW, "next": evil})
    assert registered.status_code == 302 and registered.url == "/account/"
    form_page = guest_with_cart.get(f"/account/register/?next={evil}").content.decode()
    assert 'name="next"' not in form_page and "/account/login/?next=" not in form_page
    guest_with_cart.post("/account/logout/")
    factories.UserFactory(email="li.lei@example.com")
    logged_in = guest_with_cart.post(
        "/account/login/", {"username": "li.lei@example.com", "password": PASSWORD, "next": evil}
    )
    assert logged_in.status_code == 302 and logged_in.url == "/account/"
