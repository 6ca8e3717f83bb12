"""Faults: with Redis unreachable, placing an order makes one quick attempt at the broker and
moves on; the outbox keeps the mail and the sweeper queues it once Redis is back.

The broker (and the cache) are pointed at a closed local port rather than stopping the test
Redis, so nothing else notices. Speed is not asserted by timing: the test checks the mechanism
(one connection attempt per task, a short connect timeout); docs/production.md has the figure."""

import json
import socket
from datetime import timedelta

import pytest
import redis
import time_machine
from django.utils import timezone
from kombu import Connection

from orders import services as order_services
from orders.models import Notification, Order
from shop.celery import app as celery_app
from tests.broker import use_broker
from tests.purchase import buyer_with_cart, shown_total, stocked_variant

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def closed_port():
    """A local port bound but never listening: connections to it are refused at once."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def redis_unreachable(closed_port, settings):
    real_broker = settings.CELERY_BROKER_URL
    if not real_broker.startswith("redis://"):
        pytest.skip("needs the Redis started by bin/test")
    conf = celery_app.conf
    was_eager = conf.task_always_eager
    conf.task_always_eager = conf.CELERY_TASK_ALWAYS_EAGER = False
    use_broker(f"redis://127.0.0.1:{closed_port}/0")
    settings.CACHES = {
        alias: {
            "BACKEND": "shop.core.cache.ResilientRedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port}/{n}",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 1},
        }
        for n, alias in enumerate(("default", "pages"), start=1)
    }
    yield real_broker
    conf.task_always_eager = conf.CELERY_TASK_ALWAYS_EAGER = was_eager
    use_broker(real_broker)


@pytest.fixture
def connection_attempts(monkeypatch):
    """Counts every attempt kombu makes to open a broker connection."""
    attempts = []
    factory = Connection._connection_factory

    def counting(self):
        attempts.append(self.as_uri())
        return factory(self)

    monkeypatch.setattr(Connection, "_connection_factory", counting)
    return attempts


def test_publishing_gives_up_after_one_short_attempt():
    options = celery_app.conf.broker_transport_options
    assert options["max_retries"] == 0  # no reconnect loop before a publish (kombu's 2 s + 4 s)
    assert options["socket_connect_timeout"] <= 0.5
    assert celery_app.conf.task_publish_retry is False
    assert celery_app.conf.broker_connection_timeout <= 1


def test_order_placed_while_redis_is_unreachable_is_kept_and_its_mail_queued_later(
    client, redis_unreachable, connection_attempts, closed_port
):
    variant = stocked_variant(on_hand=5, price="30.00")
    user, address, cart = buyer_with_cart([(variant, 1)])
    client.force_login(user)

    response = client.post(
        "/checkout/place/",
        {
            "cart": cart.token,
            "address": address.pk,
            "shipping_method": "standard",
            "insured": "0",
            # A gateway's order: placing it queues one mail (cash on delivery now also completes
            # the order in the same request, and so queues its "paid" mail too).
            "payment_method": "sandbox",
            "total": shown_total(cart, address),
        },
    )

    assert response.status_code == 302
    order = Order.objects.get(customer=user)
    mail = Notification.objects.get(order=order)
    assert (mail.kind, mail.state) == ("order_placed", "pending")
    # One notification, one attempt at the broker: kombu's own retry loop (about 6 s a task
    # before the fix) would show here as several attempts.
    assert connection_attempts == [f"redis://127.0.0.1:{closed_port}/0"]

    # Redis is back: the sweeper's next run queues the pending mail.
    use_broker(redis_unreachable)
    queue = redis.Redis.from_url(redis_unreachable)
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        assert order_services.notification_sweep() >= 1
    queued = [raw for raw in queue.lrange("celery", 0, -1) if _is_send_of(raw, mail.pk)]
    for raw in queued:
        queue.lrem("celery", 0, raw)  # no stray task for later tests' workers
    assert len(queued) == 1, [json.loads(r)["headers"] for r in queued]


def _is_send_of(raw: bytes, notification_id: int) -> bool:
    headers = json.loads(raw).get("headers", {})
    return (
        headers.get("task") == "orders.tasks.notification_send" and headers.get("argsrepr") == f"({notification_id},)"
    )


def test_product_page_answers_while_redis_is_unreachable_even_when_its_view_counts_are_due(
    client, redis_unreachable, monkeypatch, make_product
):
    """The product page asks for a flush of the view counters now and then: with the broker
    down that request fails, and the page must still answer (it used to raise from .delay())."""
    product = make_product(name="断网也能看的商品")
    monkeypatch.setattr("catalog.views.product_view_record", lambda **kwargs: True)  # a flush is due

    response = client.get(product.get_absolute_url())

    assert response.status_code == 200
    assert "断网也能看的商品" in response.content.decode()
