"""Fulfillment's rules: stock and its movements, routing, shipments and tracking, purchase
orders, warehouse staff. Import from here; the modules split the work by subject."""

from fulfillment.services.procurement import (
    purchase_order_cancel,
    purchase_order_number_new,
    purchase_order_place,
    purchase_order_receive,
)
from fulfillment.services.shipping import (
    CASH_PERMISSION,
    goods_value,
    order_reroute,
    pick_list,
    shipment_insured_value,
    shipment_pack,
    shipment_poll,
    shipment_record_event,
    shipment_record_updates,
    shipment_ship,
    shipments_cod_withdraw,
    shipments_create,
    shipments_due_for_poll,
)
from fulfillment.services.staff import low_stock_digest_queue, low_stock_rows, staff_groups_ensure
from fulfillment.services.stock import (
    OutOfStock,
    StockRefused,
    product_stock_flags_refresh,
    stock_commit,
    stock_movement_totals,
    stock_receive,
    stock_release,
    stock_reserve,
    stock_set_on_hand,
)

__all__ = [
    "CASH_PERMISSION",
    "OutOfStock",
    "StockRefused",
    "goods_value",
    "low_stock_digest_queue",
    "low_stock_rows",
    "order_reroute",
    "pick_list",
    "product_stock_flags_refresh",
    "purchase_order_cancel",
    "purchase_order_number_new",
    "purchase_order_place",
    "purchase_order_receive",
    "shipment_insured_value",
    "shipment_pack",
    "shipment_poll",
    "shipment_record_event",
    "shipment_record_updates",
    "shipment_ship",
    "shipments_cod_withdraw",
    "shipments_create",
    "shipments_due_for_poll",
    "staff_groups_ensure",
    "stock_commit",
    "stock_movement_totals",
    "stock_receive",
    "stock_release",
    "stock_reserve",
    "stock_set_on_hand",
]
