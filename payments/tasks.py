"""Background work of payments: the sandbox gateway's server-to-server notifications."""

from urllib.error import URLError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

from celery import shared_task

from payments.sandbox_gateway import notification_for


@shared_task(bind=True, acks_late=True, max_retries=10)
def sandbox_notify(self, reference: str, outcome: str, notify_url: str) -> bool:
    """Act as the gateway: POST the signed notification until the shop answers "success"
    (Alipay retries the same way, with growing pauses)."""
    body = urlencode(notification_for(reference=reference, outcome=outcome)).encode()
    request = Request(notify_url, data=body, method="POST")  # noqa: S310 - our own configured URL
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urlopen(request, timeout=10) as response:  # noqa: S310
            answer = response.read().decode().strip()
    except (URLError, OSError) as exc:
        raise self.retry(exc=exc, countdown=min(2**self.request.retries, 60)) from exc
    if answer != "success":
        raise self.retry(countdown=min(2**self.request.retries, 60))
    return True


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


@shared_task(acks_late=True)
def refunds_sweep() -> int:
    from payments.services import refunds_sweep as sweep

    return sweep()
