"""Warehouse staff: their permission group and their daily low-stock digest."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db.models import F
from django.utils import timezone

from fulfillment.models import Stock
from orders.models import Notification
from orders.services import notification_queue

WAREHOUSE_GROUP = "Warehouse staff"

# Ship and receive, count stock, read orders and the catalogue; never change prices (catalog
# products and variants) or money (payments, wallets, refunds).
WAREHOUSE_PERMISSIONS = [
    "orders.view_order",
    "orders.view_orderline",
    "catalog.view_product",
    "catalog.view_productvariant",
    "catalog.view_supplier",
    "fulfillment.view_warehouse",
    "fulfillment.view_stock",
    "fulfillment.change_stock",
    "fulfillment.view_stockmovement",
    "fulfillment.view_shipment",
    "fulfillment.change_shipment",
    "fulfillment.view_shipmentline",
    "fulfillment.view_trackingevent",
    "fulfillment.add_trackingevent",
    "fulfillment.view_purchaseorder",
    "fulfillment.add_purchaseorder",
    "fulfillment.change_purchaseorder",
    "fulfillment.receive_purchaseorder",
    "fulfillment.view_purchaseorderline",
    "fulfillment.add_purchaseorderline",
    "fulfillment.change_purchaseorderline",
    "fulfillment.delete_purchaseorderline",
    # After-sales (granted by name: they exist once aftersales is migrated, whose post_migrate
    # runs this again): read the requests, receive returned goods, file and settle insurance
    # claims. Never decide a request, and never a claim's refund (the claim form asks for
    # aftersales.decide_aftersale before it offers one).
    "aftersales.view_aftersale",
    "aftersales.receive_return",
    "aftersales.view_insuranceclaim",
    "aftersales.add_insuranceclaim",
    "aftersales.change_insuranceclaim",
]


def group_ensure(*, name: str, permissions: list[str]) -> Group:
    """Create the group `name` or correct it to hold exactly `permissions` ("app.codename";
    those not created yet are skipped, so run it again once they are)."""
    group, _created = Group.objects.get_or_create(name=name)
    wanted = []
    for permission in permissions:
        app_label, codename = permission.split(".")
        wanted.extend(Permission.objects.filter(content_type__app_label=app_label, codename=codename))
    group.permissions.set(wanted)
    return group


def staff_groups_ensure() -> Group:
    """Create or correct the warehouse staff group (run after every migrate)."""
    return group_ensure(name=WAREHOUSE_GROUP, permissions=WAREHOUSE_PERMISSIONS)


def low_stock_rows(*, limit: int = 500) -> list[dict]:
    """Active variants whose available units in a warehouse are at or under their threshold."""
    return list(
        Stock.objects.filter(variant__is_active=True, variant__product__is_active=True, warehouse__is_active=True)
        .annotate(available=F("on_hand") - F("reserved"), threshold=F("variant__low_stock_threshold"))
        .filter(available__lte=F("threshold"))
        .order_by("warehouse__code", "available", "variant__sku")
        .values("warehouse__name", "variant__sku", "product__name", "on_hand", "reserved", "available", "threshold")[
            :limit
        ]
    )


def low_stock_digest_queue(*, today=None) -> int:
    """Mail the day's low-stock list to every warehouse staff member (once per day each, however
    often it runs). Returns the number of mails written; none when nothing is low."""
    today = today or timezone.localdate()
    rows = low_stock_rows()
    if not rows:
        return 0
    warehouses: dict[str, list[dict]] = {}
    for row in rows:
        warehouses.setdefault(row["warehouse__name"], []).append(
            {
                "sku": row["variant__sku"],
                "name": row["product__name"],
                "on_hand": row["on_hand"],
                "reserved": row["reserved"],
                "available": row["available"],
                "threshold": row["threshold"],
            }
        )
    staff = get_user_model().objects.filter(groups__name=WAREHOUSE_GROUP, is_active=True).exclude(email="")
    written = 0
    for user in staff.distinct():
        notification_queue(
            kind=Notification.Kind.LOW_STOCK,
            key=f"low_stock:{today.isoformat()}:{user.pk}",
            to=user.email,
            language=getattr(user, "language", ""),
            user=user,
            context={"date": today.isoformat(), "warehouses": warehouses, "count": len(rows)},
        )
        written += 1
    return written
