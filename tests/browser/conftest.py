"""Browser tests: Debian's Chromium driven by Playwright's sync API against pytest-django's
live_server, on the seeded demo catalogue.

Playwright's sync API keeps an asyncio loop running in the main thread, which makes Django
refuse ORM calls from the test body ("async unsafe"); DJANGO_ALLOW_ASYNC_UNSAFE lifts that
for these tests. The browser is launched once per module and closed after it, so the loop
does not outlive the browser tests.
"""

import os
import shutil
from types import SimpleNamespace

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.core.management import call_command
from django.db import connection, transaction
from django.test import override_settings
from playwright.sync_api import Browser, Page, sync_playwright

from shop.demo import DemoBuilder

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}
MOBILE = {"width": 390, "height": 844}
# A Chinese shopper's browser: without this Chromium sends Accept-Language: en-US and
# Django's LocaleMiddleware would pick English.
LOCALE = "zh-CN"
TIMEOUT_MS = 10_000
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # as tests/conftest.py's _fast_passwords


VISIBLE_IMAGES_LOADED = """() => Array.from(document.images)
    .filter(i => i.getBoundingClientRect().top < window.innerHeight)
    .every(i => i.complete)"""


def wait_for_visible_images(page: Page) -> None:
    """Wait until every image in the viewport has loaded (lazy ones further down may never load
    in a headless run). Polled with page.evaluate, which goes through the DevTools protocol:
    page.wait_for_function polls by evaluating a string in the page, which the shop's strict
    Content-Security-Policy (no 'unsafe-eval') refuses after the first try."""
    for _ in range(TIMEOUT_MS // 50):
        if page.evaluate(VISIBLE_IMAGES_LOADED):
            return
        page.wait_for_timeout(50)
    raise AssertionError("images in the viewport did not load within the timeout")


@pytest.fixture(scope="module")
def browser() -> Browser:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed (bin/test installs it with apt-get)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _page(browser: Browser, **options) -> Page:
    context = browser.new_context(locale=LOCALE, timezone_id="Asia/Shanghai", **options)
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


@pytest.fixture
def desktop_page(browser: Browser, live_server) -> Page:
    page = _page(browser, viewport=DESKTOP, base_url=live_server.url)
    yield page
    page.context.close()


@pytest.fixture
def mobile_page(browser: Browser, live_server) -> Page:
    page = _page(
        browser, viewport=MOBILE, device_scale_factor=2, is_mobile=True, has_touch=True, base_url=live_server.url
    )
    yield page
    page.context.close()


@pytest.fixture(autouse=True)
def _unhashed_static_urls(settings):
    """live_server serves /static/ through the staticfiles finders, which know the source
    names only, not the hashed names of the manifest storage used with DEBUG off."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


SNAPSHOT_SCHEMA = "demo_snapshot"


def _public_tables(cursor) -> list[str]:
    cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'django_migrations'")
    return sorted(row[0] for row in cursor.fetchall())


def _redis_clients() -> list:
    clients = {}
    for alias in ("default", "pages"):
        if isinstance(caches[alias], RedisCache):
            client = caches[alias]._cache.get_client(write=True)
            clients[repr(client.connection_pool)] = client
    return list(clients.values())


@pytest.fixture(scope="session")
def _demo_snapshot(django_db_setup, django_db_blocker, tmp_path_factory):
    """The demo catalogue, built once per run and kept: a copy of every table in a schema of its
    own and of the Redis keys the build wrote (recently viewed lists...). demo_catalogue puts that
    back in a few hundred milliseconds instead of building it again for every browser test.

    The builder draws its demo photos from the same seeded random generator as the products,
    but only when the photo files are missing, so the first build in a run would differ from
    the later ones; an empty build first makes sure the photos exist. VAR_DIR points at a
    temporary directory because the builder writes the admin password to
    VAR_DIR/admin-password.txt and would otherwise overwrite the developer's file."""
    var_dir = tmp_path_factory.mktemp("demo-var")
    with django_db_blocker.unblock(), override_settings(VAR_DIR=var_dir, PASSWORD_HASHERS=FAST_HASHERS):
        for alias in ("default", "pages"):
            caches[alias].clear()
        DemoBuilder(products=0, progress=False).build()
        report = DemoBuilder(products=80, progress=False).build()
        keys = []
        for client in _redis_clients():
            dumped = [(key, client.pttl(key), client.dump(key)) for key in client.scan_iter(count=1000)]
            keys.append([entry for entry in dumped if entry[2] is not None])
        with connection.cursor() as cursor:
            cursor.execute(f"DROP SCHEMA IF EXISTS {SNAPSHOT_SCHEMA} CASCADE; CREATE SCHEMA {SNAPSHOT_SCHEMA}")
            tables = []
            for table in _public_tables(cursor):
                cursor.execute(f'CREATE TABLE {SNAPSHOT_SCHEMA}."{table}" AS TABLE public."{table}"')
                if cursor.rowcount:
                    tables.append(table)
            # Generated columns cannot be inserted: copy the others.
            cursor.execute(
                "SELECT table_name, string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) "
                "FROM information_schema.columns WHERE table_schema = 'public' AND is_generated = 'NEVER' "
                "GROUP BY table_name"
            )
            columns = dict(cursor.fetchall())
            cursor.execute(
                "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename), last_value "
                "FROM pg_sequences WHERE schemaname = 'public'"
            )
            sequences = cursor.fetchall()
        call_command("flush", interactive=False, verbosity=0)  # empty again, as a finished test leaves it
    quoted = ", ".join(f'"{t}"' for t in tables)
    # Replica role: no triggers (the facet counts come from the snapshot too) and no FK checks.
    restore = ["SET LOCAL session_replication_role = replica", f"TRUNCATE {quoted} CASCADE"]
    restore += [
        f'INSERT INTO public."{t}" ({columns[t]}) SELECT {columns[t]} FROM {SNAPSHOT_SCHEMA}."{t}"'  # noqa: S608
        for t in tables
    ]
    restore += [
        f"SELECT setval('{name}', {value})" if value is not None else f"SELECT setval('{name}', 1, false)"
        for name, value in sequences
    ]
    yield SimpleNamespace(report=report, var_dir=var_dir, sql=restore, keys=keys)
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {SNAPSHOT_SCHEMA} CASCADE")


@pytest.fixture
def demo_catalogue(transactional_db, _demo_snapshot, settings, tmp_path):
    """The demo catalogue: 80 products, the same in every test (the session's build, restored)."""
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in _demo_snapshot.sql:
            cursor.execute(statement)
    ContentType.objects.clear_cache()  # the ids are the snapshot's
    for client, keys in zip(_redis_clients(), _demo_snapshot.keys, strict=True):
        pipe = client.pipeline(transaction=False)
        for key, ttl, value in keys:
            pipe.restore(key, max(ttl, 0), value, replace=True)
        pipe.execute()
    settings.VAR_DIR = tmp_path
    shutil.copy(_demo_snapshot.var_dir / "admin-password.txt", tmp_path / "admin-password.txt")
    return _demo_snapshot.report
