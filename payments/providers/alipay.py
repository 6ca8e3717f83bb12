"""Alipay page pay (电脑网站支付), per its published open-API protocol.

Requests: the common parameters plus `biz_content` (JSON), signed RSA2 = SHA256withRSA over the
parameters sorted by name as `k=v&k=v` (empty values and `sign` left out; `sign_type` is signed),
base64-encoded. Asynchronous notifications: the same string built from every posted field except
`sign` and `sign_type`, verified with Alipay's public key; the shop answers the plain text "success".
A notification is taken only when signed RSA2 by Alipay for our app id and our seller account
(`seller_id`, the merchant's 2088… PID: another merchant's trade signed by Alipay verifies too).
Keys, app id, seller id and gateway URL come from settings.ALIPAY; tests use locally generated keys.
"""

import base64
import datetime as dt
import json
from decimal import Decimal
from urllib.parse import urlencode
from urllib.request import Request, urlopen
from zoneinfo import ZoneInfo

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from django.conf import settings
from django.utils import timezone

from payments.exceptions import PaymentError, PaymentErrorCode
from payments.providers import GatewayResult, notification_result, signing_string

# Alipay reads every time it is sent (a request's timestamp, a trade's time_expire) as Beijing
# time, GMT+8, as its SDKs format them: never the shop's TIME_ZONE, which a deployment may set
# to UTC (a trade's 30 minutes would then have expired 7.5 hours before the buyer opened it).
ALIPAY_TIME_ZONE = ZoneInfo("Asia/Shanghai")


def alipay_time(moment: dt.datetime | None = None) -> str:
    """`moment` (now when None) as Alipay reads a time: "yyyy-MM-dd HH:mm:ss", Beijing time."""
    return timezone.localtime(moment, ALIPAY_TIME_ZONE).strftime("%Y-%m-%d %H:%M:%S")


def rsa2_sign(message: str, private_key_pem: str) -> str:
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa2_verify(message: str, signature: str, public_key_pem: str) -> bool:
    key = serialization.load_pem_public_key(public_key_pem.encode())
    try:
        key.verify(base64.b64decode(signature, validate=True), message.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


# The fields of an asynchronous notification (Alipay's published list) kept once verified;
# `sign` is left out: it proves nothing once checked and is the bulk of the body.
NOTIFICATION_FIELDS = (
    "notify_time",
    "notify_type",
    "notify_id",
    "charset",
    "version",
    "sign_type",
    "auth_app_id",
    "app_id",
    "trade_no",
    "out_trade_no",
    "out_biz_no",
    "buyer_id",
    "buyer_logon_id",
    "seller_id",
    "seller_email",
    "trade_status",
    "total_amount",
    "receipt_amount",
    "invoice_amount",
    "buyer_pay_amount",
    "point_amount",
    "refund_fee",
    "subject",
    "body",
    "gmt_create",
    "gmt_payment",
    "gmt_refund",
    "gmt_close",
    "fund_bill_list",
    "passback_params",
    "voucher_detail_list",
)


class AlipayGateway:
    code = "alipay"
    fields = NOTIFICATION_FIELDS

    def __init__(self, config: dict | None = None) -> None:
        self.config = config or settings.ALIPAY

    def _common(self, method: str, biz: dict, **extra: str) -> dict[str, str]:
        params = {
            "app_id": self.config["APP_ID"],
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": alipay_time(),
            "version": "1.0",
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
            **extra,
        }
        params["sign"] = rsa2_sign(signing_string(params, leave_out=("sign",)), self.config["PRIVATE_KEY"])
        return params

    def start(self, *, payment, subject: str, return_url: str, notify_url: str) -> str:
        biz = {
            "out_trade_no": payment.reference,
            "product_code": "FAST_INSTANT_TRADE_PAY",
            "total_amount": f"{payment.amount:.2f}",
            "subject": subject[:256],
        }
        pay_by = getattr(payment.order, "pay_by", None)
        if pay_by is not None:
            # The trade expires with the order's payment window. Alipay creates a page-pay trade
            # only once the buyer logs in or scans, so alipay.trade.close on cancel may find none
            # (ACQ.TRADE_NOT_EXIST) while the page is still open: this keeps it from paying later.
            biz["time_expire"] = alipay_time(pay_by)
        params = self._common("alipay.trade.page.pay", biz, return_url=return_url, notify_url=notify_url)
        return f"{self.config['GATEWAY_URL']}?{urlencode(params)}"

    def verify(self, data: dict[str, str]) -> GatewayResult:
        """Check the signature (RSA2 only; Alipay always says which), then that the trade is our
        app's and our seller account's. Raises PaymentError(BAD_SIGN_TYPE, BAD_SIGNATURE,
        WRONG_MERCHANT, MALFORMED or UNKNOWN_STATUS)."""
        # sign_type is outside the signed string: a notification naming RSA (SHA1) or nothing
        # is refused rather than verified some other way.
        if data.get("sign_type") != "RSA2":
            raise PaymentError(PaymentErrorCode.BAD_SIGN_TYPE)
        signature = data.get("sign", "")
        if not signature or not rsa2_verify(signing_string(data), signature, self.config["ALIPAY_PUBLIC_KEY"]):
            raise PaymentError(PaymentErrorCode.BAD_SIGNATURE)
        # An unset seller id refuses everything: the check cannot be skipped by forgetting it.
        seller = self.config.get("SELLER_ID", "")
        if not seller or data.get("seller_id") != seller or data.get("app_id") != self.config["APP_ID"]:
            raise PaymentError(PaymentErrorCode.WRONG_MERCHANT)
        # Page pay settles in yuan: total_amount is in CNY.
        return notification_result(
            data,
            required=("app_id", "out_trade_no", "trade_no", "total_amount", "trade_status"),
            currency="CNY",
        )

    def ack(self) -> str:
        return "success"

    def refund_request(self, *, payment, amount: Decimal, request_no: str) -> dict[str, str]:
        biz = {"out_trade_no": payment.reference, "refund_amount": f"{amount:.2f}", "out_request_no": request_no}
        return self._common("alipay.trade.refund", biz)

    def refund(self, *, payment, amount: Decimal, request_no: str) -> str:
        """alipay.trade.refund: POST the signed request; verify the signed JSON answer."""
        return self.parse_refund_response(
            self._post(self.refund_request(payment=payment, amount=amount, request_no=request_no))
        )

    def _post(self, params: dict[str, str]) -> str:
        """POST a signed request to the gateway; its answer's text. Raises
        PaymentError(GATEWAY_ERROR) when the gateway cannot be reached (the caller retries)."""
        request = Request(self.config["GATEWAY_URL"], data=urlencode(params).encode(), method="POST")  # noqa: S310 - configured https URL
        request.add_header("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
        try:
            with urlopen(request, timeout=10) as response:  # noqa: S310
                return response.read().decode()
        except OSError as exc:
            raise PaymentError(PaymentErrorCode.GATEWAY_ERROR) from exc

    def parse_refund_response(self, raw: str) -> str:
        answer = self._verified_answer(raw, "alipay_trade_refund_response")
        if answer.get("code") != "10000":
            raise PaymentError(PaymentErrorCode.GATEWAY_ERROR)
        return answer.get("trade_no", "")

    def _verified_answer(self, raw: str, key: str) -> dict:
        """The response object of a signed JSON answer. Raises PaymentError(BAD_SIGNATURE)."""
        try:
            document = json.loads(raw)
            # The signature covers the exact JSON text of the response object.
            start = raw.index("{", raw.index(f'"{key}"') + len(key) + 2)
            _answer, end = json.JSONDecoder().raw_decode(raw, start)
        except (ValueError, TypeError) as exc:  # not JSON, or not this method's answer
            raise PaymentError(PaymentErrorCode.GATEWAY_ERROR) from exc
        if not rsa2_verify(raw[start:end], document.get("sign", ""), self.config["ALIPAY_PUBLIC_KEY"]):
            raise PaymentError(PaymentErrorCode.BAD_SIGNATURE)
        return document[key]

    def close_request(self, *, payment) -> dict[str, str]:
        return self._common("alipay.trade.close", {"out_trade_no": payment.reference})

    def close(self, *, payment) -> str:
        """alipay.trade.close: POST the signed request, verify the signed answer. Returns
        "closed", or what Alipay says instead when there is nothing left to close: "not_created"
        (the buyer never opened the trade; it expires at time_expire) or "paid" (the money
        arrived first: its notification is refunded as a payment for a cancelled order).
        Raises PaymentError(GATEWAY_ERROR, BAD_SIGNATURE) for anything else, to try again."""
        return self.parse_close_response(self._post(self.close_request(payment=payment)))

    def parse_close_response(self, raw: str) -> str:
        answer = self._verified_answer(raw, "alipay_trade_close_response")
        if answer.get("code") == "10000":
            return "closed"
        outcome = CLOSE_SETTLED.get(answer.get("sub_code", ""))
        if outcome is None:
            raise PaymentError(PaymentErrorCode.GATEWAY_ERROR)
        return outcome


# alipay.trade.close's business errors that leave nothing to close (anything else is tried again).
CLOSE_SETTLED = {
    "ACQ.TRADE_NOT_EXIST": "not_created",
    "ACQ.TRADE_HAS_CLOSE": "closed",
    "ACQ.TRADE_HAS_SUCCESS": "paid",
    "ACQ.TRADE_HAS_FINISHED": "paid",
}
