from enum import StrEnum

from django.utils.translation import gettext_lazy as _

from shop.core.errors import ShopError


class AfterSaleErrorCode(StrEnum):
    NOT_ELIGIBLE = "not_eligible"
    NO_LINES = "no_lines"
    TOO_MANY_UNITS = "too_many_units"
    TOO_MANY_REQUESTS = "too_many_requests"
    KIND_NOT_ALLOWED = "kind_not_allowed"
    REASON_NOT_ALLOWED = "reason_not_allowed"
    NO_REASON_WINDOW = "no_reason_window"
    NO_REASON_EXCLUDED = "no_reason_excluded"
    QUALITY_WINDOW = "quality_window"
    TOO_MANY_PHOTOS = "too_many_photos"
    BAD_PHOTO = "bad_photo"
    DESCRIPTION_REQUIRED = "description_required"
    EXCHANGE_VARIANT = "exchange_variant"
    EXCHANGE_OUT_OF_STOCK = "exchange_out_of_stock"
    BAD_TRANSITION = "bad_transition"
    NOT_OPEN = "not_open"
    APPEAL_USED = "appeal_used"
    APPEAL_LATE = "appeal_late"
    REASON_REQUIRED = "reason_required"
    MESSAGE_EMPTY = "message_empty"
    TRACKING_REQUIRED = "tracking_required"
    TRACKING_IN_USE = "tracking_in_use"
    CARRIER_UNAVAILABLE = "carrier_unavailable"
    RECEIVE_COUNTS = "receive_counts"
    NEEDS_SUPERVISOR = "needs_supervisor"
    NOT_INSURED = "not_insured"
    CLAIM_EXISTS = "claim_exists"
    CLAIM_NOT_OPEN = "claim_not_open"
    REFUND_TOO_LARGE = "refund_too_large"
    ORDER_NOT_REVIEWABLE = "order_not_reviewable"
    REVIEW_EXISTS = "review_exists"
    REVIEW_LATE = "review_late"
    LINE_REFUNDED = "line_refunded"
    FOLLOWUP_EXISTS = "followup_exists"
    FOLLOWUP_LATE = "followup_late"
    BAD_RATING = "bad_rating"
    ALREADY_SHIPPED = "already_shipped"
    NOTHING_TO_CLAIM = "nothing_to_claim"
    REFUND_NOT_ALLOWED = "refund_not_allowed"


class AfterSaleError(ShopError):
    messages = {
        AfterSaleErrorCode.NOT_ELIGIBLE: _("This order has nothing you can ask after-sales for now."),
        AfterSaleErrorCode.NO_LINES: _("Choose at least one item and how many units."),
        AfterSaleErrorCode.TOO_MANY_UNITS: _("You can ask for at most %(n)d of “%(name)s”."),
        AfterSaleErrorCode.TOO_MANY_REQUESTS: _("“%(name)s” already has %(n)d requests, the most allowed."),
        AfterSaleErrorCode.KIND_NOT_ALLOWED: _("This kind of request is not possible for this order now."),
        AfterSaleErrorCode.REASON_NOT_ALLOWED: _("Choose one of the reasons offered for this kind of request."),
        AfterSaleErrorCode.NO_REASON_WINDOW: _("No-reason returns end %(days)d days after delivery."),
        AfterSaleErrorCode.NO_REASON_EXCLUDED: _(
            "“%(name)s” cannot be returned without a reason (e.g. perishable, custom-made or hygiene goods)."
        ),
        AfterSaleErrorCode.QUALITY_WINDOW: _("Returns and exchanges end %(days)d days after delivery."),
        AfterSaleErrorCode.TOO_MANY_PHOTOS: _("At most %(n)d photos."),
        AfterSaleErrorCode.BAD_PHOTO: _("Photo %(n)d: %(error)s"),
        AfterSaleErrorCode.DESCRIPTION_REQUIRED: _("Please describe the problem."),
        AfterSaleErrorCode.EXCHANGE_VARIANT: _("Choose another option of the same product to exchange “%(name)s” for."),
        AfterSaleErrorCode.EXCHANGE_OUT_OF_STOCK: _("The option you want in exchange is out of stock."),
        AfterSaleErrorCode.BAD_TRANSITION: _("The request is %(from)s; it cannot become %(to)s."),
        AfterSaleErrorCode.NOT_OPEN: _("This request is no longer open."),
        AfterSaleErrorCode.APPEAL_USED: _("A request can be appealed only once."),
        AfterSaleErrorCode.APPEAL_LATE: _("The time to appeal has passed."),
        AfterSaleErrorCode.REASON_REQUIRED: _("Please give a reason the customer will see."),
        AfterSaleErrorCode.MESSAGE_EMPTY: _("The message is empty."),
        AfterSaleErrorCode.TRACKING_REQUIRED: _("Enter the carrier and the tracking number of your return."),
        AfterSaleErrorCode.TRACKING_IN_USE: _("Tracking number %(tracking)s is already in use."),
        AfterSaleErrorCode.CARRIER_UNAVAILABLE: _("The carrier cannot be reached just now; please try again shortly."),
        AfterSaleErrorCode.RECEIVE_COUNTS: _(
            "Units back in stock and written off must add up to the %(n)d units of “%(name)s”."
        ),
        AfterSaleErrorCode.NEEDS_SUPERVISOR: _("An escalated or appealed request is decided by a supervisor."),
        AfterSaleErrorCode.NOT_INSURED: _("Parcel %(number)s was not insured."),
        AfterSaleErrorCode.CLAIM_EXISTS: _("Parcel %(number)s already has a claim."),
        AfterSaleErrorCode.CLAIM_NOT_OPEN: _("This claim is already settled."),
        AfterSaleErrorCode.REFUND_TOO_LARGE: _("The refund would exceed what was paid."),
        AfterSaleErrorCode.ORDER_NOT_REVIEWABLE: _("Items can be reviewed once the order is completed."),
        AfterSaleErrorCode.REVIEW_EXISTS: _("You have already reviewed this item."),
        AfterSaleErrorCode.REVIEW_LATE: _("Reviews close %(days)d days after the order is completed."),
        AfterSaleErrorCode.LINE_REFUNDED: _("This item was refunded in full, so it cannot be reviewed."),
        AfterSaleErrorCode.FOLLOWUP_EXISTS: _("A review can be followed up once."),
        AfterSaleErrorCode.FOLLOWUP_LATE: _("Follow-ups close %(days)d days after the order is completed."),
        AfterSaleErrorCode.BAD_RATING: _("Choose a rating from 1 to 5 stars."),
        AfterSaleErrorCode.ALREADY_SHIPPED: _(
            "Some of these units have already left the warehouse: reject the request and ask for a return instead."
        ),
        AfterSaleErrorCode.REFUND_NOT_ALLOWED: _("Only staff who decide after-sales requests can refund a customer."),
        AfterSaleErrorCode.NOTHING_TO_CLAIM: _(
            "Only an insured parcel with the carrier (or delivered damaged) can be claimed for."
        ),
    }


class SettlementErrorCode(StrEnum):
    MONTH_NOT_OVER = "month_not_over"
    BAD_MONTH = "bad_month"
    MISMATCH = "mismatch"
    NOT_DRAFT = "not_draft"
    NOT_CONFIRMED = "not_confirmed"
    REFERENCE_REQUIRED = "reference_required"
    REASON_REQUIRED = "reason_required"
    AMOUNT_REQUIRED = "amount_required"


class SettlementError(ShopError):
    messages = {
        SettlementErrorCode.MONTH_NOT_OVER: _("%(month)s is not over yet: a month is settled after it ends."),
        SettlementErrorCode.BAD_MONTH: _("Give the month as YYYY-MM, e.g. 2026-10."),
        SettlementErrorCode.MISMATCH: _("The books for %(month)s do not reconcile; nothing was written.\n%(report)s"),
        SettlementErrorCode.NOT_DRAFT: _("Statement %(number)s is %(state)s: only a draft can change."),
        SettlementErrorCode.NOT_CONFIRMED: _("Statement %(number)s is %(state)s: only a confirmed statement is paid."),
        SettlementErrorCode.REFERENCE_REQUIRED: _("Enter the transfer's reference and the date it was paid."),
        SettlementErrorCode.REASON_REQUIRED: _("Give the adjustment's reason."),
        SettlementErrorCode.AMOUNT_REQUIRED: _("An adjustment needs an amount other than zero."),
    }


class InvoiceErrorCode(StrEnum):
    NOT_INVOICEABLE = "not_invoiceable"
    TITLE_TYPE = "title_type"
    TITLE_REQUIRED = "title_required"
    TITLE_TOO_LONG = "title_too_long"
    TAXPAYER_ID_REQUIRED = "taxpayer_id_required"
    TAXPAYER_ID_LENGTH = "taxpayer_id_length"
    TAXPAYER_ID_CHARACTERS = "taxpayer_id_characters"
    TAXPAYER_ID_CHECK = "taxpayer_id_check"
    BAD_EMAIL = "bad_email"
    ALREADY_ISSUED = "already_issued"
    NOTHING_TO_INVOICE = "nothing_to_invoice"


class InvoiceError(ShopError):
    messages = {
        InvoiceErrorCode.NOT_INVOICEABLE: _(
            "An invoice can be issued only for a paid order that was not refunded in full."
        ),
        InvoiceErrorCode.TITLE_TYPE: _("Choose individual or organisation."),
        InvoiceErrorCode.TITLE_REQUIRED: _("Enter the invoice title (your name, or the organisation's full name)."),
        InvoiceErrorCode.TITLE_TOO_LONG: _("The invoice title can be at most 100 characters."),
        InvoiceErrorCode.TAXPAYER_ID_REQUIRED: _(
            "An organisation's invoice needs its taxpayer ID (unified social credit code)."
        ),
        InvoiceErrorCode.TAXPAYER_ID_LENGTH: _("A unified social credit code has 18 characters."),
        InvoiceErrorCode.TAXPAYER_ID_CHARACTERS: _(
            "A unified social credit code has only digits and capital letters other than I, O, S, V and Z, "
            "with digits in places 3 to 8."
        ),
        InvoiceErrorCode.TAXPAYER_ID_CHECK: _(
            "This unified social credit code is mistyped: its last character does not match."
        ),
        InvoiceErrorCode.BAD_EMAIL: _("Enter a valid email address for the invoice."),
        InvoiceErrorCode.ALREADY_ISSUED: _(
            "Invoice %(number)s has already been issued for this order; it can no longer be changed."
        ),
        InvoiceErrorCode.NOTHING_TO_INVOICE: _("Nothing is left to invoice: the order was refunded."),
    }
