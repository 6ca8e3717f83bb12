"""Payment providers behind one interface (DESIGN.md): start, verify, refund.

Hosted gateways (the sandbox and Alipay) redirect the browser to their page and later post a
signed server-to-server notification; `verify` turns that into a `GatewayResult` or raises
PaymentError. The wallet and cash on delivery settle inside the shop (payments.services).
"""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Protocol


@dataclass(frozen=True)
class GatewayResult:
    reference: str  # our Payment.reference (Alipay's out_trade_no)
    transaction_id: str  # the gateway's own id (Alipay's trade_no)
    amount: Decimal
    currency: str
    merchant_id: str
    succeeded: bool  # False: the gateway reports the payment failed or closed


def signing_string(params: dict[str, str], *, leave_out: tuple[str, ...] = ("sign", "sign_type")) -> str:
    """What an Alipay-style signature covers: non-empty parameters sorted by name as k=v&k=v.
    A notification's leaves out `sign` and `sign_type`; an Alipay request's covers `sign_type`
    too: pass leave_out=("sign",)."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in leave_out and params[k] != "")


def notification_result(data: dict[str, str], *, required: tuple[str, ...], currency: str) -> GatewayResult:
    """Parse a notification whose signature was checked. Raises PaymentError(MALFORMED)."""
    from payments.exceptions import PaymentError, PaymentErrorCode

    if any(not data.get(field) for field in required):
        raise PaymentError(PaymentErrorCode.MALFORMED)
    try:
        amount = Decimal(data["total_amount"])
    except InvalidOperation as exc:
        raise PaymentError(PaymentErrorCode.MALFORMED) from exc
    return GatewayResult(
        reference=data["out_trade_no"],
        transaction_id=data["trade_no"],
        amount=amount,
        currency=currency,
        merchant_id=data["app_id"],
        succeeded=data["trade_status"] in ("TRADE_SUCCESS", "TRADE_FINISHED"),
    )


class HostedGateway(Protocol):
    code: str

    def start(self, *, payment, subject: str, return_url: str, notify_url: str) -> str:
        """The URL to send the customer's browser to."""

    def verify(self, data: dict[str, str]) -> GatewayResult:
        """Check a notification's signature and parse it. Raises PaymentError."""

    def ack(self) -> str:
        """The body the gateway expects when a notification was taken."""

    def refund(self, *, payment, amount: Decimal, request_no: str) -> str:
        """Ask the gateway to refund; returns its refund reference. Raises PaymentError."""


def gateway(code: str) -> HostedGateway:
    from payments.exceptions import PaymentError, PaymentErrorCode
    from payments.providers.alipay import AlipayGateway
    from payments.providers.sandbox import SandboxGateway

    if code == "sandbox":
        return SandboxGateway()
    if code == "alipay":
        return AlipayGateway()
    raise PaymentError(PaymentErrorCode.UNKNOWN_PROVIDER)
