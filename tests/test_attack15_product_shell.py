"""Attacker's view of the product page's frame kept per process and language (catalog/product_shell,
issue 12, third session): nothing of one visitor may reach another's page."""

import pytest
from django.test import Client

import catalog.views
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def url(make_product, settings) -> str:
    settings.PAGE_CACHE_ENABLED = False
    return make_product(name="茶壶", name_en="Teapot").get_absolute_url()


def _template_page(client, url, monkeypatch, **extra):
    with monkeypatch.context() as patch:
        patch.setattr(catalog.views, "product_frame_render", lambda *args, **kwargs: None)
        return client.get(url, **extra)


def test_the_first_visitors_path_language_and_token_never_reach_the_next(url, monkeypatch):
    first = Client(enforce_csrf_checks=True)
    for _ in range(3):  # the body, then the frame built from this visitor's request
        first.get(url + "?ref=first-visitor-secret")
    page = Client().get(url)  # Chinese, by no cookie and no Accept-Language
    html = page.content.decode()
    assert "first-visitor-secret" not in html and 'lang="zh-hans"' in html
    assert "csrfmiddlewaretoken" not in html or 'name="csrfmiddlewaretoken" value=""' in html
    assert "csrftoken" not in page.cookies
    assert "catalog/product_detail.html" not in [t.name for t in page.templates]  # from the frame
    assert page.content == _template_page(Client(), url, monkeypatch).content
    english = Client().get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert 'lang="en"' in english.content.decode() and "first-visitor-secret" not in english.content.decode()
    assert english["Content-Language"] == "en" and page["Content-Language"] == "zh-hans"
    for response in (page, english):  # shared caches must keep the languages and sessions apart
        vary = {v.strip().lower() for v in response["Vary"].split(",")}
        assert {"cookie", "accept-language"} <= vary


def test_a_customer_signed_out_or_with_an_empty_session_sees_no_one_elses_page(url, monkeypatch):
    customer = factories.UserFactory(username="alice-private")
    client = Client()
    client.get(url)
    client.force_login(customer)
    signed_in = client.get(url).content.decode()
    assert "/account/login/" not in signed_in  # their account link, not the frame's
    client.post("/account/logout/")
    for visitor in (client, Client()):
        html = visitor.get(url).content.decode()
        assert "alice-private" not in html and "/account/login/" in html
    empty = Client()
    empty.cookies["sessionid"] = "no-such-session"  # a session cookie, nothing behind it
    page = empty.get(url)
    assert page.status_code == 200 and "/account/login/" in page.content.decode()
    assert page.content == _template_page(Client(), url, monkeypatch).content


def test_staff_see_their_admin_pages_only_through_their_own_session(url, admin_client):
    Client().get(url)
    staff_page = admin_client.get(url)
    assert "catalog/product_detail.html" in [t.name for t in staff_page.templates]  # not the frame
    visitor = Client().get(url).content.decode()
    assert "My account" not in visitor and "我的账户" not in visitor


def test_a_head_request_and_a_missing_product_build_no_frame_of_their_own(url, monkeypatch):
    head = Client().head(url)
    assert head.status_code == 200 and head.content == b""
    missing = Client().get("/p/no-such-product/")
    assert missing.status_code == 404
    assert Client().get(url).content == _template_page(Client(), url, monkeypatch).content


def test_a_frame_showing_a_csrf_token_is_not_kept_even_when_the_token_was_asked_for_before(rf, caplog):
    """Something earlier in the request (a middleware, the view) asked for the token: the frame
    must still not keep this visitor's token for the next ones."""
    import logging

    from django.contrib.auth.models import AnonymousUser
    from django.middleware.csrf import get_token
    from django.template import engines

    from catalog import product_shell

    request = rf.get("/p/x/")
    request.user = AnonymousUser()
    get_token(request)
    fields = "{{ title }}{{ canonical_url }}{{ meta_description }}{{ structured_data }}{{ body }}{{ reviews }}"
    for shows_token in ("{% csrf_token %}", "{{ csrf_token }}"):
        frame = engines["django"].from_string(shows_token + fields + "{{ request.get_full_path|urlencode }}")
        with caplog.at_level(logging.WARNING, logger="catalog.product_shell"):
            assert product_shell._build(request, frame) is None, shows_token
    assert "CSRF token" in caplog.text


def test_made_up_script_prefixes_do_not_grow_the_process(url, monkeypatch):
    """SCRIPT_NAME passed on by a proxy from the visitor: each prefix was a frame kept for good."""
    from catalog import product_shell

    for n in range(product_shell.MAX_FRAMES * 2):
        prefix = f"/made-up-{n}"
        page = Client().get(prefix + url, SCRIPT_NAME=prefix, PATH_INFO=url)
        assert page.status_code == 200
    assert len(product_shell._shells) <= product_shell.MAX_FRAMES
