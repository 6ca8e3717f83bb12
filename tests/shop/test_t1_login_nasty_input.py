"""Issue 12, T1: nasty input posted to the login form, with every password-checking slot busy
and with one free. A NUL or another control character in the email, the password or `next` is
refused with the clear 400 before a slot is taken; anything else (invalid UTF-8, a lone
surrogate, very long values, CR/LF, markup) gets the busy page (503) with the values escaped
when no slot is free, and the form with its error (200) when one is: never a 500, and a refused
login stores nothing (no axes record, no session, no change to the account).

A form may declare its charset. Django decodes a multipart form and the query string in it;
UTF-7 or unicode_escape turn "+2AA-" or "\\ud800" into a lone surrogate that no page can be
encoded with, "hex" is no text codec at all: both were a 500 on any page (the busy login page
among them) until ControlCharacterMiddleware refused another charset than UTF-8, as Django
refuses it for a urlencoded form."""

import importlib
from html.parser import HTMLParser
from urllib.parse import quote, unquote_plus, urlsplit

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from django.test.client import BOUNDARY, RequestFactory, encode_multipart
from django.utils.http import url_has_allowed_host_and_scheme

from shop.accounts import services
from shop.core import gcfreeze
from shop.core.middleware import has_control_character
from tests import factories
from tests.shop.login_spy import PROXY, SpyHasher, one_spied_slot, slots_held

pytestmark = pytest.mark.django_db
EMAIL = "li.lei@example.com"
PASSWORD = "correct horse battery staple"  # the factories' password
ORDINARY = {"username": quote(EMAIL), "password": "wrong", "next": quote("/cart/", safe="")}

# Percent-encoded, as a browser (or not) sends them in a urlencoded body.
NASTY = {
    "nul": "%00",
    "nul-inside": "li.lei%00%40example.com",
    "controls": "%01%08%1B%7F",
    "lone-surrogate": "%ED%A0%80",
    "invalid-utf8": "%C0%AF%FF",
    "long": "x" * 3000,
    "very-long": "y" * 300_000,
    "crlf": "%0D%0Anext%09line",
    "crlf-path": quote("/cart/\r\nSet-Cookie: a=b", safe=""),
    "crlf-host": quote("/\r\n/evil.example/", safe=""),
    "backslash-host": quote("/\\evil.example/", safe=""),
    "markup": quote('"><script>alert(1)</script>&amp;<next>', safe=""),
    "cjk": quote("订单😀ｑ１２３@例子.中国", safe=""),
}
FIELDS = ["username", "password", "next"]
CASES = [(field, name) for field in FIELDS for name in NASTY]


@pytest.fixture(autouse=True)
def _setup(settings):
    one_spied_slot(settings)


@pytest.fixture
def customer():
    user = factories.UserFactory(email=EMAIL)
    SpyHasher.calls.clear()
    return user


def browser(address: str = "198.51.100.40") -> Client:
    client = Client(
        REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=address, HTTP_ACCEPT_LANGUAGE="en", raise_request_exception=False
    )
    client.get("/account/login/")  # the CSRF cookie, as a browser has it
    return client


def post(client: Client, body: str | bytes, content_type: str = "application/x-www-form-urlencoded"):
    # generic(): the body is sent as given (post() would re-encode it in a declared charset).
    return client.generic("POST", "/account/login/", body, content_type=content_type)


def form_body(client: Client, field: str, nasty: str) -> str:
    values = ORDINARY | {field: nasty, "csrfmiddlewaretoken": client.cookies[settings.CSRF_COOKIE_NAME].value}
    return "&".join(f"{name}={value}" for name, value in values.items())


def decoded(percent_encoded: str) -> str:
    """The value as Django reads it from a urlencoded body (UTF-8, invalid bytes replaced)."""
    return unquote_plus(percent_encoded, errors="replace")


class Inputs(HTMLParser):
    """The page's input values as a browser reads them (entities resolved), and its tags."""

    def __init__(self, html: str):
        super().__init__()
        self.values: dict[str, str] = {}
        self.tags: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attributes = dict(attrs)
        if tag == "input" and "name" in attributes:
            self.values[attributes["name"]] = attributes.get("value") or ""


def assert_nothing_stored(user) -> None:
    assert AccessAttempt.objects.count() == AccessLog.objects.count() == AccessFailureLog.objects.count() == 0
    assert Session.objects.count() == 0
    fresh = type(user).objects.get(pk=user.pk)
    assert (fresh.password, fresh.last_login, fresh.email) == (user.password, user.last_login, user.email)
    assert SpyHasher.calls == [] and slots_held() == 0


def assert_control_character_refusal(response) -> None:
    assert response.status_code == 400
    assert "control character" in response.content.decode()


@pytest.mark.parametrize(("field", "name"), CASES)
def test_nasty_input_on_a_busy_host_gets_the_busy_page_escaped_and_stores_nothing(customer, field, name):
    client = browser()
    nasty = NASTY[name]
    with services.password_check_slot():
        response = post(client, form_body(client, field, nasty))
    if has_control_character(decoded(nasty)):
        assert_control_character_refusal(response)
    else:
        assert response.status_code == 503, response.content[:300]
        assert response["Retry-After"] and "no-store" in response["Cache-Control"]
        page = Inputs(response.content.decode())
        assert "Too many people are signing in right now" in response.content.decode()
        # Escaped: a browser reads back exactly what was posted (the email cut at 254, an unsafe
        # next dropped), and no value made an element of its own.
        username = decoded(nasty if field == "username" else ORDINARY["username"])
        target = decoded(nasty if field == "next" else ORDINARY["next"])
        assert page.values["username"] == username[:254]
        safe = url_has_allowed_host_and_scheme(target, allowed_hosts={"testserver"})
        assert page.values["next"] == (target if safe else "")
        assert "script" not in page.tags and page.tags.count("input") == 4
        assert "password" not in page.values or page.values["password"] == ""  # never echoed
    assert_nothing_stored(customer)


@pytest.mark.parametrize(("field", "name"), CASES)
def test_nasty_input_with_a_free_slot_gets_the_form_again_never_a_500(customer, field, name):
    nasty = NASTY[name]
    client = browser()
    response = post(client, form_body(client, field, nasty))
    if has_control_character(decoded(nasty)):
        assert_control_character_refusal(response)
        assert_nothing_stored(customer)
        return
    assert response.status_code == 200, response.content[:300]
    assert 'class="form-error"' in response.content.decode()  # the form's own error
    assert "script" not in Inputs(response.content.decode()).tags
    # A wrong password or an email that is not one: no one signed in, the account unchanged
    # (a wrong password is counted by django-axes, as any other).
    assert Session.objects.count() == 0
    fresh = type(customer).objects.get(pk=customer.pk)
    assert (fresh.password, fresh.last_login) == (customer.password, customer.last_login)
    assert slots_held() == 0


@pytest.mark.parametrize("name", NASTY)
def test_the_right_password_with_a_nasty_next_signs_in_and_stays_on_the_site(customer, name):
    nasty = NASTY[name]
    client = browser()
    body = form_body(client, "next", nasty).replace("password=wrong", f"password={quote(PASSWORD)}")
    response = post(client, body)
    if has_control_character(decoded(nasty)):
        assert_control_character_refusal(response)
        return
    assert response.status_code == 302
    location = response["Location"]
    # On this site (a relative path is; a browser reads "\\" as "/"), and one header line.
    assert urlsplit(location.replace("\\", "/")).netloc in ("", "testserver")
    assert "\r" not in location and "\n" not in location


# -- a declared charset ---------------------------------------------------------------------------

# A value that decodes to a lone surrogate in the declared charset, or a charset that is no text codec.
CHARSETS = {"utf-7": b"+2AA-", "unicode_escape": b"\\ud800", "raw_unicode_escape": b"\\ud800", "hex": b"00"}


def multipart(client: Client, field: str, value: bytes) -> bytes:
    values = {"username": EMAIL, "password": "wrong", "next": "/cart/"}
    values["csrfmiddlewaretoken"] = client.cookies[settings.CSRF_COOKIE_NAME].value
    body = encode_multipart(BOUNDARY, values)
    ordinary = f'name="{field}"\r\n\r\n{values[field]}'.encode()
    return body.replace(ordinary, ordinary + value)


@pytest.mark.parametrize("busy_host", [True, False], ids=["busy", "free"])
@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("charset", CHARSETS)
def test_a_form_in_another_charset_than_utf8_is_refused_not_a_500(customer, busy_host, field, charset):
    client = browser()
    body = multipart(client, field, CHARSETS[charset])
    content_type = f"multipart/form-data; boundary={BOUNDARY}; charset={charset}"
    if busy_host:
        with services.password_check_slot():
            response = post(client, body, content_type)
    else:
        response = post(client, body, content_type)
    assert response.status_code == 400
    assert_nothing_stored(customer)


def test_a_multipart_form_in_utf8_with_bytes_that_are_not_utf8_is_read_with_replacements(customer):
    client = browser()
    body = multipart(client, "username", b"\xed\xa0\x80\xff")
    plain = f"multipart/form-data; boundary={BOUNDARY}"
    for content_type in (plain, f"{plain}; charset=UTF-8"):
        with services.password_check_slot():
            response = post(client, body, content_type)
        assert response.status_code == 503
        assert Inputs(response.content.decode()).values["username"].startswith(EMAIL + "\ufffd")
    assert_nothing_stored(customer)


@pytest.mark.parametrize("charset", [*CHARSETS, "rot13", "base64"])
def test_a_query_string_in_another_charset_than_utf8_is_refused_on_any_page(charset):
    """The same hole outside the login: a GET declaring a charset had its query string decoded in
    it. Through the handler the web processes run (shop.wsgi): Django's own test client builds
    Django's request, and a charset that is no text codec ("hex") failed right there, before any
    middleware (shop.core.handler)."""
    import shop.wsgi

    importlib.reload(shop.wsgi)  # as a gunicorn worker imports it
    assert request_finished.disconnect(dispatch_uid=gcfreeze._DISPATCH_UID)  # tests/shop/test_gcfreeze.py

    def get(query: str, content_type: str) -> int:
        environ = RequestFactory()._base_environ(
            PATH_INFO="/search/", QUERY_STRING=query, REQUEST_METHOD="GET", CONTENT_TYPE=content_type
        )
        statuses = []
        # As Django's test client does: the handler's signals would close the test's connection.
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            response = shop.wsgi.application(environ, lambda status, headers, *exc: statuses.append(status))
            b"".join(response)
            response.close()
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
        return int(statuses[0].split()[0])

    assert get("q=%2B2AA-%5Cud800", f"text/plain; charset={charset}") == 400
    assert get("", f"text/plain; charset={charset}") == 200  # no query string: nothing to decode
    assert get("q=%2B2AA-", "text/plain; charset=utf-8") == 200
