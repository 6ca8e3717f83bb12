"""Queue Celery tasks by name from services, which sit below the tasks modules."""

import base64
import copy
import json
import logging
import uuid

from celery import current_app, signals
from celery._state import get_current_worker_task

from shop.core import broker

log = logging.getLogger(__name__)


def enqueue(name: str, *args) -> bool:
    """Send a task to the broker (or run it, in eager mode). Returns False if the broker could
    not be reached: callers whose work is recorded in the database (the outbox) rely on a
    sweeper to queue it again, so an outage delays work but never loses it."""
    try:
        task = current_app.tasks[name]
        if task.app.conf.task_always_eager:  # runs the task here and needs no broker connection
            task.apply_async(args, retry=False, producer=None)
            return True
        producer = broker.producer(task.app)
        if not _publish_from_template(producer, task, args):
            _publish_recording_template(producer, task, args)
    except Exception:  # kombu and redis raise many types when the broker is down
        broker.producer_drop()
        log.warning("could not queue %s%r; it will be retried by its sweeper", name, args, exc_info=True)
        return False
    return True


# -- the same message for less: a template per task -----------------------------------------
#
# Celery's apply_async builds every message anew (the route, some twenty settings looked up
# through its layered configuration, the protocol 2 headers, a result object) and kombu wraps
# it (its Message, the envelope, the base64 body): about 78 % of the CPU of queuing a task on
# the purchase's hot path, the Redis LPUSH the rest. For a task given only integers, queued
# from a web process (no task running: no parent or root to inherit) with no routes and no
# publish signals, the message differs from one call to the next only by its task id (id,
# root_id, correlation_id), its arguments (body, argsrepr) and its delivery tag. The first
# message of each task on a producer goes Celery's and kombu's whole way (declaring its queue)
# and its envelope, as the transport pushed it, becomes the template; the next are the template
# with those fields replaced, pushed by the same transport method (kombu's virtual channel
# _put: same key, same LPUSH, same connection pool and errors). The producer is kept per
# process and thread (broker.producer): so is the template with it (the message's origin names
# the process, its reply_to the thread). Anything else takes Celery's path, every time.


def _fast_eligible(args) -> bool:
    # Integers only: their repr is Celery's saferepr, their JSON kombu's (no encoder of its own).
    return (
        all(type(a) is int for a in args)
        and not signals.before_task_publish.receivers
        and not signals.after_task_publish.receivers
        and not signals.task_sent.receivers
        and get_current_worker_task() is None
    )


def _publish_from_template(producer, task, args) -> bool:
    """Queue `task(*args)` from its template on `producer`: False when there is none to use."""
    templates = getattr(producer, "_shop_templates", None)
    template = templates.get(task.name) if templates else None
    if template is None or not _fast_eligible(args) or task.app.amqp.routes:
        return False
    queue, body_tail, headers, properties = template
    task_id = str(uuid.uuid4())
    body = f"[{json.dumps(list(args))}, {body_tail}"
    message = {
        "body": base64.b64encode(body.encode()).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {**headers, "id": task_id, "root_id": task_id, "argsrepr": repr(args)},
        "properties": {
            **properties,
            "correlation_id": task_id,
            "delivery_info": dict(properties["delivery_info"]),
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    producer.channel._put(queue, message)
    return True


def _publish_recording_template(producer, task, args) -> None:
    """Celery's own publish; for an eligible task, the envelope the transport pushed is kept as
    the task's template (when it is the plain JSON, base64 message the template reproduces)."""
    channel = producer.channel
    record = _fast_eligible(args) and not task.app.amqp.routes and hasattr(channel, "_put")
    pushed = []
    if record:
        put = channel._put

        def recorded(queue, message, **kwargs):
            pushed.append((queue, copy.deepcopy(message)))
            return put(queue, message, **kwargs)

        channel._put = recorded  # this thread's producer's channel only, for this message
    try:
        task.apply_async(args, retry=False, producer=producer)
    finally:
        if record:
            del channel._put  # the class's method again
    if len(pushed) == 1:
        template = _template_of(*pushed[0], task, args)
        if template is not None:
            if getattr(producer, "_shop_templates", None) is None:
                producer._shop_templates = {}
            producer._shop_templates[task.name] = template


def _template_of(queue, message: dict, task, args):
    """(queue, the body after its arguments, headers, properties) of a pushed message, or None
    when it is not one the template reproduces exactly."""
    headers, properties = message.get("headers") or {}, message.get("properties") or {}
    task_id = headers.get("id")
    expected_keys = {"body", "content-encoding", "content-type", "headers", "properties"}
    if (
        set(message) != expected_keys
        or message["content-type"] != "application/json"
        or message["content-encoding"] != "utf-8"
        or properties.get("body_encoding") != "base64"
        or not task_id
        or headers.get("root_id") != task_id
        or properties.get("correlation_id") != task_id
        or headers.get("parent_id") is not None
        or headers.get("eta") is not None
        or headers.get("expires") is not None
        or "expiration" in properties
        or headers.get("argsrepr") != repr(args)
        or headers.get("task") != task.name
        or not isinstance(properties.get("delivery_info"), dict)
    ):
        return None
    body = base64.b64decode(message["body"]).decode()
    head = f"[{json.dumps(list(args))}, "
    if not body.startswith(head):
        return None
    return queue, body[len(head) :], headers, properties
