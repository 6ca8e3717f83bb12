"""Payment providers behind one interface (DESIGN.md): start, verify, refund.

Hosted gateways (the sandbox and Alipay) redirect the browser to their page and later post a
signed server-to-server notification; `verify` turns that into a `GatewayResult` or raises
PaymentError. The wallet and cash on delivery settle inside the shop (payments.services).
"""

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

# The largest notification body the notify endpoint reads: Alipay's are a few KB. The site-wide
# DATA_UPLOAD_MAX_MEMORY_SIZE is sized for image uploads, far too much for an unauthenticated POST.
NOTIFICATION_MAX_BYTES = 64 * 1024

# Amounts in a notification must be written exactly as the gateway writes them: yuan with two
# decimals. "27.004", "2.700000E+01", "27" or "+27.00" are refused, never rounded.
AMOUNT_FORM = re.compile(r"(0|[1-9][0-9]*)\.[0-9]{2}")

# Trade statuses (Alipay's, which the sandbox copies). Only a final one may change a payment.
PAID_STATUSES = frozenset({"TRADE_SUCCESS", "TRADE_FINISHED"})
FAILED_STATUSES = frozenset({"TRADE_CLOSED"})
WAITING_STATUSES = frozenset({"WAIT_BUYER_PAY"})  # the buyer has not paid yet: nothing to record

# What a refused (unauthenticated) notification keeps for the audit trail: a few fields that
# help finance recognise it, each cut short, so a junk POST stores at most about 1 KB.
REFUSED_FIELDS = (
    "app_id",
    "seller_id",
    "out_trade_no",
    "trade_no",
    "trade_status",
    "total_amount",
    "currency",
    "notify_id",
    "notify_time",
    "sign_type",
)
REFUSED_FIELD_MAX_CHARS = 80


@dataclass(frozen=True)
class GatewayResult:
    reference: str  # our Payment.reference (Alipay's out_trade_no)
    transaction_id: str  # the gateway's own id (Alipay's trade_no)
    amount: Decimal
    currency: str
    merchant_id: str
    succeeded: bool  # False: the gateway reports the payment failed or closed (when final)
    final: bool = True  # False: the trade is still open (WAIT_BUYER_PAY); nothing may change


def signing_string(params: dict[str, str], *, leave_out: tuple[str, ...] = ("sign", "sign_type")) -> str:
    """What an Alipay-style signature covers: non-empty parameters sorted by name as k=v&k=v.
    A notification's leaves out `sign` and `sign_type`; an Alipay request's covers `sign_type`
    too: pass leave_out=("sign",)."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in leave_out and params[k] != "")


def amount_parse(text: str) -> Decimal:
    """An amount exactly as a gateway must write it ("27.00"). Raises PaymentError(MALFORMED)."""
    from payments.exceptions import PaymentError, PaymentErrorCode

    if not AMOUNT_FORM.fullmatch(text):
        raise PaymentError(PaymentErrorCode.MALFORMED)
    return Decimal(text)


def notification_result(
    data: dict[str, str], *, required: tuple[str, ...], currency: str, merchant_field: str = "app_id"
) -> GatewayResult:
    """Parse a notification whose signature was checked.

    Raises PaymentError(MALFORMED) for a missing field or an amount not in the exact two-decimal
    form, UNKNOWN_STATUS for a trade status that is neither final nor "waiting"."""
    from payments.exceptions import PaymentError, PaymentErrorCode

    if any(not data.get(field) for field in required):
        raise PaymentError(PaymentErrorCode.MALFORMED)
    amount = amount_parse(data["total_amount"])
    status = data["trade_status"]
    if status not in PAID_STATUSES | FAILED_STATUSES | WAITING_STATUSES:
        raise PaymentError(PaymentErrorCode.UNKNOWN_STATUS)
    return GatewayResult(
        reference=data["out_trade_no"],
        transaction_id=data["trade_no"],
        amount=amount,
        currency=currency,
        merchant_id=data[merchant_field],
        succeeded=status in PAID_STATUSES,
        final=status not in WAITING_STATUSES,
    )


def notification_excerpt(data: dict[str, str], *, fields: tuple[str, ...], max_chars: int | None = None) -> dict:
    """The part of a notification worth keeping: the named fields only (unknown ones are
    counted, not kept), each cut to `max_chars` when given."""
    kept = {name: data[name][:max_chars] if max_chars else data[name] for name in fields if name in data}
    unknown = len(set(data) - set(fields))
    if unknown:
        kept["_unknown_fields"] = unknown
    return kept


class HostedGateway(Protocol):
    code: str

    def start(self, *, payment, subject: str, return_url: str, notify_url: str) -> str:
        """The URL to send the customer's browser to."""

    fields: tuple[str, ...]  # the notification fields kept once its signature verified

    def verify(self, data: dict[str, str]) -> GatewayResult:
        """Check a notification's signature and parse it. Raises PaymentError."""

    def ack(self) -> str:
        """The body the gateway expects when a notification was taken."""

    def refund(self, *, payment, amount: Decimal, request_no: str) -> str:
        """Ask the gateway to refund; returns its refund reference. Raises PaymentError."""

    def close(self, *, payment) -> str:
        """Close the payment's trade, still unpaid, at the gateway (its order was cancelled):
        "closed", "not_created" or "paid" (the money came first: it is refunded when its
        notification arrives). Raises PaymentError when the gateway could not be asked."""


def gateway(code: str) -> HostedGateway:
    from payments.exceptions import PaymentError, PaymentErrorCode
    from payments.providers.alipay import AlipayGateway
    from payments.providers.sandbox import SandboxGateway

    if code == "sandbox":
        return SandboxGateway()
    if code == "alipay":
        return AlipayGateway()
    raise PaymentError(PaymentErrorCode.UNKNOWN_PROVIDER)
