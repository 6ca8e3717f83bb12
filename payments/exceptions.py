from enum import StrEnum

from django.utils.translation import gettext_lazy as _

from shop.core.errors import ShopError


class PaymentErrorCode(StrEnum):
    BAD_SIGNATURE = "bad_signature"
    WRONG_MERCHANT = "wrong_merchant"
    UNKNOWN_PAYMENT = "unknown_payment"
    AMOUNT_MISMATCH = "amount_mismatch"
    CURRENCY_MISMATCH = "currency_mismatch"
    MALFORMED = "malformed"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    NOT_PAYABLE = "not_payable"
    UNKNOWN_PROVIDER = "unknown_provider"
    REASON_REQUIRED = "reason_required"
    GATEWAY_ERROR = "gateway_error"
    # The gateway named a transaction that another of our payments already holds.
    TRANSACTION_REUSED = "transaction_reused"
    UNKNOWN_STATUS = "unknown_status"
    BAD_SIGN_TYPE = "bad_sign_type"
    # Refunds: only money we hold can go back, and never more than was taken.
    NOT_REFUNDABLE = "not_refundable"
    REFUND_TOO_LARGE = "refund_too_large"
    REFUND_NOT_FAILED = "refund_not_failed"
    # A staff adjustment of nothing: the ledger holds no zero entries (wallet_entry_not_zero).
    ADJUSTMENT_ZERO = "adjustment_zero"
    # The same staff adjustment form posted again (double click, back and resend).
    ADJUSTMENT_REPEATED = "adjustment_repeated"
    # ORDER_MAX_COD_PER_CUSTOMER orders with cash still to collect: no more on credit.
    TOO_MANY_COD = "too_many_cod"


class PaymentError(ShopError):
    messages = {
        PaymentErrorCode.BAD_SIGNATURE: _("The notification's signature is not valid."),
        PaymentErrorCode.WRONG_MERCHANT: _("The notification is for another merchant."),
        PaymentErrorCode.UNKNOWN_PAYMENT: _("The notification names a payment we did not start."),
        PaymentErrorCode.AMOUNT_MISMATCH: _("The amount does not match the payment."),
        PaymentErrorCode.CURRENCY_MISMATCH: _("The currency does not match the payment."),
        PaymentErrorCode.MALFORMED: _("The notification is missing fields."),
        PaymentErrorCode.INSUFFICIENT_BALANCE: _(
            "Your wallet balance (%(balance)s) is less than the order total (%(total)s)."
        ),
        PaymentErrorCode.NOT_PAYABLE: _("This order can no longer be paid."),
        PaymentErrorCode.UNKNOWN_PROVIDER: _("This payment method is not available."),
        PaymentErrorCode.REASON_REQUIRED: _("A reason is required for a wallet adjustment."),
        PaymentErrorCode.GATEWAY_ERROR: _("The payment gateway did not accept the request."),
        PaymentErrorCode.TRANSACTION_REUSED: _("The gateway's transaction is already recorded for another payment."),
        PaymentErrorCode.UNKNOWN_STATUS: _("The notification reports a trade status we do not know."),
        PaymentErrorCode.BAD_SIGN_TYPE: _("The notification is not signed with the expected algorithm."),
        PaymentErrorCode.NOT_REFUNDABLE: _("This payment cannot be refunded to its method."),
        PaymentErrorCode.REFUND_TOO_LARGE: _("The refund would exceed what the payment took."),
        PaymentErrorCode.REFUND_NOT_FAILED: _("Only a failed refund can be sent again."),
        PaymentErrorCode.ADJUSTMENT_ZERO: _("An adjustment must add or take an amount: zero changes nothing."),
        PaymentErrorCode.TOO_MANY_COD: _(
            "You already have %(n)d cash-on-delivery orders whose cash has not been collected yet. Pay for this "
            "order online, or choose cash on delivery again once one of them has been delivered."
        ),
        PaymentErrorCode.ADJUSTMENT_REPEATED: _(
            "This adjustment was already recorded (the form was sent twice); it was not made again."
        ),
    }
