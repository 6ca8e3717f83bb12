"""Browser tests: Debian's Chromium driven by Playwright's sync API against pytest-django's
live_server, on the seeded demo catalogue.

Playwright's sync API keeps an asyncio loop running in the main thread, which makes Django
refuse ORM calls from the test body ("async unsafe"); DJANGO_ALLOW_ASYNC_UNSAFE lifts that
for these tests. The browser is launched once per module and closed after it, so the loop
does not outlive the browser tests.
"""

import os
import shutil

import pytest
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


@pytest.fixture
def demo_catalogue(transactional_db, settings, tmp_path):
    """The demo catalogue: 80 products, the same in every test.

    The builder draws its demo photos from the same seeded random generator as the products,
    but only when the photo files are missing, so the first build in a run would differ from
    the later ones; an empty build first makes sure the photos exist. VAR_DIR points at a
    temporary directory because the builder writes the admin password to
    VAR_DIR/admin-password.txt and would otherwise overwrite the developer's file."""
    settings.VAR_DIR = tmp_path
    DemoBuilder(products=0, progress=False).build()
    return DemoBuilder(products=80, progress=False).build()
