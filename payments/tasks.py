"""Background work of payments: the sandbox gateway's server-to-server notifications."""

import logging
from urllib.error import URLError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.urls import reverse

from payments.sandbox_gateway import notification_for
from shop.core.tasks import enqueue

log = logging.getLogger(__name__)


def sandbox_notify_url() -> str:
    """Where the sandbox gateway posts: the shop's own notify endpoint, never an address from a
    request (that would be a server-side request to wherever the requester liked)."""
    return settings.SITE_URL + reverse("payments:notify", kwargs={"provider": "sandbox"})


def sandbox_notify_queue(*, reference: str, outcome: str) -> None:
    """Have the sandbox gateway notify the shop of a payment's outcome, once the current
    transaction commits. Never raises into the caller's request: a broker that cannot be
    reached is logged (the customer's return page keeps waiting, as it would for a gateway
    that is late)."""
    transaction.on_commit(lambda: enqueue("payments.tasks.sandbox_notify", reference, outcome))


@shared_task(bind=True, acks_late=True, max_retries=10)
def sandbox_notify(self, reference: str, outcome: str) -> bool:
    """Act as the gateway: POST the signed notification until the shop answers "success"
    (Alipay retries the same way, with growing pauses)."""
    body = urlencode(notification_for(reference=reference, outcome=outcome)).encode()
    request = Request(sandbox_notify_url(), data=body, method="POST")  # noqa: S310 - our own SITE_URL
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urlopen(request, timeout=10) as response:  # noqa: S310
            answer = response.read().decode().strip()
    except (URLError, OSError) as exc:
        return _again(self, reference, repr(exc), exc)
    if answer != "success":
        return _again(self, reference, f"answered {answer[:100]!r}")
    return True


def _again(task, reference: str, why: str, exc: Exception | None = None) -> bool:
    """Retry later with growing pauses; in eager mode (no broker: `make run`, the tests) the
    task runs inside the customer's request, where there is no later and a Retry raised would
    answer the page with a 500, so it gives up there and says so."""
    if task.request.is_eager:
        log.warning("sandbox gateway: notification of %s not taken (%s); not retried without a worker", reference, why)
        return False
    raise task.retry(exc=exc, countdown=min(2**task.request.retries, 60))


@shared_task(bind=True, acks_late=True, max_retries=10)
def refund_send(self, refund_id: int) -> str:
    """Send a refund to its gateway; retry with growing pauses while it stays pending (the
    service marks it failed, for finance, after its last attempt). Returns its state."""
    from payments.models import Refund
    from payments.services import refund_send as send  # no import cycle at load time

    refund = send(refund_id=refund_id)
    # Run eagerly (no broker, or inside a request's on-commit), a retry would repeat at once in
    # the caller's thread: the refunds sweeper tries again later instead.
    if refund.state == Refund.State.PENDING and not self.request.is_eager:
        raise self.retry(countdown=min(60 * 2**self.request.retries, 3600))
    return refund.state


@shared_task(bind=True, acks_late=True, max_retries=8)
def payment_trades_close(self, order_id: int) -> int:
    """Close a cancelled order's open trades at their gateways; retry with growing pauses while
    a gateway cannot be reached (after the last try the trades expire with the order's payment
    window, and any payment still made there is refunded). Returns how many are left open."""
    from payments.services import payment_trades_close as close  # no import cycle at load time

    left = close(order_id=order_id)
    # Run eagerly (no broker: `make run`, the tests) there is no later to retry in.
    if left and not self.request.is_eager:
        raise self.retry(countdown=min(30 * 2**self.request.retries, 3600))
    return left


@shared_task(acks_late=True)
def payment_trades_sweep() -> dict[str, int]:
    """Beat: the trade closes that a broker outage lost at cancellation (payments.services)."""
    from payments.services import payment_trades_sweep as sweep

    return sweep()


@shared_task(acks_late=True)
def refunds_sweep() -> int:
    from payments.services import refunds_sweep as sweep

    return sweep()
