"""Queuing a task (shop.core.tasks.enqueue) through the Redis transport that keeps its
publishing client (shop/core/broker.py): no redis.Redis client built per task, and everything
else as with kombu's own transport: the message, the routing, a forked process's connection,
an outage (False at once, the sweeper queues again) and the recovery after it.

Each test runs its own redis-server, so it can stop it and never leaves a message for the
workers of other tests."""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest
import redis
from celery.app import routes as celery_routes
from kombu import Connection, Queue
from kombu.pools import ProducerPool

from shop.celery import app as celery_app
from shop.core import broker
from shop.core.tasks import enqueue
from tests.broker import use_broker

TASK = "orders.tasks.notification_send"

pytestmark = pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnRedis:
    def __init__(self, directory):
        self.directory = directory
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.client = redis.Redis(port=self.port)

    def start(self) -> None:
        subprocess.run(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "yes", "--dir", str(self.directory), "--logfile", str(self.directory / "redis.log")],
            check=True, timeout=10,
        )  # fmt: skip
        self._wait(up=True)

    def stop(self) -> None:
        with contextlib.suppress(redis.ConnectionError):  # the server closes it as it goes
            self.client.shutdown(nosave=True)
        self._wait(up=False)

    def _wait(self, up: bool) -> None:
        deadline = time.monotonic() + 10
        while True:
            try:
                alive = self.client.ping()
            except redis.ConnectionError:
                alive = False
            if alive == up:
                return
            assert time.monotonic() < deadline, f"redis-server did not {'start' if up else 'stop'}"
            time.sleep(0.05)  # polling another process

    def queued(self, queue: str = "celery") -> list[dict]:
        return [json.loads(raw) for raw in reversed(self.client.lrange(queue, 0, -1))]  # oldest first


@pytest.fixture
def own_broker(tmp_path):
    """This test's own Redis as the broker, tasks sent to it rather than run eagerly."""
    server = OwnRedis(tmp_path)
    server.start()
    conf = celery_app.conf
    was_eager, was_url = conf.task_always_eager, conf.broker_url
    conf.task_always_eager = conf.CELERY_TASK_ALWAYS_EAGER = False
    use_broker(server.url)
    try:
        yield server
    finally:
        conf.task_always_eager = conf.CELERY_TASK_ALWAYS_EAGER = was_eager
        use_broker(was_url)
        server.stop()


def test_redis_urls_use_the_kept_client_transport_and_read_as_before():
    for url in ("redis://127.0.0.1:6390/0", "rediss://127.0.0.1:6390/0?ssl_cert_reqs=required"):
        connection = Connection(url)
        assert type(connection.transport) is broker.Transport
        assert connection.transport.Channel is broker.Channel
        # kombu names the broker in logs and errors by this: the scheme, not a class path
        assert connection.as_uri().startswith(url.split("?")[0].split("://")[0] + "://127.0.0.1:6390")
    assert type(Connection("memory://").transport) is not broker.Transport  # eager mode's default


def test_queuing_builds_no_redis_client_per_task(own_broker, monkeypatch):
    assert enqueue(TASK, 1)  # connects, declares the queue
    made = []
    init = redis.Redis.__init__

    def counting(self, *args, **kwargs):
        made.append(self)
        init(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "__init__", counting)
    for n in range(2, 7):
        assert enqueue(TASK, n)

    assert made == []  # kombu's stock channel builds one per task: five here
    assert [m["headers"]["argsrepr"] for m in own_broker.queued()] == [f"({n},)" for n in range(1, 7)]


def test_the_message_is_the_one_kombus_own_transport_sends(own_broker):
    assert enqueue(TASK, 41)
    stock = Connection(own_broker.url, transport="kombu.transport.redis:Transport")
    with stock:
        assert type(stock.transport) is not broker.Transport
        celery_app.tasks[TASK].apply_async((41,), retry=False, producer=celery_app.amqp.Producer(stock))
    ours, theirs = own_broker.queued()

    def comparable(message: dict) -> dict:
        message = json.loads(json.dumps(message))
        task_id = message["headers"]["id"]
        assert message["headers"]["root_id"] == message["properties"]["correlation_id"] == task_id
        for where, key in [("headers", "id"), ("headers", "root_id"), ("properties", "correlation_id"),
                           ("properties", "delivery_tag"), ("headers", "origin")]:  # fmt: skip
            message[where].pop(key)
        return message

    assert comparable(ours) == comparable(theirs)
    assert ours["properties"]["delivery_info"] == {"exchange": "", "routing_key": "celery"}


def test_a_task_routed_to_another_queue_goes_there(own_broker, monkeypatch):
    amqp = celery_app.amqp
    monkeypatch.setattr(amqp, "_rtable", celery_routes.prepare({TASK: {"queue": "p1-mail"}}))
    monkeypatch.setitem(amqp.__dict__, "router", amqp.Router())
    try:
        assert enqueue(TASK, 7)
    finally:
        amqp.queues.pop("p1-mail", None)  # made by the router (task_create_missing_queues)
    assert own_broker.queued("celery") == []
    assert [m["headers"]["argsrepr"] for m in own_broker.queued("p1-mail")] == ["(7,)"]


def test_a_forked_process_queues_on_a_connection_of_its_own(own_broker):
    """gunicorn forks its workers: what a parent connected must not be shared by a child."""
    assert enqueue(TASK, 0)  # the parent is connected, its client kept
    pid = os.fork()
    if pid == 0:  # the child: queue, then leave without running pytest's or Django's exit code
        code = 1
        try:
            code = 0 if all(enqueue(TASK, 1000 + n) for n in range(30)) else 1
        finally:
            os._exit(code)
    sent = all(enqueue(TASK, n) for n in range(1, 31))  # at the same time as the child
    _, status = os.waitpid(pid, 0)
    assert sent and os.waitstatus_to_exitcode(status) == 0
    assert enqueue(TASK, 31)  # the parent's connection still answers its own commands

    args = sorted(int(m["headers"]["argsrepr"].strip("(,)")) for m in own_broker.queued())
    assert args == list(range(32)) + list(range(1000, 1030))


def test_a_new_pool_after_a_fork_gets_a_new_client(own_broker):
    """billiard (a Celery worker's children) replaces a channel's pools after a fork."""
    with celery_app.connection_for_write() as connection:
        channel = connection.default_channel
        first = channel._create_client()
        assert channel._create_client() is first  # kept
        channel._disconnect_pools()
        second = channel._create_client()
        assert second is not first and second.connection_pool is channel.pool
        assert second.lpush("p1-check", b"x") == 1


def test_an_outage_after_connecting_fails_at_once_and_queuing_resumes_when_redis_is_back(own_broker, caplog):
    assert enqueue(TASK, 1)
    own_broker.stop()

    started = time.monotonic()
    assert enqueue(TASK, 2) is False
    assert time.monotonic() - started < 3  # one attempt (a refused connection), no retry loop
    assert "could not queue orders.tasks.notification_send(2,)" in caplog.text

    own_broker.start()  # an empty Redis: the first message was lost with the old one
    assert enqueue(TASK, 3)
    assert [m["headers"]["argsrepr"] for m in own_broker.queued()] == ["(3,)"]


def test_queuing_keeps_its_producer_and_connection_and_declares_the_queue_once(own_broker, monkeypatch):
    attempts, acquired, bound = [], [], []
    factory = Connection._connection_factory
    monkeypatch.setattr(Connection, "_connection_factory", lambda self: attempts.append(1) or factory(self))
    monkeypatch.setattr(ProducerPool, "acquire", lambda self, *a, **k: acquired.append(1))
    bind = Queue.bind
    monkeypatch.setattr(Queue, "bind", lambda self, channel: bound.append(self.name) or bind(self, channel))

    for n in range(5):
        assert enqueue(TASK, n)

    assert attempts == [1]  # one broker connection, kept
    assert acquired == []  # Celery's path takes a producer from its pool for every message
    assert bound == ["celery"]  # bound and declared with the first message only (kombu: each)
    assert own_broker.client.smembers("_kombu.binding.celery") == {b"celery\x06\x16\x06\x16celery"}
    assert len(own_broker.queued()) == 5


def test_each_thread_queues_with_a_producer_of_its_own(own_broker):
    producers = []

    def send(n):
        assert enqueue(TASK, n)
        producers.append(broker.producer(celery_app))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    send(3)
    assert len({id(p) for p in producers}) == 4
    assert len(own_broker.queued()) == 4


def test_eager_mode_runs_the_task_without_a_broker(monkeypatch, settings):
    conf = celery_app.conf
    assert conf.task_always_eager  # bin/test, like `make run` without a broker
    ran = []
    monkeypatch.setattr(broker, "producer", lambda app: pytest.fail("eager mode connected to the broker"))
    monkeypatch.setattr(celery_app.tasks[TASK], "run", lambda notification_id: ran.append(notification_id))
    assert enqueue(TASK, 9)
    assert ran == [9]


def test_an_unknown_task_is_logged_not_raised(caplog):
    assert enqueue("orders.tasks.no_such_task", 1) is False
    assert "could not queue orders.tasks.no_such_task(1,)" in caplog.text
