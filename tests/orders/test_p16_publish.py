"""Queuing a task from its template (shop.core.tasks): after a task's first message, which goes
Celery's and kombu's whole way, the next are that message with their id, arguments and delivery
tag replaced: the same message kombu's own transport sends, run by a real worker as any other;
and anything the template cannot reproduce exactly takes Celery's path every time."""

import base64
import json
import re

import pytest
from celery import signals
from celery.app import routes as celery_routes
from celery.app.task import Task
from kombu import Connection

from shop.celery import app as celery_app
from shop.core import broker
from shop.core import tasks as core_tasks
from shop.core.tasks import enqueue
from tests.shop.conftest import celery_worker, celery_worker_process  # noqa: F401 - fixtures
from tests.shop.test_p1_publish import own_broker  # noqa: F401 - a fixture

TASK = "orders.tasks.notification_send"


@pytest.fixture
def celery_path(monkeypatch):
    """Counts the messages that went Celery's own way (apply_async)."""
    calls = []
    apply_async = Task.apply_async

    def counting(self, args=None, *rest, **kwargs):
        calls.append(tuple(args or ()))
        return apply_async(self, args, *rest, **kwargs)

    monkeypatch.setattr(Task, "apply_async", counting)
    return calls


def _comparable(message: dict) -> dict:
    message = json.loads(json.dumps(message))
    task_id = message["headers"]["id"]
    assert message["headers"]["root_id"] == message["properties"]["correlation_id"] == task_id
    for where, key in [("headers", "id"), ("headers", "root_id"), ("properties", "correlation_id"),
                       ("properties", "delivery_tag"), ("headers", "origin")]:  # fmt: skip
        message[where].pop(key)
    return message


def test_later_messages_come_from_the_template_and_are_kombus_own(own_broker, celery_path):  # noqa: F811
    assert enqueue(TASK, 40)  # Celery's path: declares the queue, records the template
    assert enqueue(TASK, 41)
    assert enqueue(TASK, 1234567890123)
    assert celery_path == [(40,)]  # without the template: every message

    stock = Connection(own_broker.url, transport="kombu.transport.redis:Transport")
    with stock:
        Task.apply_async(celery_app.tasks[TASK], (41,), retry=False, producer=celery_app.amqp.Producer(stock))
    first, ours, big, theirs = own_broker.queued()
    assert _comparable(ours) == _comparable(theirs)
    assert ours["headers"]["origin"] == first["headers"]["origin"]  # this process
    assert json.loads(base64.b64decode(big["body"]))[0] == [1234567890123]
    assert big["headers"]["argsrepr"] == "(1234567890123,)"
    sent = (first, ours, big)
    ids = {m["headers"]["id"] for m in sent} | {m["properties"]["delivery_tag"] for m in sent}
    assert len(ids) == 6  # a new task id and delivery tag for each


def test_what_the_template_cannot_reproduce_takes_celerys_path(own_broker, celery_path, monkeypatch):  # noqa: F811
    assert enqueue(TASK, 1)
    assert enqueue(TASK, "2")  # not an integer: saferepr and kombu's encoder decide
    assert enqueue(TASK, True)
    with monkeypatch.context() as patched:  # queued by a running task: its parent and root inherited
        patched.setattr(core_tasks, "get_current_worker_task", lambda: object())
        assert enqueue(TASK, 3)
    receiver = signals.before_task_publish.connect(lambda **kwargs: None, weak=False)
    try:
        assert enqueue(TASK, 4)
    finally:
        signals.before_task_publish.disconnect(receiver)
    assert celery_path == [(1,), ("2",), (True,), (3,), (4,)]
    assert [m["headers"]["argsrepr"] for m in own_broker.queued()] == ["(1,)", "('2',)", "(True,)", "(3,)", "(4,)"]


def test_a_route_added_later_is_followed(own_broker, monkeypatch):  # noqa: F811
    assert enqueue(TASK, 1)  # the template: the default queue
    amqp = celery_app.amqp
    monkeypatch.setattr(amqp, "_rtable", celery_routes.prepare({TASK: {"queue": "p16-mail"}}))
    monkeypatch.setitem(amqp.__dict__, "router", amqp.Router())
    try:
        assert enqueue(TASK, 2)
    finally:
        amqp.queues.pop("p16-mail", None)
    assert [m["headers"]["argsrepr"] for m in own_broker.queued("celery")] == ["(1,)"]
    assert [m["headers"]["argsrepr"] for m in own_broker.queued("p16-mail")] == ["(2,)"]


def test_an_outage_fails_a_message_from_the_template_at_once_and_queuing_resumes(own_broker, caplog):  # noqa: F811
    assert enqueue(TASK, 1)
    assert enqueue(TASK, 2)  # from the template
    own_broker.stop()
    assert enqueue(TASK, 3) is False
    assert "could not queue orders.tasks.notification_send(3,)" in caplog.text
    own_broker.start()
    assert enqueue(TASK, 4)  # a new producer: Celery's path, a new template
    assert enqueue(TASK, 5)
    assert [m["headers"]["argsrepr"] for m in own_broker.queued()] == ["(4,)", "(5,)"]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_messages_from_the_template(celery_worker, celery_path):  # noqa: F811
    broker.producer_drop()  # this test's broker: a new producer, its first message Celery's
    assert enqueue(TASK, -16001)
    assert enqueue(TASK, -16002)
    assert enqueue(TASK, -16003)
    assert celery_path == [(-16001,)]

    def succeeded():
        return re.findall(r"Task orders\.tasks\.notification_send\[[0-9a-f-]+\] succeeded", celery_worker.log())

    assert len(celery_worker.wait_for(lambda: len(succeeded()) >= 3 and succeeded(), "the three tasks")) == 3
