from enum import StrEnum

from django.utils.translation import gettext_lazy as _

from shop.core.errors import ShopError


class FulfillmentErrorCode(StrEnum):
    NOT_OPEN = "not_open"
    NOT_PACKABLE = "not_packable"
    NOT_SHIPPED = "not_shipped"
    CARRIER_REFUSED = "carrier_refused"
    CARRIER_UNAVAILABLE = "carrier_unavailable"
    TRACKING_IN_USE = "tracking_in_use"
    TRACKING_REQUIRED = "tracking_required"
    CANNOT_SERVE = "cannot_serve"
    NOTHING_TO_REROUTE = "nothing_to_reroute"
    PO_NOT_EDITABLE = "po_not_editable"
    PO_EMPTY = "po_empty"
    PO_NOT_RECEIVABLE = "po_not_receivable"
    PO_OVER_RECEIVED = "po_over_received"
    PO_NOTHING_RECEIVED = "po_nothing_received"
    PO_NOT_CANCELLABLE = "po_not_cancellable"
    SIGNATURE_REQUIRED = "signature_required"
    CASH_REQUIRED = "cash_required"
    TRACKING_TOO_LONG = "tracking_too_long"
    PO_CHANGED = "po_changed"
    NOT_OWN_FLEET = "not_own_fleet"
    CASH_NOT_ALLOWED = "cash_not_allowed"
    ALERT_UNAVAILABLE = "alert_unavailable"
    ALERT_IN_STOCK = "alert_in_stock"


class FulfillmentError(ShopError):
    messages = {
        FulfillmentErrorCode.NOT_OPEN: _("Shipment %(number)s has already been shipped or cancelled."),
        FulfillmentErrorCode.NOT_PACKABLE: _("Shipment %(number)s is not waiting to be packed."),
        FulfillmentErrorCode.NOT_SHIPPED: _("Shipment %(number)s is not with a carrier."),
        FulfillmentErrorCode.CARRIER_REFUSED: _("The carrier refused shipment %(number)s: %(reason)s"),
        FulfillmentErrorCode.CARRIER_UNAVAILABLE: _(
            "The carrier cannot be reached for shipment %(number)s; nothing was shipped. Try again shortly."
        ),
        FulfillmentErrorCode.TRACKING_IN_USE: _("Tracking number %(tracking)s is already used by another parcel."),
        FulfillmentErrorCode.TRACKING_REQUIRED: _("Enter the tracking number of shipment %(number)s."),
        FulfillmentErrorCode.CANNOT_SERVE: _("%(warehouse)s does not have enough stock for these items."),
        FulfillmentErrorCode.NOTHING_TO_REROUTE: _("Order %(number)s has no parcels waiting to be packed."),
        FulfillmentErrorCode.PO_NOT_EDITABLE: _("Purchase order %(number)s can no longer be changed."),
        FulfillmentErrorCode.PO_EMPTY: _("Purchase order %(number)s has no lines."),
        FulfillmentErrorCode.PO_NOT_RECEIVABLE: _("Purchase order %(number)s is not awaiting goods."),
        FulfillmentErrorCode.PO_OVER_RECEIVED: _("%(sku)s: only %(outstanding)d more can be received."),
        FulfillmentErrorCode.PO_NOTHING_RECEIVED: _("Enter the quantity received for at least one line."),
        FulfillmentErrorCode.PO_NOT_CANCELLABLE: _(
            "Purchase order %(number)s cannot be cancelled once goods have been received."
        ),
        FulfillmentErrorCode.SIGNATURE_REQUIRED: _("A delivery needs the name of the person who signed for it."),
        FulfillmentErrorCode.CASH_REQUIRED: _(
            "This parcel is cash on delivery: enter the cash the courier collected (%(amount)s due)."
        ),
        FulfillmentErrorCode.TRACKING_TOO_LONG: _(
            "The tracking number of shipment %(number)s is too long (at most %(max)d characters)."
        ),
        FulfillmentErrorCode.PO_CHANGED: _(
            "Purchase order %(number)s was received by someone else meanwhile; check the figures and enter "
            "what is still to receive."
        ),
        FulfillmentErrorCode.NOT_OWN_FLEET: _(
            "Shipment %(number)s travels with a carrier that reports its own tracking; events are recorded "
            "by hand only for our own fleet."
        ),
        FulfillmentErrorCode.CASH_NOT_ALLOWED: _(
            "Shipment %(number)s is cash on delivery: recording its delivery records the cash collected, "
            "which needs the permission to record cash collections."
        ),
        FulfillmentErrorCode.ALERT_UNAVAILABLE: _("This product is no longer sold."),
        FulfillmentErrorCode.ALERT_IN_STOCK: _("“%(name)s” is in stock now: you can add it to your cart."),
    }
