from enum import StrEnum

from django.utils.translation import gettext_lazy as _

from shop.core.errors import ShopError


class OrderErrorCode(StrEnum):
    BAD_TRANSITION = "bad_transition"
    NOT_PAYABLE = "not_payable"
    AMOUNT_MISMATCH = "amount_mismatch"
    COUPON_UNKNOWN = "coupon_unknown"
    COUPON_INACTIVE = "coupon_inactive"
    COUPON_NOT_YET = "coupon_not_yet"
    COUPON_EXPIRED = "coupon_expired"
    COUPON_MIN_SPEND = "coupon_min_spend"
    COUPON_USED_UP = "coupon_used_up"
    COUPON_CUSTOMER_LIMIT = "coupon_customer_limit"
    NOT_SHIPPED = "not_shipped"
    NOT_FINISHED = "not_finished"
    AFTERSALE_IN_PROGRESS = "aftersale_in_progress"


class OrderError(ShopError):
    messages = {
        OrderErrorCode.BAD_TRANSITION: _("This order cannot go from “%(from)s” to “%(to)s”."),
        OrderErrorCode.NOT_PAYABLE: _("This order can no longer be paid."),
        OrderErrorCode.AMOUNT_MISMATCH: _("The amount paid does not match the order total."),
        OrderErrorCode.COUPON_UNKNOWN: _("There is no coupon “%(code)s”."),
        OrderErrorCode.COUPON_INACTIVE: _("The coupon “%(code)s” is no longer valid."),
        OrderErrorCode.COUPON_NOT_YET: _("The coupon “%(code)s” is not valid yet."),
        OrderErrorCode.COUPON_EXPIRED: _("The coupon “%(code)s” has expired."),
        OrderErrorCode.COUPON_MIN_SPEND: _("The coupon “%(code)s” needs a spend of at least %(min)s."),
        OrderErrorCode.COUPON_USED_UP: _("The coupon “%(code)s” has been fully used."),
        OrderErrorCode.COUPON_CUSTOMER_LIMIT: _("You have already used the coupon “%(code)s”."),
        OrderErrorCode.NOT_SHIPPED: _("Receipt can be confirmed only once the order has shipped."),
        OrderErrorCode.NOT_FINISHED: _("Only a completed, cancelled or closed order can be removed from your list."),
        OrderErrorCode.AFTERSALE_IN_PROGRESS: _(
            "This order has an after-sales request in progress; remove it from your list once that is finished."
        ),
    }
