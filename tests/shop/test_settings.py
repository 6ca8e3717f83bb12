"""The settings module, loaded in a fresh interpreter from nothing but the environment:
production refuses to start without a real secret, and with nothing set the shop runs on
its embedded default (SQLite under var/, eager Celery, console mail, local-memory caches)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Prints what the settings resolved to, as the running shop would see them.
REPORT = """
import json
import django
django.setup()
from django.conf import settings as s
from shop.celery import app
db = s.DATABASES["default"]
print(json.dumps({
    "DEBUG": s.DEBUG,
    "SECRET_KEY": s.SECRET_KEY,
    "db_engine": db["ENGINE"],
    "db_name": str(db["NAME"]),
    "var_dir": str(s.VAR_DIR),
    "media_root": str(s.MEDIA_ROOT),
    "celery_eager": s.CELERY_TASK_ALWAYS_EAGER,
    "celery_app_eager": app.conf.task_always_eager,
    "celery_broker": s.CELERY_BROKER_URL,
    "email_backend": s.EMAIL_BACKEND,
    "caches": {alias: [c["BACKEND"], c.get("LOCATION", "")] for alias, c in s.CACHES.items()},
    "staticfiles": s.STORAGES["staticfiles"]["BACKEND"],
    "allowed_hosts": s.ALLOWED_HOSTS,
}))
"""

pytestmark = pytest.mark.skipif(
    (ROOT / ".env").exists(), reason="a .env file in the project would feed these fresh interpreters"
)


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    """A new interpreter with only `env` (and what Python needs to start) in its environment."""
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DJANGO_SETTINGS_MODULE": "shop.settings"}
    if "HOME" in os.environ:
        base["HOME"] = os.environ["HOME"]
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _settings(**env: str) -> dict:
    done = _run(REPORT, **env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


SETUP = "import django; django.setup()"
REFUSAL = "With DEBUG off the shop needs a real SECRET_KEY"


def test_production_without_a_secret_key_refuses_to_start():
    done = _run(SETUP, DEBUG="0")
    assert done.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured" in done.stderr
    assert REFUSAL in done.stderr


def test_debug_defaults_to_off_so_a_missing_secret_is_refused_even_without_debug_set():
    done = _run(SETUP)
    assert done.returncode != 0
    assert REFUSAL in done.stderr


@pytest.mark.parametrize(
    "secret",
    ["short-key-of-31-characters-xxxx", "insecure-development-key-only-for-debug"],
    ids=["too short", "the development key"],
)
def test_production_refuses_weak_secret_keys(secret):
    done = _run(SETUP, DEBUG="0", SECRET_KEY=secret)
    assert done.returncode != 0
    assert REFUSAL in done.stderr


def test_production_with_a_real_secret_key_starts():
    secret = "k3y-" + "x7Qp9" * 9 + "Z"  # 50 characters
    assert len(secret) == 50
    done = _run(SETUP + "; print('ready')", DEBUG="0", SECRET_KEY=secret)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ready"
    resolved = _settings(DEBUG="0", SECRET_KEY=secret)
    assert resolved["DEBUG"] is False
    assert resolved["SECRET_KEY"] == secret
    assert resolved["staticfiles"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    assert resolved["allowed_hosts"] == []  # production names its hosts explicitly


def test_nothing_set_but_debug_runs_on_the_embedded_default():
    resolved = _settings(DEBUG="1")
    var = ROOT / "var"
    assert resolved["DEBUG"] is True
    assert resolved["var_dir"] == str(var)
    assert resolved["db_engine"] == "django.db.backends.sqlite3"
    assert Path(resolved["db_name"]).parent == var
    assert resolved["media_root"] == str(var / "media")
    assert resolved["celery_eager"] is True and resolved["celery_app_eager"] is True
    assert resolved["celery_broker"] == "memory://"
    assert resolved["email_backend"] == "django.core.mail.backends.console.EmailBackend"
    locmem = "django.core.cache.backends.locmem.LocMemCache"
    assert resolved["caches"]["default"][0] == locmem
    assert resolved["caches"]["pages"][0] == locmem
    # clearing the page cache must not clear counters: two separate stores
    assert resolved["caches"]["default"][1] != resolved["caches"]["pages"][1]
    assert resolved["allowed_hosts"] == ["127.0.0.1", "localhost"]


def test_services_set_in_the_environment_are_used():
    resolved = _settings(
        DEBUG="1",
        DATABASE_URL="postgres://shop@db.internal:5432/shop",
        CACHE_URL="redis://cache.internal:6379/1",
        CELERY_BROKER_URL="redis://cache.internal:6379/0",
    )
    assert resolved["db_engine"] == "shop.core.postgresql"  # Django's, with a cheaper health check
    assert resolved["db_name"] == "shop"
    assert resolved["celery_eager"] is False and resolved["celery_app_eager"] is False
    assert resolved["celery_broker"] == "redis://cache.internal:6379/0"
    backend, location = resolved["caches"]["default"]
    assert backend.endswith("RedisCache") and location == "redis://cache.internal:6379/1"
    assert resolved["caches"]["pages"][0] == backend
    # pages get the next database number on the same server
    assert resolved["caches"]["pages"][1] == "redis://cache.internal:6379/2"


def test_redis_url_alone_is_the_broker():
    resolved = _settings(DEBUG="1", REDIS_URL="redis://cache.internal:6379/0")
    assert resolved["celery_broker"] == "redis://cache.internal:6379/0"
    assert resolved["celery_eager"] is False


def test_page_cache_location_for_a_cache_url_without_database_number():
    resolved = _settings(DEBUG="1", CACHE_URL="redis://cache.internal:6379")
    assert resolved["caches"]["pages"][1].startswith("redis://cache.internal:6379/")
