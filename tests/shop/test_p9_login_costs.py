"""Issue 12, P9: a login's work besides the hash. The shop's login view and the authentication
backend both ask login_blocked(); the counters are read once per request and username, and read
again after a failure is counted. The brakes still refuse before any hash (test_login_limits)."""

from unittest import mock

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import Client
from django_ratelimit.core import get_usage

from shop.accounts import services
from tests import factories
from tests.purchase import english

pytestmark = pytest.mark.django_db
PROXY = "10.0.0.2"
PASSWORD = "correct horse battery staple"  # the factories' password


class FastHasher(MD5PasswordHasher):
    algorithm = "fast"


@pytest.fixture(autouse=True)
def _setup(settings):
    settings.PASSWORD_HASHERS = ["tests.shop.test_p9_login_costs.FastHasher"]
    settings.TRUSTED_PROXIES = [PROXY]


def counter_reads(post) -> int:
    reads = []

    def counted(request, **kwargs):
        reads.append(kwargs["increment"])
        return get_usage(request, **kwargs)

    with mock.patch.object(services, "get_usage", counted):
        post()
    return reads.count(False)


@pytest.mark.parametrize("password", [PASSWORD, "a wrong guess"])
def test_a_login_reads_its_failure_counters_once(password):
    user = factories.UserFactory(email="li.lei@example.com")
    client = english(Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.40"))
    answers = []
    form = {"username": user.email, "password": password}
    reads = counter_reads(lambda: answers.append(client.post("/account/login/", form)))
    assert answers[0].status_code == (302 if password == PASSWORD else 200)
    assert reads == 2  # per address and per username, once: not again in the backend


def test_the_backend_alone_still_reads_them(rf):
    """The admin's login reaches the backend without the shop's view: it checks for itself."""
    user = factories.UserFactory(email="boss@example.com", is_staff=True, is_superuser=True)
    client = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.41")
    reads = counter_reads(lambda: client.post("/admin/login/", {"username": user.email, "password": PASSWORD}))
    assert reads == 2


def test_a_check_after_a_counted_failure_reads_the_counters_again(settings, rf):
    settings.RATELIMIT_LOGIN_FAILURES_PER_ADDRESS = "1/h"
    request = rf.post("/account/login/", REMOTE_ADDR="198.51.100.42")
    assert not services.login_blocked(request=request, username="a@example.com")
    services.login_failure_record(request=request, username="a@example.com")
    assert services.login_blocked(request=request, username="a@example.com")
    # Another username in the same request is never taken for the one checked.
    request = rf.post("/account/login/", REMOTE_ADDR="198.51.100.43")
    assert not services.login_blocked(request=request, username="a@example.com")
    settings.RATELIMIT_LOGIN_FAILURES_PER_USERNAME = "1/h"
    services.login_failure_record(request=rf.post("/", REMOTE_ADDR="198.51.100.44"), username="b@example.com")
    assert services.login_blocked(request=request, username="B@example.com ")
