"""A Redis outage delays mail but never loses it, and never stops customers buying.

Real components: the test starts a throwaway redis-server of its own and points the broker and
the caches at it (here and in the environment its subprocesses inherit), stops it, places and
pays orders over HTTP, starts it again, then a real Celery worker and beat (subprocesses) send
every owed mail exactly once within a minute, through the outbox sweeper. Its own server, not the
one bin/test started: under pytest-xdist the other worker's tests use that one meanwhile."""

import os
import re
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

from orders.models import Notification, Order
from payments.services import wallet_top_up
from shop.celery import app as celery_app
from tests.broker import use_broker
from tests.purchase import buyer_with_cart, shown_total, stocked_variant

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]
REDIS_PORT = ""  # this test's own redis-server (the own_redis fixture)


def redis_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["redis-cli", "-p", REDIS_PORT, *args], capture_output=True, text=True, timeout=10)


def redis_stop() -> None:
    redis_cli("shutdown", "nosave")
    deadline = time.monotonic() + 10
    while redis_cli("ping").stdout.strip() == "PONG":
        assert time.monotonic() < deadline
        time.sleep(0.1)


def redis_start(tmp_path: Path) -> None:
    subprocess.run(
        ["redis-server", "--port", REDIS_PORT, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--daemonize", "yes", "--dir", str(tmp_path), "--logfile", str(tmp_path / "redis.log")],
        check=True, timeout=10,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while redis_cli("ping").stdout.strip() != "PONG":
        assert time.monotonic() < deadline, "Redis did not come back"
        time.sleep(0.1)


@pytest.fixture
def own_redis(tmp_path, settings, monkeypatch):
    """A redis-server for this test alone, as the broker (database 0) and the caches (1 and 2)."""
    if not os.environ.get("REDIS_PORT"):
        pytest.skip("needs the Redis of bin/test's environment")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    monkeypatch.setattr(sys.modules[__name__], "REDIS_PORT", port)
    server_dir = tmp_path / "own-redis"
    server_dir.mkdir()
    redis_start(server_dir)
    real_broker = settings.CELERY_BROKER_URL
    url = f"redis://127.0.0.1:{port}"
    settings.CACHES = {
        alias: {**cache, "LOCATION": f"{url}/{n}"} for n, (alias, cache) in enumerate(settings.CACHES.items(), start=1)
    }
    settings.CELERY_BROKER_URL = f"{url}/0"
    monkeypatch.setenv("CACHE_URL", f"{url}/1")  # the Celery worker's and beat's ("pages": the next)
    monkeypatch.delenv("PAGE_CACHE_URL", raising=False)
    use_broker(f"{url}/0")
    try:
        yield server_dir
    finally:
        use_broker(real_broker)
        redis_cli("shutdown", "nosave")


def worker_env(mail_dir: Path) -> dict:
    env = dict(os.environ)
    url = env["DATABASE_URL"].rsplit("/", 1)[0]
    env.update(
        DATABASE_URL=f"{url}/{connection.settings_dict['NAME']}",
        CELERY_TASK_ALWAYS_EAGER="0",
        EMAIL_URL=f"filemail:///{mail_dir}",  # four slashes: an absolute path
    )
    return env


@pytest.fixture
def broker_down(own_redis):
    celery_app.conf.CELERY_TASK_ALWAYS_EAGER = False  # the namespaced key is the one read
    redis_stop()
    yield
    celery_app.conf.CELERY_TASK_ALWAYS_EAGER = True


def test_orders_placed_and_paid_while_redis_is_down_get_their_mail_once(client, broker_down, tmp_path):
    variant = stocked_variant(on_hand=10, price="40.00")
    user, address, cart = buyer_with_cart([(variant, 2)])
    wallet_top_up(user=user, amount=Decimal("500.00"), reference="test")
    client.force_login(user)

    started = time.monotonic()
    response = client.post(
        "/checkout/place/",
        {
            "cart": cart.token,
            "address": address.pk,
            "shipping_method": "standard",
            "insured": "0",
            "payment_method": "wallet",
            "total": shown_total(cart, address),
        },
    )
    assert response.status_code == 302
    order = Order.objects.get(customer=user)
    assert client.post(f"/payments/pay/{order.number}/", {"method": "wallet"}).status_code == 302
    assert client.get(order.get_absolute_url()).status_code == 200
    assert time.monotonic() - started < 15, "the outage must not make customers wait long"
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    owed = list(Notification.objects.filter(order=order).values_list("kind", "state"))
    assert owed == [("order_paid", "pending")]  # one mail for a one-click wallet order: placed and paid

    redis_start(tmp_path)
    back = time.monotonic()
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    env = worker_env(mail_dir)
    log = (tmp_path / "celery.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "shop", "worker", "--pool=solo", "-l", "info"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "shop", "beat", "-l", "info", "-s", str(tmp_path / "beat")],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = back + 75
        while Notification.objects.filter(order=order, state="pending").exists():
            if time.monotonic() > deadline:
                log.flush()
                pytest.fail("mail still pending 75 s after Redis returned:\n" + (tmp_path / "celery.log").read_text())
            time.sleep(0.5)
        elapsed = time.monotonic() - back
        time.sleep(3)  # let any duplicate delivery show itself before counting
    finally:
        for process in (beat, worker):
            process.terminate()
        for process in (beat, worker):
            process.wait(timeout=20)
        log.close()

    assert elapsed < 60, f"mail took {elapsed:.0f} s after Redis returned"
    sent = Notification.objects.filter(order=order)
    assert {(n.kind, n.state, n.attempts) for n in sent} == {("order_paid", "sent", 1)}
    mails = "".join(p.read_text() for p in mail_dir.iterdir())
    subjects = re.findall(r"^Subject: (.*)$", mails, flags=re.MULTILINE)
    assert len(subjects) == 1, subjects
