"""Orders, their lines and history, coupons, and the notification outbox.

The order's status changes only through `Order.transition`, called by orders.services with the
row locked; the allowed moves are the TRANSITIONS mapping below (DESIGN.md's state table).
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from shop.models import PostalAddress

MONEY = {"max_digits": 12, "decimal_places": 2}


class Order(PostalAddress):
    class Status(models.TextChoices):
        PENDING_PAYMENT = "pending_payment", _("Awaiting payment")  # 待付款: placed, stock reserved
        PAID = "paid", _("Awaiting shipment")  # 待发货: money captured, or cash on delivery accepted
        SHIPPED = "shipped", _("Shipped")  # 已发货: every line handed to a carrier
        COMPLETED = "completed", _("Completed")  # 已完成: goods received
        CANCELLED = "cancelled", _("Cancelled")  # 已取消: never paid; stock released. Final.
        CLOSED = "closed", _("Closed")  # 已关闭: refunded in full. Final.

    TRANSITIONS = {
        Status.PENDING_PAYMENT: {Status.PAID, Status.CANCELLED},
        Status.PAID: {Status.SHIPPED, Status.CLOSED},
        Status.SHIPPED: {Status.COMPLETED},
        Status.COMPLETED: set(),
        Status.CANCELLED: set(),
        Status.CLOSED: set(),
    }

    class ShippingMethod(models.TextChoices):
        STANDARD = "standard", _("Standard delivery")
        EXPRESS = "express", _("Express delivery")

    class PaymentMethod(models.TextChoices):
        SANDBOX = "sandbox", _("Online payment (sandbox gateway)")
        ALIPAY = "alipay", _("Alipay")
        WALLET = "wallet", _("Wallet balance")
        COD = "cod", _("Cash on delivery")

    number = models.CharField(_("order number"), max_length=24, unique=True)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders", verbose_name=_("customer")
    )
    # One order per cart: a replayed "place order" finds the order its cart already became.
    cart_token = models.UUIDField(unique=True, editable=False)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.PENDING_PAYMENT, db_index=True
    )
    currency = models.CharField(_("currency"), max_length=3)
    subtotal = models.DecimalField(_("goods"), **MONEY)
    discount = models.DecimalField(_("discount"), default=0, **MONEY)
    shipping_fee = models.DecimalField(_("shipping"), default=0, **MONEY)
    insurance_fee = models.DecimalField(_("shipping insurance"), default=0, **MONEY)
    total = models.DecimalField(_("total"), **MONEY)
    shipping_method = models.CharField(_("shipping method"), max_length=20, choices=ShippingMethod.choices)
    insured = models.BooleanField(_("insured"), default=False)
    payment_method = models.CharField(_("payment method"), max_length=20, choices=PaymentMethod.choices)
    coupon_code = models.CharField(_("coupon"), max_length=40, blank=True)
    # The delivery address is copied in (PostalAddress fields).
    note = models.CharField(_("note to the shop"), max_length=200, blank=True)

    placed_at = models.DateTimeField(_("placed"), default=timezone.now, db_index=True)
    pay_by = models.DateTimeField(_("pay by"))
    paid_at = models.DateTimeField(_("paid"), null=True, blank=True)
    shipped_at = models.DateTimeField(_("shipped"), null=True, blank=True)
    # When the carrier(s) reported the last parcel delivered; receipt is confirmed
    # automatically some days later if the customer does not confirm it first.
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)
    cancel_reason = models.CharField(_("cancellation reason"), max_length=200, blank=True)
    # The customer removed a finished order from their list; the shop keeps it.
    hidden_by_customer = models.BooleanField(_("removed by the customer"), default=False)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-placed_at"]
        indexes = [
            models.Index(fields=["customer", "-placed_at"], name="order_customer_recent"),
            models.Index(fields=["pay_by"], name="order_unpaid_due", condition=Q(status="pending_payment")),
            models.Index(fields=["shipped_at"], name="order_awaiting_receipt", condition=Q(status="shipped")),
            # The monthly settlement finds completed orders whose after-sales period has ended.
            models.Index(fields=["completed_at"], name="order_completed", condition=Q(status="completed")),
            # The dashboard counts orders paid today, this month and the periods before.
            models.Index(fields=["paid_at"], name="order_paid", condition=Q(paid_at__isnull=False)),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(total__gte=0), name="order_total_not_negative"),
            models.CheckConstraint(
                condition=Q(total=F("subtotal") - F("discount") + F("shipping_fee") + F("insurance_fee")),
                name="order_total_adds_up",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    def get_absolute_url(self) -> str:
        return reverse("orders:detail", kwargs={"number": self.number})

    def can_become(self, status: str) -> bool:
        return status in self.TRANSITIONS[self.Status(self.status)]

    @property
    def is_payable(self) -> bool:
        return self.status == self.Status.PENDING_PAYMENT and self.pay_by > timezone.now()

    @property
    def address_line(self) -> str:
        return self.one_line


# What the shop itself writes as an order event's note or a cancellation's reason: stored as these
# keys, shown in the reader's language. Anything else (a staff member's reason, a payment
# reference, a request's number) is shown as written.
SYSTEM_NOTES = {
    "payment timeout": _("not paid in time"),
    "cancelled by the customer": _("cancelled by the customer"),
    "Cancelled by customer": _("cancelled by the customer"),  # as English pages stored it before
    "cash on delivery": _("cash on delivery"),
    "auto-confirmed after delivery": _("receipt confirmed automatically after delivery"),
    "auto-confirmed: no delivery reported": _("receipt confirmed automatically: no delivery reported"),
}
ACTOR_KINDS = {
    "customer": _("customer"),
    "staff": _("staff"),
    "system": _("system"),
    "gateway": _("payment gateway"),
    "carrier": _("carrier"),
}


def system_note(text: str) -> str:
    """A note or reason in the current language if the shop wrote it, else as written."""
    return str(SYSTEM_NOTES[text]) if text in SYSTEM_NOTES else text


class OrderLine(models.Model):
    """A bought variant, with names and prices copied at the time of purchase.

    Names are copied in both languages: the customer reads the order (its page, mails, after-sales
    pages, invoices) in theirs; the warehouse's documents (packing slips, pick lists) and the back
    office keep the Chinese ones."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines", verbose_name=_("order"))
    variant = models.ForeignKey(
        "catalog.ProductVariant", on_delete=models.PROTECT, related_name="order_lines", verbose_name=_("variant")
    )
    product_id_snapshot = models.BigIntegerField()
    department_id_snapshot = models.BigIntegerField(db_index=True)
    product_name = models.CharField(_("product"), max_length=200)
    variant_label = models.CharField(_("options"), max_length=200, blank=True)
    # Empty when the product had no English name: English pages then show the Chinese one.
    product_name_en = models.CharField(_("product (English)"), max_length=200, blank=True)
    variant_label_en = models.CharField(_("options (English)"), max_length=200, blank=True)
    sku = models.CharField(_("SKU"), max_length=64)
    unit_price = models.DecimalField(_("unit price"), **MONEY)
    quantity = models.PositiveIntegerField(_("quantity"))
    line_total = models.DecimalField(_("line total"), **MONEY)
    weight_grams = models.PositiveIntegerField(default=0)
    image = models.CharField(max_length=255, blank=True)

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_line_quantity_positive"),
            models.UniqueConstraint(fields=["order", "variant"], name="order_line_one_per_variant"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} × {self.quantity}"

    @property
    def display_name(self) -> str:
        """The product's name in the current language (catalog's Bilingual.display_name rule)."""
        if self.product_name_en and _english():
            return self.product_name_en
        return self.product_name

    @property
    def display_options(self) -> str:
        if self.variant_label_en and _english():
            return self.variant_label_en
        return self.variant_label


def _english() -> bool:
    return (translation.get_language() or "").startswith("en")


class OrderEvent(models.Model):
    """One recorded change of an order's status: who, when, from, to, why."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events", verbose_name=_("order"))
    from_status = models.CharField(_("from status"), max_length=20, blank=True)
    to_status = models.CharField(_("to status"), max_length=20)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("actor")
    )
    actor_kind = models.CharField(_("actor kind"), max_length=10)  # customer, staff, system, gateway
    note = models.CharField(_("note"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("order event")
        verbose_name_plural = _("order events")
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.from_label or '-'} → {self.to_label}"

    # Not a status of the order but a step of its story: a parcel reached the customer (已签收),
    # as the carrier reported it. The status stays; the entry goes in the history beside the
    # status changes, so customer and staff read when the goods arrived.
    DELIVERED = "delivered"

    @property
    def to_label(self) -> str:
        if self.to_status == self.DELIVERED:
            return str(_("Delivered"))
        return Order.Status(self.to_status).label

    @property
    def from_label(self) -> str:
        return Order.Status(self.from_status).label if self.from_status else ""

    @property
    def actor_kind_label(self) -> str:
        return str(ACTOR_KINDS.get(self.actor_kind, self.actor_kind))

    @property
    def display_note(self) -> str:
        return system_note(self.note)


class Coupon(models.Model):
    class Kind(models.TextChoices):
        FIXED = "fixed", _("Fixed amount off")
        PERCENT = "percent", _("Percentage off")

    code = models.CharField(_("code"), max_length=40, unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    value = models.DecimalField(_("value"), help_text=_("Amount in the shop currency, or a percentage."), **MONEY)
    min_spend = models.DecimalField(_("minimum spend"), default=0, **MONEY)
    starts_at = models.DateTimeField(_("valid from"), default=timezone.now)
    ends_at = models.DateTimeField(_("valid until"), null=True, blank=True)
    usage_limit = models.PositiveIntegerField(_("total uses allowed"), null=True, blank=True)
    per_customer_limit = models.PositiveIntegerField(_("uses per customer"), default=1)
    used_count = models.PositiveIntegerField(_("used"), default=0, editable=False)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        constraints = [
            models.CheckConstraint(condition=Q(value__gt=0), name="coupon_value_positive"),
            models.CheckConstraint(condition=~Q(kind="percent") | Q(value__lte=100), name="coupon_percent_at_most_100"),
            models.CheckConstraint(
                condition=Q(usage_limit__isnull=True) | Q(used_count__lte=F("usage_limit")),
                name="coupon_used_within_limit",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class CouponRedemption(models.Model):
    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, related_name="redemptions", verbose_name=_("coupon"))
    order = models.OneToOneField(
        Order, on_delete=models.CASCADE, related_name="coupon_redemption", verbose_name=_("order")
    )
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("customer")
    )
    amount = models.DecimalField(_("amount"), **MONEY)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("coupon redemption")
        verbose_name_plural = _("coupon redemptions")

    def __str__(self) -> str:
        return f"{self.coupon_id} → {self.order_id}"


class Notification(models.Model):
    """The outbox: a mail owed to someone, written in the same transaction as its cause."""

    class Kind(models.TextChoices):
        WELCOME = "welcome", _("Welcome")
        ORDER_PLACED = "order_placed", _("Order placed")
        ORDER_PAID = "order_paid", _("Order paid")
        ORDER_CANCELLED = "order_cancelled", _("Order cancelled")
        SHIPMENT_SHIPPED = "shipment_shipped", _("Parcel shipped")
        SHIPMENT_DELIVERED = "shipment_delivered", _("Parcel delivered")
        ORDER_COMPLETED = "order_completed", _("Order completed")
        LOW_STOCK = "low_stock", _("Low stock digest")
        PASSWORD_RESET = "password_reset", _("Password reset")
        AFTERSALE_RECEIVED = "aftersale_received", _("After-sales request received")
        AFTERSALE_APPROVED = "aftersale_approved", _("After-sales request approved")
        AFTERSALE_REJECTED = "aftersale_rejected", _("After-sales request rejected")
        AFTERSALE_CLOSED = "aftersale_closed", _("After-sales request closed")
        AFTERSALE_MESSAGE = "aftersale_message", _("Message on an after-sales request")
        # The customer wrote on a request: customer service's mailbox is told.
        AFTERSALE_CUSTOMER_MESSAGE = "aftersale_customer_msg", _("Customer's message on an after-sales request")
        RETURN_RECEIVED = "return_received", _("Return received")
        REFUND_PAID = "refund_paid", _("Refund paid")
        EXCHANGE_SHIPPED = "exchange_shipped", _("Replacement shipped")
        REVIEW_REPLY = "review_reply", _("Reply to a review")
        ADDRESS_CHANGED = "address_changed", _("Delivery address changed")
        INVOICE_ISSUED = "invoice_issued", _("Invoice issued")
        INVOICE_RED = "invoice_red", _("Credit invoice issued")
        # A department's monthly statement was confirmed: its contact gets the PDF and XLSX.
        STATEMENT_CONFIRMED = "statement_confirmed", _("Settlement statement confirmed")
        # A variant a customer asked about is available again (fulfillment.services.alerts).
        STOCK_BACK = "stock_back", _("Back-in-stock notice")

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices)
    # What makes the mail unique (e.g. "order_paid:42"): writing it twice writes it once.
    key = models.CharField(_("key"), max_length=120, unique=True)
    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications", verbose_name=_("order")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, verbose_name=_("user")
    )
    to = models.EmailField(_("to"))
    language = models.CharField(_("language"), max_length=10)
    context = models.JSONField(_("context"), default=dict, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    # Claimed for sending until then (committed before the mail goes out): no other worker, nor
    # the sweeper, takes a row a live worker is sending; a dead worker's lease runs out.
    lease_until = models.DateTimeField(_("leased until"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["created_at"], name="notification_pending", condition=Q(state="pending"))]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.to}"


class DailySales(models.Model):
    """What one variant sold (and had refunded) on one day, for one department: the rollup the
    sales report and the admin dashboard read, so that a month of a big shop is a few thousand
    rows, not every order line (docs/architecture.md, "Reports and dashboard").

    Kept by orders.sales in the transaction that causes it: an order's lines are added on the
    day it is paid (its local date, settings.TIME_ZONE), gross = line total less the line's share
    of the order's discount (orders.services.order_line_discount_shares, as refunds and the
    settlement count it); a refund note's lines are added to `refunds` on the day the note was
    written. `aftersales.services.reports.daily_sales_rebuild_all` recomputes it from the orders
    and refund notes themselves (after migrate when it is empty, the benchmark, a check)."""

    day = models.DateField(_("day"))
    variant = models.ForeignKey(
        "catalog.ProductVariant", on_delete=models.PROTECT, related_name="+", verbose_name=_("variant")
    )
    # The order line's product_id_snapshot (a key, so that the report filters and names by it).
    product = models.ForeignKey(
        "catalog.Product", on_delete=models.PROTECT, related_name="+", db_index=False, verbose_name=_("product")
    )
    department_id = models.BigIntegerField()  # the order line's department_id_snapshot: who is settled
    units = models.IntegerField(_("units sold"), default=0)
    # Orders with this variant; and orders in which this variant is its product's first line, so
    # that summing a product's variants counts each order once.
    orders = models.IntegerField(_("orders"), default=0)
    product_orders = models.IntegerField(default=0)
    gross = models.DecimalField(_("gross revenue"), default=0, **MONEY)
    refunded_units = models.IntegerField(_("units refunded"), default=0)
    refunds = models.DecimalField(_("refunds"), default=0, **MONEY)

    class Meta:
        verbose_name = _("daily sales")
        # The admin lists the rollup under this name: its page is the sales report (销售量查询).
        verbose_name_plural = _("sales report")
        constraints = [
            # On PostgreSQL the figures are in this index too (INCLUDE, made by migration 0009:
            # SQLite has no such index and would then have no unique one for the upserts): the
            # report and the dashboard sum a period's rows by an index-only scan.
            models.UniqueConstraint(fields=["day", "variant", "department_id"], name="daily_sales_one_row"),
        ]
        # A product's history (its admin page, a long range for one product), and its units for
        # the sales count's recompute (orders.sales_count) by an index-only scan: the figures are
        # rewritten on every sale anyway (they are in the unique index too), so no extra write.
        indexes = [
            models.Index(fields=["product", "day"], name="daily_sales_product", include=["units", "refunded_units"])
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.variant_id}"


class DailySalesTotal(models.Model):
    """DailySales summed per day and department (every variant): the dashboard's figures and
    charts and the report's daily chart read a row a day here instead of every variant's.
    Kept by orders.sales with DailySales, in the same statements' transaction."""

    day = models.DateField(_("day"))
    department_id = models.BigIntegerField()
    units = models.IntegerField(_("units sold"), default=0)
    gross = models.DecimalField(_("gross revenue"), default=0, **MONEY)
    refunds = models.DecimalField(_("refunds"), default=0, **MONEY)

    class Meta:
        verbose_name = _("daily sales total")
        verbose_name_plural = _("daily sales totals")
        constraints = [
            models.UniqueConstraint(fields=["day", "department_id"], name="daily_sales_total_one_row"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.department_id}"


class SalesBaseline(models.Model):
    """Units a product sold before this shop's own orders were counted (a former shop's history,
    or the demo's invented one): its sales count (已售, catalog.Product.sales_count) is these plus
    the rollup's units paid less units refunded, as orders.sales_count recomputes it. Migration
    0013 filled it with what each product's count held beyond its rollup, so that the deployment
    of the recompute changed no count."""

    product = models.OneToOneField(
        "catalog.Product", on_delete=models.CASCADE, primary_key=True, related_name="+", verbose_name=_("product")
    )
    units = models.PositiveIntegerField(_("units sold before"), default=0)

    class Meta:
        verbose_name = _("sales baseline")
        verbose_name_plural = _("sales baselines")

    def __str__(self) -> str:
        return f"{self.product_id}: {self.units}"


class SalesCountWatermark(models.Model):
    """One row: the first rollup day the next sales count recompute reads (orders.sales_count).
    In the database, not the cache: a lost watermark would make every run a full one."""

    since = models.DateField(_("recount sales from"), null=True)

    class Meta:
        verbose_name = _("sales count watermark")
        verbose_name_plural = _("sales count watermarks")

    def __str__(self) -> str:
        return str(self.since)
