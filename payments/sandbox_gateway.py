"""The gateway side of the sandbox: what a real gateway would compute and send.

Clearly a stand-in for a third party we cannot reach in development and tests: it knows the
merchant id and shared secret, looks the payment up to fill in the amount, and signs the
notification exactly as payments.providers.sandbox verifies it.
"""

from django.conf import settings
from django.utils import timezone

from payments.models import Payment
from payments.providers.sandbox import sign


def notification_for(*, reference: str, outcome: str, secret: str | None = None) -> dict[str, str]:
    payment = Payment.objects.get(reference=reference)
    data = {
        "app_id": settings.SANDBOX_GATEWAY["MERCHANT_ID"],
        "out_trade_no": payment.reference,
        "trade_no": f"SBX{payment.pk:010d}",  # the gateway's id: the same on every retry
        "total_amount": f"{payment.amount:.2f}",
        "currency": payment.currency,
        "trade_status": "TRADE_SUCCESS" if outcome == "pay" else "TRADE_CLOSED",
        "notify_time": timezone.localtime().strftime("%Y-%m-%d %H:%M:%S"),
    }
    data["sign_type"] = "HMAC-SHA256"
    data["sign"] = sign(data, secret)
    return data
