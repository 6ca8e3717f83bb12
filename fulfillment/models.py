"""Warehouses, stock and its movements, reservations, shipments and their tracking, and
purchase orders.

Stock rules (DESIGN.md): per warehouse and variant, 0 <= reserved <= on_hand, enforced by check
constraints; every change writes a StockMovement, so on_hand and reserved always equal the sums
of their movements' deltas. Only fulfillment.services writes these tables.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catalog.models import bilingual

MONEY = {"max_digits": 12, "decimal_places": 2}


class Warehouse(models.Model):
    code = models.SlugField(_("code"), max_length=30, unique=True)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    province = models.CharField(_("province"), max_length=50)
    city = models.CharField(_("city"), max_length=50)
    # Customers read where their parcel ships from ("ships from Guangzhou"); the Chinese city
    # stays what carriers and geo.locate read.
    city_en = models.CharField(_("city in English"), max_length=50, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    # Where it is, to rank warehouses by distance to a delivery address. Left empty, the
    # city's (or else the province capital's) coordinates are filled in on save.
    latitude = models.FloatField(_("latitude"), null=True, blank=True)
    longitude = models.FloatField(_("longitude"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("warehouse")
        verbose_name_plural = _("warehouses")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.city})"

    @property
    def display_name(self) -> str:
        return bilingual(self.name, self.name_en)

    @property
    def display_city(self) -> str:
        return bilingual(self.city, self.city_en)

    def save(self, *args, **kwargs) -> None:
        if self.latitude is None or self.longitude is None:
            from fulfillment.geo import locate

            point = locate(self.province, self.city)
            if point:
                self.latitude, self.longitude = point
        super().save(*args, **kwargs)


class Stock(models.Model):
    """Units of one variant in one warehouse. available = on_hand - reserved."""

    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="stocks", verbose_name=_("warehouse")
    )
    variant = models.ForeignKey(
        "catalog.ProductVariant", on_delete=models.CASCADE, related_name="stocks", verbose_name=_("variant")
    )
    # Denormalised from variant so the product admin can show stock inline and so that
    # "is this product in stock" is one indexed aggregate. Set from variant on save.
    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="stocks", editable=False)
    on_hand = models.IntegerField(_("on hand"), default=0)
    reserved = models.IntegerField(_("reserved"), default=0, editable=False)
    # Where the units sit in the warehouse (aisle-shelf-bin, e.g. "A-03-2"): the pick list prints
    # it so the picker walks to it instead of searching.
    location = models.CharField(_("bin location"), max_length=20, blank=True)

    class Meta:
        verbose_name = _("stock")
        verbose_name_plural = _("stock")
        constraints = [
            models.UniqueConstraint(fields=["warehouse", "variant"], name="stock_one_row_per_place"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="stock_reserved_not_negative"),
            models.CheckConstraint(condition=Q(reserved__lte=F("on_hand")), name="stock_reserved_within_on_hand"),
        ]
        indexes = [models.Index(fields=["product"], name="stock_product")]

    def __str__(self) -> str:
        return f"{self.variant_id}@{self.warehouse_id}"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    def save(self, *args, **kwargs) -> None:
        # The product column mirrors the variant's; nothing else may set it.
        if self.variant_id and not self.product_id:
            self.product_id = self.variant.product_id
        super().save(*args, **kwargs)


class StockMovement(models.Model):
    """One change of a stock row: how on_hand and reserved moved, why, for what, by whom.

    Append-only. For every stock row, on_hand = Σ on_hand_delta and reserved = Σ reserved_delta."""

    class Reason(models.TextChoices):
        COUNT = "count", _("Stock count")  # stocktake or first listing: on_hand set by staff
        RECEIVE = "receive", _("Received from supplier")
        RESERVE = "reserve", _("Reserved for an order")
        RELEASE = "release", _("Released (order cancelled or re-routed)")
        SHIP = "ship", _("Shipped")
        RETURN = "return", _("Returned by customer")
        WRITE_OFF = "write_off", _("Written off (damaged)")

    stock = models.ForeignKey(Stock, on_delete=models.CASCADE, related_name="movements", verbose_name=_("stock"))
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="+", verbose_name=_("warehouse"))
    variant = models.ForeignKey(
        "catalog.ProductVariant", on_delete=models.CASCADE, related_name="+", verbose_name=_("variant")
    )
    reason = models.CharField(_("reason"), max_length=10, choices=Reason.choices)
    on_hand_delta = models.IntegerField(_("on hand change"), default=0)
    reserved_delta = models.IntegerField(_("reserved change"), default=0)
    on_hand_after = models.IntegerField(_("on hand after"))
    reserved_after = models.IntegerField(_("reserved after"))
    reference = models.CharField(_("reference"), max_length=60, blank=True)  # order, shipment or PO number
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("by"),
    )  # fmt: skip
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("stock movement")
        verbose_name_plural = _("stock movements")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["stock", "-created_at"], name="movement_stock_recent"),
            models.Index(fields=["variant", "-created_at"], name="movement_variant_recent"),
            models.Index(fields=["reference"], name="movement_reference"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(on_hand_delta=0) | ~Q(reserved_delta=0), name="movement_changes_something"
            ),
            models.CheckConstraint(
                condition=Q(reserved_after__gte=0) & Q(reserved_after__lte=F("on_hand_after")),
                name="movement_leaves_valid_stock",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} {self.on_hand_delta:+d}/{self.reserved_delta:+d}"


class Reservation(models.Model):
    """Units of one order line held in one warehouse until shipped or released."""

    class State(models.TextChoices):
        HELD = "held", _("Held")
        RELEASED = "released", _("Released")
        SHIPPED = "shipped", _("Shipped")

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="reservations")
    stock = models.ForeignKey(Stock, on_delete=models.PROTECT, related_name="reservations")
    variant = models.ForeignKey("catalog.ProductVariant", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.HELD)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("reservation")
        verbose_name_plural = _("reservations")
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="reservation_quantity_positive"),
            models.UniqueConstraint(
                fields=["order", "stock"], condition=Q(state="held"), name="reservation_one_held_per_order_and_stock"
            ),
        ]
        indexes = [models.Index(fields=["order", "state"], name="reservation_order_state")]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.variant_id} × {self.quantity}"

    @property
    def released(self) -> bool:
        return self.state == self.State.RELEASED


class Shipment(models.Model):
    """One parcel: the lines of an order that leave one warehouse together."""

    class Status(models.TextChoices):
        PENDING = "pending", _("To pack")
        PACKED = "packed", _("Packed")
        SHIPPED = "shipped", _("Shipped")
        IN_TRANSIT = "in_transit", _("In transit")
        DELIVERED = "delivered", _("Delivered")
        EXCEPTION = "exception", _("Delivery problem")
        CANCELLED = "cancelled", _("Cancelled")  # replaced by a re-route before shipping

    class Carrier(models.TextChoices):
        OWN_FLEET = "own_fleet", _("Own fleet")
        # The company's name as customers know it, not the integration's code.
        EXPRESS = "express", _("SF Express")

    class Kind(models.TextChoices):
        OUTBOUND = "outbound", _("To the customer")
        RETURN = "return", _("Return from the customer")
        REPLACEMENT = "replacement", _("Replacement (exchange)")

    OPEN = (Status.PENDING, Status.PACKED)  # not yet handed to a carrier
    TRACKED = (Status.SHIPPED, Status.IN_TRANSIT, Status.EXCEPTION)  # with the carrier

    number = models.CharField(_("shipment number"), max_length=30, unique=True)
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, related_name="shipments", verbose_name=_("order")
    )
    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="shipments", verbose_name=_("warehouse")
    )
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.PENDING)
    # A return travels the other way (the customer sends it to `warehouse`) and has no lines:
    # tracking follows it like any parcel, but its delivery is the shop's, not the customer's.
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.OUTBOUND)
    carrier = models.CharField(_("carrier"), max_length=12, choices=Carrier.choices, blank=True)
    tracking_number = models.CharField(_("tracking number"), max_length=40, blank=True)
    # Cash the courier collects on delivery (cash-on-delivery orders), and what was collected.
    cod_amount = models.DecimalField(_("cash to collect"), default=0, **MONEY)
    cod_collected = models.DecimalField(_("cash collected"), null=True, blank=True, **MONEY)
    signed_by = models.CharField(_("signed by"), max_length=60, blank=True)

    created_at = models.DateTimeField(_("created"), default=timezone.now)
    packed_at = models.DateTimeField(_("packed"), null=True, blank=True)
    shipped_at = models.DateTimeField(_("shipped"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    shipped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("shipped by"),
    )  # fmt: skip
    # Tracking: when to ask the carrier next; failures stretch the interval.
    next_poll_at = models.DateTimeField(null=True, blank=True)
    poll_failures = models.PositiveSmallIntegerField(default=0)
    last_poll_error = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = _("shipment")
        verbose_name_plural = _("shipments")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["warehouse", "status"], name="shipment_warehouse_status"),
            # Parcels waiting (to pack, packed, a delivery problem): the dashboard counts them on
            # every visit, a few among hundreds of thousands delivered.
            models.Index(
                fields=["status", "kind"],
                name="shipment_waiting",
                condition=Q(status__in=["pending", "packed", "exception"]),
            ),
            models.Index(
                fields=["next_poll_at"],
                name="shipment_poll_due",
                condition=Q(status__in=["shipped", "in_transit", "exception"]),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["carrier", "tracking_number"],
                condition=~Q(tracking_number=""),
                name="shipment_tracking_number_unique",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "packed", "cancelled"]) | ~Q(tracking_number=""),
                name="shipment_shipped_has_tracking",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    def get_absolute_url(self) -> str:
        return reverse("fulfillment:tracking", kwargs={"number": self.order.number})

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN


class ShipmentLine(models.Model):
    """Units of one order line in one parcel; its reservation is what shipping commits."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey("orders.OrderLine", on_delete=models.PROTECT, related_name="shipment_lines")
    reservation = models.OneToOneField(Reservation, on_delete=models.PROTECT, related_name="shipment_line")
    quantity = models.PositiveIntegerField(_("quantity"))

    class Meta:
        verbose_name = _("shipment line")
        verbose_name_plural = _("shipment lines")
        ordering = ["pk"]
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="shipment_line_quantity_positive")]

    def __str__(self) -> str:
        return f"{self.order_line.sku} × {self.quantity}"


class TrackingEvent(models.Model):
    """What happened to a parcel, as the carrier reported it or staff recorded it."""

    class Kind(models.TextChoices):
        COLLECTED = "collected", _("Collected")
        IN_TRANSIT = "in_transit", _("In transit")
        OUT_FOR_DELIVERY = "out_for_delivery", _("Out for delivery")
        DELIVERED = "delivered", _("Delivered")
        EXCEPTION = "exception", _("Delivery problem")

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="events")
    # The carrier's id of the event: the same event seen on the next poll is stored once.
    external_id = models.CharField(max_length=80)
    kind = models.CharField(_("event"), max_length=20, choices=Kind.choices)
    occurred_at = models.DateTimeField(_("time"))
    description = models.CharField(_("description"), max_length=300, blank=True)
    location = models.CharField(_("location"), max_length=100, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("tracking event")
        verbose_name_plural = _("tracking events")
        ordering = ["occurred_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["shipment", "external_id"], name="tracking_event_once"),
        ]

    def __str__(self) -> str:
        return f"{self.shipment_id} {self.get_kind_display()} {self.occurred_at:%Y-%m-%d %H:%M}"


class PurchaseOrder(models.Model):
    """Goods ordered from a supplier into one warehouse, received in one or more deliveries."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ORDERED = "ordered", _("Ordered")
        PARTLY_RECEIVED = "partly_received", _("Partly received")
        RECEIVED = "received", _("Received")
        CANCELLED = "cancelled", _("Cancelled")

    number = models.CharField(_("PO number"), max_length=24, unique=True, editable=False)
    supplier = models.ForeignKey(
        "catalog.Supplier", on_delete=models.PROTECT, related_name="purchase_orders", verbose_name=_("supplier")
    )
    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="purchase_orders", verbose_name=_("deliver to")
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    expected_on = models.DateField(_("expected on"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("created by"),
    )  # fmt: skip
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    ordered_at = models.DateTimeField(_("ordered"), null=True, blank=True)
    received_at = models.DateTimeField(_("received"), null=True, blank=True)

    class Meta:
        verbose_name = _("purchase order")
        verbose_name_plural = _("purchase orders")
        ordering = ["-created_at", "-pk"]
        permissions = [("receive_purchaseorder", _("Can receive goods of a purchase order"))]

    def __str__(self) -> str:
        return self.number

    @property
    def is_editable(self) -> bool:
        return self.status == self.Status.DRAFT


class PurchaseOrderLine(models.Model):
    purchase_order = models.ForeignKey(PurchaseOrder, on_delete=models.CASCADE, related_name="lines")
    variant = models.ForeignKey(
        "catalog.ProductVariant", on_delete=models.PROTECT, related_name="+", verbose_name=_("variant")
    )
    quantity = models.PositiveIntegerField(_("quantity ordered"))
    unit_cost = models.DecimalField(_("unit cost"), **MONEY)
    received_quantity = models.PositiveIntegerField(_("received"), default=0, editable=False)

    class Meta:
        verbose_name = _("purchase order line")
        verbose_name_plural = _("purchase order lines")
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="po_line_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_cost__gte=0), name="po_line_cost_not_negative"),
            models.CheckConstraint(condition=Q(received_quantity__lte=F("quantity")), name="po_line_not_over_received"),
            models.UniqueConstraint(fields=["purchase_order", "variant"], name="po_line_one_per_variant"),
        ]

    def __str__(self) -> str:
        return f"{self.variant} × {self.quantity}"

    @property
    def outstanding(self) -> int:
        return self.quantity - self.received_quantity

    @property
    def line_cost(self):
        return self.quantity * self.unit_cost
