"""Queue Celery tasks by name from services, which sit below the tasks modules."""

import logging

from celery import current_app

from shop.core import broker

log = logging.getLogger(__name__)


def enqueue(name: str, *args) -> bool:
    """Send a task to the broker (or run it, in eager mode). Returns False if the broker could
    not be reached: callers whose work is recorded in the database (the outbox) rely on a
    sweeper to queue it again, so an outage delays work but never loses it."""
    try:
        task = current_app.tasks[name]
        # Eager mode runs the task here and needs no broker connection.
        producer = None if task.app.conf.task_always_eager else broker.producer(task.app)
        task.apply_async(args, retry=False, producer=producer)
    except Exception:  # kombu and redis raise many types when the broker is down
        broker.producer_drop()
        log.warning("could not queue %s%r; it will be retried by its sweeper", name, args, exc_info=True)
        return False
    return True
