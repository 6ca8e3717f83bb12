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
