"""Issue 12, P9: a login refused for want of a password-checking slot is answered by
LoginSlotMiddleware before the URL is resolved, the CSRF token checked, the view run or a
template rendered (the page is rendered once per language, each request's values put in), and
says the same as the view's answer did, in the visitor's language."""

import re
from unittest import mock

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.test.signals import template_rendered

from shop.accounts import services
from shop.accounts.views import LoginView
from tests import factories
from tests.purchase import english
from tests.shop.login_spy import PROXY, SpyHasher, one_spied_slot, slots_held

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture(autouse=True)
def _setup(settings):
    one_spied_slot(settings)


def browser(address: str = "198.51.100.30", language: str = "en") -> Client:
    client = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=address, HTTP_ACCEPT_LANGUAGE=language)
    client.get("/account/login/")  # the CSRF cookie, as a browser has it
    return client


def post_login(client: Client, data: dict, path: str = "/account/login/"):
    return client.post(path, data)


def rendered_templates():
    names: list[str] = []

    def record(sender, template, **kwargs):
        names.append(template.name)

    template_rendered.connect(record)
    return names, lambda: template_rendered.disconnect(record)


def test_a_refused_login_never_reaches_the_view_nor_a_template_after_the_first():
    client = browser()
    names, stop = rendered_templates()
    try:
        with services.password_check_slot(), mock.patch.object(LoginView, "post", side_effect=AssertionError):
            first = post_login(client, {"username": "li.lei@example.com", "password": "x"})
            second = post_login(client, {"username": "han.meimei@example.com", "password": "x"})
    finally:
        stop()
    assert first.status_code == second.status_code == 503
    assert names == ["shop/accounts/login_busy.html"]  # once for English, then reused
    assert 'value="han.meimei@example.com"' in second.content.decode()
    assert SpyHasher.calls == [] and slots_held() == 0


def _page(response) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "TOKEN", response.content.decode())


def _headers(response) -> dict:
    return {k: v for k, v in response.headers.items() if k not in ("Expires", "Content-Security-Policy")}


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize(
    "form",
    [
        {"username": "li.lei@example.com", "password": "x"},
        {"username": '"><script>alert(1)</script>&amp;<next>@example.com', "password": "x", "next": "/cart/?a=1&b=<2>"},
        {"username": "a@example.com", "password": "x", "next": "https://evil.example/"},
        {"password": "x"},
    ],
)
def test_the_early_answer_is_the_views_answer(language, form):
    """The same page and headers as the view's own (reached with a session cookie), in the
    visitor's language, hostile values escaped as the template escapes them."""
    early, through_view = browser(language=language), browser(language=language)
    through_view.cookies[settings.SESSION_COOKIE_NAME] = "not-a-session"  # the view's way, anonymous
    with services.password_check_slot():
        for _ in range(2):  # the second from the kept page
            answer = post_login(early, form)
        expected = post_login(through_view, form)
    assert answer.status_code == expected.status_code == 503
    assert _page(answer) == _page(expected)
    assert _headers(answer) == _headers(expected)
    assert answer.headers["Content-Language"] == language
    assert answer.cookies[settings.CSRF_COOKIE_NAME].value  # the CSRF cookie renewed, as before
    assert "<script>alert(1)" not in _page(answer) and "https://evil.example" not in _page(answer)
    assert SpyHasher.calls == []


def test_each_language_gets_its_own_page():
    with services.password_check_slot():
        chinese = post_login(browser(language="zh-hans"), {"username": "a@example.com", "password": "x"})
        english_page = post_login(browser(language="en"), {"username": "a@example.com", "password": "x"})
        chinese_again = post_login(browser(language="zh-hans"), {"username": "a@example.com", "password": "x"})
    assert "现在登录的人太多" in chinese.content.decode() and "现在登录的人太多" in chinese_again.content.decode()
    assert "Too many people are signing in right now" in english_page.content.decode()


def test_a_forged_post_finding_no_slot_is_refused_and_changes_nothing():
    client = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.31", enforce_csrf_checks=True)
    with services.password_check_slot():
        response = post_login(english(client), {"username": "li.lei@example.com", "password": "x"})
    assert response.status_code == 503 and SpyHasher.calls == []
    assert slots_held() == 0


def test_with_a_free_slot_the_login_holds_it_from_the_middleware_to_the_hash_once():
    user = factories.UserFactory(email="li.lei@example.com")
    SpyHasher.calls.clear()
    held = []
    verify = SpyHasher.verify

    def spy(self, password, encoded):
        held.append(slots_held())
        return verify(self, password, encoded)

    with mock.patch.object(SpyHasher, "verify", spy):
        response = post_login(browser(), {"username": user.email, "password": "correct horse battery staple"})
        assert response.status_code == 302 and held == [1]
        assert slots_held() == 0
        # A wrong password: still one slot, released; the form again with its error.
        response = post_login(browser("198.51.100.32"), {"username": user.email, "password": "wrong"})
    assert response.status_code == 200 and held == [1, 1] and slots_held() == 0


def test_a_signed_in_customer_posting_the_login_form_on_a_busy_host_is_sent_on_as_before():
    client = english(Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.33"))
    client.force_login(factories.UserFactory(email="li.lei@example.com"))
    with services.password_check_slot():
        response = post_login(client, {"username": "li.lei@example.com", "password": "x"})
    assert response.status_code == 302
