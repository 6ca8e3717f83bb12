"""Issue 12: login attempts cannot starve the shop. Every brake answers before a password is
hashed (a hasher spy proves it), and a host hashes at most LOGIN_CONCURRENT_HASHES passwords at
once: a login beyond that is refused at once with a 503, not queued behind other hashes."""

import threading
import time

import pytest
import time_machine
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import Client
from django.utils import timezone

from shop.accounts import hashing, services
from shop.accounts.exceptions import HashingBusy
from tests import factories
from tests.purchase import english

pytestmark = pytest.mark.django_db
User = get_user_model()
PASSWORD = "correct horse battery staple"  # the factories' password
PROXY = "10.0.0.2"


class SpyHasher(MD5PasswordHasher):
    """MD5 (fast), recording every hash made or checked."""

    algorithm = "spy"
    calls: list[str] = []
    slots_held_while_verifying: list[int] = []

    def encode(self, password, salt):
        SpyHasher.calls.append("encode")
        return super().encode(password, salt)

    def verify(self, password, encoded):
        SpyHasher.calls.append("verify")
        SpyHasher.slots_held_while_verifying.append(slots_held())
        return super().verify(password, encoded)


@pytest.fixture(autouse=True)
def _spy_hasher(settings):
    settings.PASSWORD_HASHERS = ["tests.shop.test_login_limits.SpyHasher"]
    settings.TRUSTED_PROXIES = [PROXY]
    settings.LOGIN_CONCURRENT_HASHES = 1
    SpyHasher.calls.clear()
    SpyHasher.slots_held_while_verifying.clear()


@pytest.fixture(autouse=True)
def _frozen_clock():
    # django-ratelimit counts in fixed windows and axes in a cool-off: no window may end mid-test.
    with time_machine.travel(timezone.now(), tick=False):
        yield


@pytest.fixture
def customer():
    user = factories.UserFactory(email="li.lei@example.com")
    SpyHasher.calls.clear()  # the factory hashed its password
    return user


def via_proxy(client_address: str) -> Client:
    return english(Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=client_address))


def login(client, email, password):
    return client.post("/account/login/", {"username": email, "password": password})


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def slots_held() -> int:
    client, key = hashing._redis()
    return client.zcard(key)


# -- brakes answer before any hash ------------------------------------------------------------


def test_a_locked_out_username_and_address_is_refused_without_hashing(customer):
    attacker = via_proxy("203.0.113.66")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(attacker, customer.email, "guess")
    assert SpyHasher.calls.count("verify") == settings.AXES_FAILURE_LIMIT  # the last one locked it
    SpyHasher.calls.clear()

    response = login(attacker, customer.email, PASSWORD)
    assert response.status_code == 429 and not signed_in(attacker)
    assert SpyHasher.calls == []


def test_an_address_over_its_failures_is_refused_without_hashing(settings, customer):
    settings.RATELIMIT_LOGIN_FAILURES_PER_ADDRESS = "3/h"
    stuffer = via_proxy("203.0.113.66")
    for i in range(3):  # three usernames, none of them existing: Django still hashes, for timing
        assert login(stuffer, f"victim{i}@example.com", "123456").status_code == 200
    assert SpyHasher.calls == ["encode"] * 3
    SpyHasher.calls.clear()

    assert login(stuffer, customer.email, PASSWORD).status_code == 429
    admin = factories.UserFactory(email="boss@example.com", is_staff=True, is_superuser=True)
    SpyHasher.calls.clear()
    assert stuffer.post("/admin/login/", {"username": admin.email, "password": PASSWORD}).status_code == 200
    assert SpyHasher.calls == [] and not signed_in(stuffer)


def test_a_username_over_its_failures_from_many_addresses_is_refused_without_hashing(settings, customer):
    settings.RATELIMIT_LOGIN_FAILURES_PER_USERNAME = "3/h"
    for i in range(3):  # a botnet: one guess from each address, which axes never sees twice
        assert login(via_proxy(f"198.51.100.{i}"), customer.email, "guess").status_code == 200
    SpyHasher.calls.clear()

    # Even the right password, from a fresh address, and typed in another case: refused unhashed.
    fresh = via_proxy("192.0.2.10")
    refused = login(fresh, " LI.Lei@example.com", PASSWORD)
    assert refused.status_code == 429 and not signed_in(fresh)
    assert SpyHasher.calls == []
    # The admin's login too (its form's error, no hash).
    customer.is_staff = customer.is_superuser = True
    customer.save(update_fields=["is_staff", "is_superuser"])
    SpyHasher.calls.clear()
    admin_try = fresh.post("/admin/login/", {"username": customer.email, "password": PASSWORD})
    assert admin_try.status_code == 200 and not signed_in(fresh)
    assert SpyHasher.calls == []

    # Other accounts log in from those addresses as usual.
    other = factories.UserFactory(email="han.meimei@example.com")
    assert login(via_proxy("198.51.100.0"), other.email, PASSWORD).status_code == 302


def test_the_username_limit_defaults_to_30_an_hour():
    assert settings.RATELIMIT_LOGIN_FAILURES_PER_USERNAME == "30/h"


# -- at most LOGIN_CONCURRENT_HASHES hashes at once --------------------------------------------


def test_a_login_finding_every_slot_taken_gets_a_quick_503_without_hashing(customer, monkeypatch):
    # The held slot lapses after HOLD_SECONDS (10 s); on a loaded machine the first requests of a
    # test process (URLconf, templates, admin) have taken that long, and the login then found the
    # slot lapsed and signed in (302). What this test proves does not depend on the lapse.
    monkeypatch.setattr(hashing, "HOLD_SECONDS", 600)
    client = via_proxy("198.51.100.20")
    with services.password_check_slot():  # another worker of this host is hashing
        response = login(client, customer.email, PASSWORD)
        assert response.status_code == 503
        assert response["Retry-After"] == "1"
        page = response.content.decode()
        assert "Too many people are signing in right now" in page
        assert 'value="li.lei@example.com"' in page  # the form again, the email kept
        assert SpyHasher.calls == [] and not signed_in(client)
        # A busy host is not the customer's failure: nothing counted against them.
        assert not AccessAttempt.objects.exists()
        assert not services.login_blocked(request=response.wsgi_request, username=customer.email)
        # The admin's login and a registration wait for a slot the same way.
        admin_try = client.post("/admin/login/", {"username": customer.email, "password": PASSWORD})
        assert admin_try.status_code == 503
        form = {"email": "new@example.com", "password1": "a long passphrase 7", "password2": "a long passphrase 7"}
        assert client.post("/account/register/", form).status_code == 503
        assert SpyHasher.calls == [] and not User.objects.filter(email="new@example.com").exists()

    assert slots_held() == 0
    response = login(client, customer.email, PASSWORD)
    assert response.status_code == 302 and signed_in(client)
    assert slots_held() == 0  # released after the hash


def test_the_slot_is_held_while_the_password_is_hashed(customer):
    assert login(via_proxy("198.51.100.20"), customer.email, PASSWORD).status_code == 302
    assert SpyHasher.slots_held_while_verifying == [1]
    assert slots_held() == 0


def test_slots_are_counted_across_processes_and_a_dead_holders_slot_lapses(settings):
    settings.LOGIN_CONCURRENT_HASHES = 2
    client, key = hashing._redis()
    with hashing.hashing_slot():
        with hashing.hashing_slot(), pytest.raises(HashingBusy), hashing.hashing_slot():
            pass
        with hashing.hashing_slot():  # one freed: taken again
            pass
    assert client.zcard(key) == 0

    # Two holders another process left behind: one killed mid-hash long ago, one hashing now.
    now = float(client.time()[0])
    client.zadd(key, {"killed": now - hashing.HOLD_SECONDS - 1, "hashing": now})
    with hashing.hashing_slot(), pytest.raises(HashingBusy), hashing.hashing_slot():
        pass
    assert client.zrange(key, 0, -1) == [b"hashing"]


def test_no_bound_when_set_to_zero(settings):
    settings.LOGIN_CONCURRENT_HASHES = 0
    with hashing.hashing_slot(), hashing.hashing_slot():
        assert slots_held() == 0


def test_without_redis_the_bound_holds_per_process(settings):
    settings.CACHES = {**settings.CACHES, "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert hashing._redis() == (None, None)
    entered = threading.Event()
    leave = threading.Event()

    def hold():
        with hashing.hashing_slot():
            entered.set()
            leave.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert entered.wait(5)
        with pytest.raises(HashingBusy), hashing.hashing_slot():
            pass
    finally:
        leave.set()
        holder.join()
    with hashing.hashing_slot():
        pass


def test_the_default_bound_is_half_the_cores():
    import os

    import shop.settings as production

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    half_the_cores = max(1, cores // 2)
    assert half_the_cores == production.LOGIN_CONCURRENT_HASHES
    assert "shop.accounts.middleware.HashingBusyMiddleware" in settings.MIDDLEWARE


def test_a_login_that_merely_coincides_with_another_waits_for_the_slot(settings):
    """Two customers pressing "sign in" in the same instant both get in: the second waits the
    first hash out (LOGIN_HASH_WAIT_MS) instead of being refused."""
    settings.LOGIN_HASH_WAIT_MS = 2000
    held = threading.Event()

    def hash_briefly():
        with hashing.hashing_slot():
            held.set()
            time.sleep(0.05)  # the other customer's hash

    other = threading.Thread(target=hash_briefly)
    other.start()
    try:
        assert held.wait(5)
        with hashing.hashing_slot():  # waits for the slot rather than raising HashingBusy
            assert slots_held() == 1
    finally:
        other.join()
    assert slots_held() == 0


def test_with_no_wait_a_busy_host_refuses_at_once(settings):
    settings.LOGIN_HASH_WAIT_MS = 0
    with hashing.hashing_slot(), pytest.raises(HashingBusy), hashing.hashing_slot():
        pass


@pytest.mark.parametrize("email", ["li\x00lei@example.com", '"><script>alert(1)</script>@example.com'])
def test_a_busy_host_answers_hostile_emails_with_the_busy_page_escaped_and_nothing_hashed(email):
    client = via_proxy("198.51.100.21")
    with services.password_check_slot():
        response = login(client, email, PASSWORD)
    # A NUL is refused before the view (400, shop.core's NUL guard); markup gets the busy page.
    assert response.status_code == (400 if "\x00" in email else 503)
    page = response.content.decode()
    assert "<script>alert(1)" not in page and "\x00" not in page
    assert SpyHasher.calls == [] and not signed_in(client)
