"""Production is secure by default: `check --deploy` is clean with nothing but the required
variables set, every https-only default is on outside DEBUG and can be turned off from the
environment (bin/test and bin/stack do, for plain http on loopback), and a plain-http request
is sent to https except the health check. Media is not served by Django unless asked for."""

import json
import os
import secrets
import string
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    (ROOT / ".env").exists(), reason="a .env file in the project would feed these fresh interpreters"
)

# What the running shop would see, printed by a fresh interpreter.
REPORT = """
import json
import django
django.setup()
from django.conf import settings as s
from django.urls import Resolver404, resolve
try:
    resolve("/media/products/1/a.jpg")
    media_routed = True
except Resolver404:
    media_routed = False
print(json.dumps({
    "SECURE_SSL_REDIRECT": s.SECURE_SSL_REDIRECT,
    "SECURE_REDIRECT_EXEMPT": s.SECURE_REDIRECT_EXEMPT,
    "SECURE_HSTS_SECONDS": s.SECURE_HSTS_SECONDS,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": s.SECURE_HSTS_INCLUDE_SUBDOMAINS,
    "SECURE_HSTS_PRELOAD": s.SECURE_HSTS_PRELOAD,
    "SESSION_COOKIE_SECURE": s.SESSION_COOKIE_SECURE,
    "CSRF_COOKIE_SECURE": s.CSRF_COOKIE_SECURE,
    "SECURE_PROXY_SSL_HEADER": s.SECURE_PROXY_SSL_HEADER,
    "SECURE_REFERRER_POLICY": s.SECURE_REFERRER_POLICY,
    "SECURE_CROSS_ORIGIN_OPENER_POLICY": s.SECURE_CROSS_ORIGIN_OPENER_POLICY,
    "SILENCED_SYSTEM_CHECKS": s.SILENCED_SYSTEM_CHECKS,
    "SERVE_MEDIA": s.SERVE_MEDIA,
    "media_routed": media_routed,
}))
"""

# Everything that bin/test, bin/stack or bin/bench export to speak plain http: none of it may
# leak into the "production" interpreters below.
HTTP_OPT_OUTS = {
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_PROXY_SSL_HEADER",
    "SERVE_MEDIA",
}


def _production_env(**extra: str) -> dict[str, str]:
    """A production environment: DEBUG off, a random 50-character secret, one public host, the
    test run's database; nothing else (in particular none of the http opt-outs)."""
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "shop.settings",
        "DEBUG": "0",
        "SECRET_KEY": "".join(secrets.choice(alphabet) for _ in range(50)),
        "ALLOWED_HOSTS": "shop.example.com",
    }
    if "HOME" in os.environ:
        env["HOME"] = os.environ["HOME"]
    if "DATABASE_URL" in os.environ:
        env["DATABASE_URL"] = os.environ["DATABASE_URL"]
    assert not HTTP_OPT_OUTS & env.keys()
    return {**env, **extra}


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _settings(**env: str) -> dict:
    done = _run(["-c", REPORT], env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_check_deploy_is_clean_with_production_settings():
    done = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], _production_env())
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "WARNINGS" not in output and "security.W" not in output, output
    assert "System check identified no issues" in output, output


def test_production_defaults_are_secure():
    resolved = _settings(**_production_env())
    assert resolved["SECURE_SSL_REDIRECT"] is True
    assert resolved["SECURE_HSTS_SECONDS"] == 31_536_000
    assert resolved["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert resolved["SECURE_HSTS_PRELOAD"] is False  # the domain's owner opts in
    assert resolved["SILENCED_SYSTEM_CHECKS"] == ["security.W021"]  # only the preload reminder
    assert resolved["SESSION_COOKIE_SECURE"] is True
    assert resolved["CSRF_COOKIE_SECURE"] is True
    assert resolved["SECURE_PROXY_SSL_HEADER"] is None  # no header is trusted unless configured
    assert resolved["SECURE_REFERRER_POLICY"] == "same-origin"
    assert resolved["SECURE_CROSS_ORIGIN_OPENER_POLICY"] == "same-origin"
    assert resolved["SECURE_REDIRECT_EXEMPT"] == [r"^healthz$"]
    assert resolved["SERVE_MEDIA"] is False and resolved["media_routed"] is False


def test_each_default_can_be_changed_from_the_environment():
    resolved = _settings(
        **_production_env(
            SECURE_SSL_REDIRECT="0",
            SECURE_HSTS_SECONDS="3600",
            SECURE_HSTS_INCLUDE_SUBDOMAINS="0",
            SECURE_HSTS_PRELOAD="1",
            SESSION_COOKIE_SECURE="0",
            CSRF_COOKIE_SECURE="0",
            SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
            SECURE_REFERRER_POLICY="strict-origin-when-cross-origin",
            SECURE_CROSS_ORIGIN_OPENER_POLICY="same-origin-allow-popups",
            SERVE_MEDIA="1",
        )
    )
    assert resolved["SECURE_SSL_REDIRECT"] is False
    assert resolved["SECURE_HSTS_SECONDS"] == 3600
    assert resolved["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False
    assert resolved["SECURE_HSTS_PRELOAD"] is True
    assert resolved["SILENCED_SYSTEM_CHECKS"] == []  # preload on: nothing to silence
    assert resolved["SESSION_COOKIE_SECURE"] is False
    assert resolved["CSRF_COOKIE_SECURE"] is False
    assert resolved["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]  # a tuple, via JSON
    assert resolved["SECURE_REFERRER_POLICY"] == "strict-origin-when-cross-origin"
    assert resolved["SECURE_CROSS_ORIGIN_OPENER_POLICY"] == "same-origin-allow-popups"
    assert resolved["SERVE_MEDIA"] is True and resolved["media_routed"] is True


def test_a_malformed_proxy_header_setting_refuses_to_start():
    done = _run(["-c", "import django; django.setup()"], _production_env(SECURE_PROXY_SSL_HEADER="https"))
    assert done.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER" in done.stderr


def test_debug_keeps_plain_http_and_serves_media():
    env = _production_env(DEBUG="1")
    resolved = _settings(**env)
    assert resolved["SECURE_SSL_REDIRECT"] is False
    assert resolved["SECURE_HSTS_SECONDS"] == 0
    assert resolved["SESSION_COOKIE_SECURE"] is False and resolved["CSRF_COOKIE_SECURE"] is False
    assert resolved["SERVE_MEDIA"] is True and resolved["media_routed"] is True


# -- the same settings at work, in this process -------------------------------------------------


@pytest.fixture
def https_only(settings):
    """The production defaults that bin/test turns off for its plain-http servers."""
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    return settings


def test_plain_http_is_redirected_to_https_but_not_the_health_check(https_only):
    client = Client()  # a new client: SecurityMiddleware reads its settings when built
    response = client.get("/products/?page=2")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/products/?page=2"
    health = client.get("/healthz")
    assert health.status_code == 200 and health.content == b"ok"
    assert "Strict-Transport-Security" not in health  # never over plain http


def test_https_answers_with_hsts_and_secure_cookies(https_only, db):
    client = Client()
    response = client.get("/account/login/", secure=True)
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response.cookies["csrftoken"]["secure"] is True


def test_behind_a_configured_proxy_its_header_counts_and_nobody_elses(https_only, db):
    https_only.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    client = Client()
    proxied = client.get("/products/", headers={"X-Forwarded-Proto": "https"})
    assert proxied.status_code != 301  # the proxy said https: no loop of redirects
    https_only.SECURE_PROXY_SSL_HEADER = None
    spoofed = Client().get("/products/", headers={"X-Forwarded-Proto": "https"})
    assert spoofed.status_code == 301  # unconfigured, a client's claim changes nothing
