"""Labels for model fields declared without a verbose name in apps whose migrations this module
does not own (payments, fulfillment, cart, shop's addresses): Django then shows the field's name
("created at", "actor", "recorded by", "product") in English on Chinese admin pages.

The label is set on the field's `verbose_name` only, at start-up (ShopConfig.ready): migrations
read the declared one (`_verbose_name`), so no migration follows. Each app should move these into
its models (verbose_name=_("…")) with its next migration and drop its lines here; a field given
a verbose name of its own is left alone."""

from django.apps import apps
from django.utils.translation import gettext_lazy as _

LABELS = {
    "payments.Payment": {"order": _("order"), "created_at": _("created at"), "captured_at": _("captured at")},
    "payments.Refund": {"payment": _("payment"), "actor": _("actor")},
    "payments.GatewayNotification": {
        "provider": _("provider"),
        "payload": _("payload"),
        "accepted": _("accepted"),
        "outcome": _("outcome"),
        "received_at": _("received at"),
    },
    "payments.Wallet": {"user": _("user")},
    "payments.WalletEntry": {"wallet": _("wallet"), "actor": _("actor"), "created_at": _("created at")},
    "fulfillment.Stock": {"product": _("product")},
    "fulfillment.Reservation": {
        "order": _("order"),
        "stock": _("stock"),
        "variant": _("variant"),
        "quantity": _("quantity"),
        "state": _("state"),
        "created_at": _("created at"),
    },
    "fulfillment.Shipment": {
        "next_poll_at": _("next poll at"),
        "poll_failures": _("poll failures"),
        "last_poll_error": _("last poll error"),
    },
    "fulfillment.ShipmentLine": {
        "shipment": _("shipment"),
        "order_line": _("order line"),
        "reservation": _("reservation"),
    },
    "fulfillment.TrackingEvent": {
        "shipment": _("shipment"),
        "recorded_by": _("recorded by"),
        "created_at": _("created at"),
    },
    "fulfillment.PurchaseOrderLine": {"purchase_order": _("purchase order")},
    "cart.Cart": {
        "user": _("user"),
        "state": _("state"),
        "coupon_code": _("coupon code"),
        "created_at": _("created at"),
        "updated_at": _("updated at"),
    },
    "cart.CartLine": {
        "cart": _("cart"),
        "variant": _("variant"),
        "quantity": _("quantity"),
        "price_seen": _("price seen"),
        "added_at": _("added at"),
    },
    "shop.Address": {"created_at": _("created at")},
}


def field_labels_apply() -> None:
    for label, fields in LABELS.items():
        model = apps.get_model(label)
        for name, verbose_name in fields.items():
            field = model._meta.get_field(name)
            if field._verbose_name is None:  # declared without one
                field.verbose_name = verbose_name
