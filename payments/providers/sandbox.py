"""The sandbox gateway: a stand-in for a hosted payment gateway, served by the app itself.

It follows Alipay's page-pay shape so the shop's code paths are the same: the browser is sent
to a hosted page (here /payments/sandbox/<reference>/) where the customer pays, fails or
abandons; the gateway then POSTs a signed form to the notify URL (server to server, retried
until it is answered "success") and sends the browser back to the return URL. Signatures are
HMAC-SHA256 over the sorted `key=value&…` string, with a secret shared with the shop.
"""

import hashlib
import hmac
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse

from payments.exceptions import PaymentError, PaymentErrorCode
from payments.providers import GatewayResult, notification_result, signing_string

SIGNED_FIELDS = ("app_id", "out_trade_no", "trade_no", "total_amount", "currency", "trade_status", "notify_time")


def sign(data: dict[str, str], secret: str | None = None) -> str:
    key = (secret or settings.SANDBOX_GATEWAY["SECRET"]).encode()
    return hmac.new(key, signing_string(data).encode(), hashlib.sha256).hexdigest()


class SandboxGateway:
    code = "sandbox"
    fields = (*SIGNED_FIELDS, "sign_type")

    def start(self, *, payment, subject: str, return_url: str, notify_url: str) -> str:
        """The hosted page's URL. Like Alipay's it carries the return and notify URLs, but the
        page ignores them and uses the shop's own (payments.views.sandbox_page)."""
        if not settings.SANDBOX_GATEWAY_ENABLED:  # a test stand-in: unrouted unless enabled
            raise PaymentError(PaymentErrorCode.UNKNOWN_PROVIDER)
        query = urlencode({"return_url": return_url, "notify_url": notify_url})
        return reverse("payments:sandbox_page", kwargs={"reference": payment.reference}) + "?" + query

    def verify(self, data: dict[str, str]) -> GatewayResult:
        signature = data.get("sign", "")
        if not signature or not hmac.compare_digest(signature, sign(data)):
            raise PaymentError(PaymentErrorCode.BAD_SIGNATURE)
        # Parsed by the same rules as Alipay's: exact amounts, final statuses only.
        return notification_result(data, required=SIGNED_FIELDS, currency=data.get("currency", ""))

    def ack(self) -> str:
        return "success"

    def refund(self, *, payment, amount: Decimal, request_no: str) -> str:
        """alipay.trade.refund's rules, kept by the stand-in in the shared cache (Redis): a
        request number is paid once, however often it is sent (the same answer comes back);
        a trade never refunds more than it took (refused, as Alipay refuses with
        ACQ.REFUND_AMT_NOT_EQUAL_TOTAL / "refund amount exceeds"). Raises PaymentError."""
        if not settings.SANDBOX_GATEWAY_ENABLED:
            raise PaymentError(PaymentErrorCode.UNKNOWN_PROVIDER)
        return sandbox_refund_pay(trade=payment.reference, taken=payment.amount, amount=amount, request_no=request_no)

    def close(self, *, payment) -> str:
        """alipay.trade.close's rules, kept by the stand-in in the shared cache: a trade is paid
        or closed, whichever comes first, for good. Returns "closed", or "paid" when the buyer
        paid first (its notification is on its way)."""
        if not settings.SANDBOX_GATEWAY_ENABLED:
            raise PaymentError(PaymentErrorCode.UNKNOWN_PROVIDER)
        return "closed" if sandbox_trade_settle(trade=payment.reference, outcome="closed") == "closed" else "paid"


def _cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


def sandbox_refund_pay(*, trade: str, taken: Decimal, amount: Decimal, request_no: str) -> str:
    """The stand-in gateway's refund ledger: `cache.add` (Redis SET NX) claims the request
    number atomically, so concurrent sends of one request pay it once."""
    from django.core.cache import cache

    reference = f"sandbox-refund-{request_no}"
    if not cache.add(f"sandbox-refund:{request_no}", reference, timeout=None):
        return reference  # paid already: the same answer, no money moves
    cache.add(_refunded_key(trade), 0, timeout=None)
    total = cache.incr(_refunded_key(trade), _cents(amount))
    if total > _cents(taken):
        cache.decr(_refunded_key(trade), _cents(amount))
        cache.delete(f"sandbox-refund:{request_no}")
        raise PaymentError(PaymentErrorCode.GATEWAY_ERROR)
    return reference


def sandbox_trade_settle(*, trade: str, outcome: str) -> str:
    """The stand-in gateway's end of a trade: "paid" (the buyer pressed pay) or "closed" (the
    shop closed it), set once (Redis SET NX) and returned to every later asker, so a closed
    trade cannot be paid and a paid one cannot be closed."""
    from django.core.cache import cache

    key = f"sandbox-trade:{trade}"
    cache.add(key, outcome, timeout=None)
    return cache.get(key) or outcome


def sandbox_trade_state(trade: str) -> str | None:
    """ "paid", "closed" or None (still open): for tests and the sandbox page."""
    from django.core.cache import cache

    return cache.get(f"sandbox-trade:{trade}")


def _refunded_key(trade: str) -> str:
    return f"sandbox-refunded:{trade}"


def sandbox_refunded(trade: str) -> Decimal:
    """What the stand-in gateway has paid back on a trade (for tests and the sandbox page)."""
    from django.core.cache import cache

    return Decimal(cache.get(_refunded_key(trade)) or 0) / 100
