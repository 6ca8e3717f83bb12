"""After-sales (售后) requests, refund notes, insurance claims and reviews (评价).

An `AfterSale` is one request a customer opens on an order: a refund before shipping, a refund
after shipping, a return for a refund, or an exchange, for some units of some lines. Its status
moves only through aftersales.services (each move recorded as an AfterSaleEvent with who, when,
from and to), and `due_at` is the deadline of the state it is in: the beat job acts on it when
nobody else did (DESIGN.md; the deadlines follow ../shared/AFTERSALES.md and are settings).

The money is decided on a `RefundNote` (退款单): a numbered document with its lines and amounts,
approved in one step and paid out by payments (a payments.Refund) in another.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catalog.models import GeneratedNameImageField
from catalog.validators import validate_product_image
from orders.models import ACTOR_KINDS

MONEY = {"max_digits": 12, "decimal_places": 2}


def photo_path(instance, filename: str) -> str:
    """reviews/ or aftersales/<yyyy>/<mm>/<random hex>.<extension>: never the client's name (see
    catalog.models.product_image_path); the extension comes from the file's content."""
    extension = filename.rpartition(".")[2].lower() if "." in filename else "bin"
    if extension not in {"jpg", "png", "webp", "gif"}:
        extension = "bin"
    # Review photos are shown on the public product page; after-sales evidence only to its customer
    # and staff. On object storage the first folder decides which is public (shop.core.storage).
    folder = "reviews" if instance._meta.model_name == "reviewphoto" else "aftersales"
    return f"{folder}/{timezone.now():%Y/%m}/{uuid.uuid4().hex}.{extension}"


class AfterSale(models.Model):
    class Kind(models.TextChoices):
        CANCEL = "cancel", _("Refund, not shipped")  # 仅退款(未发货)
        REFUND = "refund", _("Refund only")  # 仅退款(已发货): not received, lost or damaged
        RETURN = "return", _("Return and refund")  # 退货退款
        EXCHANGE = "exchange", _("Exchange")  # 换货

    class Reason(models.TextChoices):
        CHANGED_MIND = "changed_mind", _("I no longer want it")
        NO_REASON = "no_reason", _("No reason (within 7 days)")
        QUALITY = "quality", _("Quality problem")
        WRONG_ITEM = "wrong_item", _("Wrong item sent")
        DAMAGED = "damaged", _("Arrived damaged")
        NOT_AS_DESCRIBED = "not_described", _("Not as described")
        NOT_RECEIVED = "not_received", _("Not received")
        LOST = "lost", _("Lost in transit")
        OTHER = "other", _("Other")

    class Status(models.TextChoices):
        PENDING = "pending", _("Awaiting the shop")  # WAIT_SELLER_AGREE
        ESCALATED = "escalated", _("With a supervisor")  # escalated by staff, or appealed
        REJECTED = "rejected", _("Rejected")  # SELLER_REFUSE_BUYER: may be appealed once
        AWAITING_RETURN = "awaiting_return", _("Awaiting your return")  # WAIT_BUYER_RETURN_GOODS
        RETURN_SHIPPED = "return_shipped", _("Return on its way")  # WAIT_SELLER_CONFIRM_GOODS
        REFUNDING = "refunding", _("Refunding")  # approved; the money is on its way
        EXCHANGE_SHIPPING = "exchange_shipping", _("Replacement being sent")
        COMPLETED = "completed", _("Completed")  # SUCCESS
        CLOSED = "closed", _("Closed")  # cancelled, timed out or finally rejected

    OPEN = (Status.PENDING, Status.ESCALATED, Status.AWAITING_RETURN, Status.RETURN_SHIPPED)
    # States whose units still count against what may be asked for again.
    LIVE = (*OPEN, Status.REFUNDING, Status.EXCHANGE_SHIPPING, Status.COMPLETED, Status.REJECTED)

    TRANSITIONS = {
        Status.PENDING: {Status.ESCALATED, Status.REJECTED, Status.AWAITING_RETURN, Status.REFUNDING, Status.CLOSED},
        Status.ESCALATED: {Status.REJECTED, Status.AWAITING_RETURN, Status.REFUNDING, Status.CLOSED},
        Status.REJECTED: {Status.ESCALATED, Status.CLOSED},
        Status.AWAITING_RETURN: {Status.RETURN_SHIPPED, Status.CLOSED},
        Status.RETURN_SHIPPED: {Status.REFUNDING, Status.EXCHANGE_SHIPPING, Status.CLOSED},
        Status.REFUNDING: {Status.COMPLETED},
        Status.EXCHANGE_SHIPPING: {Status.COMPLETED},
        Status.COMPLETED: set(),
        Status.CLOSED: set(),
    }

    class RefundTo(models.TextChoices):
        ORIGINAL = "original", _("Original payment method")
        WALLET = "wallet", _("My wallet")

    number = models.CharField(_("request number"), max_length=24, unique=True)
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, related_name="aftersales", verbose_name=_("order")
    )
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="aftersales", verbose_name=_("customer")
    )
    kind = models.CharField(_("type"), max_length=10, choices=Kind.choices)
    reason = models.CharField(_("reason"), max_length=15, choices=Reason.choices)
    description = models.TextField(_("description"), max_length=1000, blank=True)
    refund_to = models.CharField(_("refund to"), max_length=10, choices=RefundTo.choices, default=RefundTo.ORIGINAL)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PENDING)
    # The deadline of the current state; the beat job acts on it (auto-approve, close, refund).
    due_at = models.DateTimeField(_("deadline"), null=True, blank=True)
    reject_reason = models.CharField(_("rejection reason"), max_length=300, blank=True)
    appeal_text = models.CharField(_("appeal"), max_length=500, blank=True)
    appealed_at = models.DateTimeField(_("appealed"), null=True, blank=True)
    escalated = models.BooleanField(_("escalated"), default=False)
    close_reason = models.CharField(_("why closed"), max_length=200, blank=True)
    # Where the goods go back (returns and exchanges): the warehouse that shipped them.
    return_warehouse = models.ForeignKey(
        "fulfillment.Warehouse", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("return to"),
    )  # fmt: skip
    return_address = models.CharField(_("return address"), max_length=300, blank=True)
    return_shipment = models.OneToOneField(
        "fulfillment.Shipment", on_delete=models.PROTECT, null=True, blank=True, related_name="return_of",
        verbose_name=_("return parcel"),
    )  # fmt: skip
    replacement_shipment = models.OneToOneField(
        "fulfillment.Shipment", on_delete=models.PROTECT, null=True, blank=True, related_name="replacement_for",
        verbose_name=_("replacement parcel"),
    )  # fmt: skip
    insurance_claim = models.ForeignKey(
        "InsuranceClaim", on_delete=models.SET_NULL, null=True, blank=True, related_name="requests",
        verbose_name=_("insurance claim"),
    )  # fmt: skip
    created_at = models.DateTimeField(_("opened"), default=timezone.now, db_index=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("decided by"),
    )  # fmt: skip
    received_at = models.DateTimeField(_("return received"), null=True, blank=True)
    closed_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("after-sales request")
        verbose_name_plural = _("after-sales requests")
        ordering = ["-created_at", "-pk"]
        permissions = [
            ("decide_aftersale", _("Can approve or reject after-sales requests")),
            ("supervise_aftersale", _("Can decide escalated after-sales requests")),
            ("receive_return", _("Can receive returned goods")),
        ]
        indexes = [
            models.Index(
                fields=["due_at"],
                name="aftersale_due",
                condition=Q(status__in=["pending", "escalated", "rejected", "awaiting_return", "return_shipped"]),
            ),
            models.Index(fields=["order", "status"], name="aftersale_order_status"),
            models.Index(fields=["customer", "-created_at"], name="aftersale_customer_recent"),
        ]

    def __str__(self) -> str:
        return self.number

    def get_absolute_url(self) -> str:
        return reverse("aftersales:detail", kwargs={"number": self.number})

    def can_become(self, status: str) -> bool:
        return status in self.TRANSITIONS[self.Status(self.status)]

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN

    @property
    def is_overdue(self) -> bool:
        return self.due_at is not None and self.is_open and self.due_at <= timezone.now()

    @property
    def needs_return(self) -> bool:
        return self.kind in (self.Kind.RETURN, self.Kind.EXCHANGE)


class AfterSaleLine(models.Model):
    """Units of one order line in a request; for an exchange, the variant wanted instead."""

    request = models.ForeignKey(AfterSale, on_delete=models.CASCADE, related_name="lines", verbose_name=_("request"))
    order_line = models.ForeignKey(
        "orders.OrderLine", on_delete=models.PROTECT, related_name="aftersale_lines", verbose_name=_("item")
    )
    quantity = models.PositiveIntegerField(_("quantity"))
    exchange_variant = models.ForeignKey(
        "catalog.ProductVariant", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("exchange for"),
    )  # fmt: skip
    # What the warehouse did with the returned units.
    restocked = models.PositiveIntegerField(_("back in stock"), default=0)
    written_off = models.PositiveIntegerField(_("written off"), default=0)

    class Meta:
        verbose_name = _("request line")
        verbose_name_plural = _("request lines")
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="aftersale_line_quantity_positive"),
            models.CheckConstraint(
                condition=Q(restocked__gte=0)
                & Q(written_off__gte=0)
                & Q(quantity__gte=F("restocked") + F("written_off")),
                name="aftersale_line_received_within_quantity",
            ),
            models.UniqueConstraint(fields=["request", "order_line"], name="aftersale_line_once_per_request"),
        ]

    def __str__(self) -> str:
        return f"{self.order_line_id} × {self.quantity}"


class AfterSalePhoto(models.Model):
    request = models.ForeignKey(AfterSale, on_delete=models.CASCADE, related_name="photos", verbose_name=_("request"))
    image = GeneratedNameImageField(
        _("photo"), upload_to=photo_path, validators=[validate_product_image], max_length=255
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("photo")
        verbose_name_plural = _("photos")
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.image.name


class AfterSaleMessage(models.Model):
    """A message on a request, from the customer or from staff; each is mailed to the other side."""

    request = models.ForeignKey(AfterSale, on_delete=models.CASCADE, related_name="messages", verbose_name=_("request"))
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("author")
    )
    from_staff = models.BooleanField(_("from the shop"), default=False)
    body = models.TextField(_("message"), max_length=1000)
    created_at = models.DateTimeField(_("sent"), default=timezone.now)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.request_id}: {self.body[:40]}"


class AfterSaleEvent(models.Model):
    """One recorded change of a request's status: who, when, from, to, why."""

    request = models.ForeignKey(AfterSale, on_delete=models.CASCADE, related_name="events", verbose_name=_("request"))
    from_status = models.CharField(_("from status"), max_length=20, blank=True)
    to_status = models.CharField(_("to status"), max_length=20)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("actor"),
    )  # fmt: skip
    actor_kind = models.CharField(_("actor kind"), max_length=10)  # customer, staff, system
    note = models.CharField(_("note"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("request event")
        verbose_name_plural = _("request events")
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.request_id}: {self.from_status or '-'} → {self.to_status}"

    @property
    def to_label(self) -> str:
        return AfterSale.Status(self.to_status).label

    @property
    def actor_kind_label(self) -> str:
        return str(ACTOR_KINDS.get(self.actor_kind, self.actor_kind))

    @property
    def display_note(self) -> str:
        """The note in the reader's language when the shop wrote it (the reason a request was
        opened for, a fixed remark), else as written (staff's reasons, numbers)."""
        if self.note in AfterSale.Reason.values:
            return AfterSale.Reason(self.note).label
        return str(EVENT_NOTES.get(self.note, self.note))


# Remarks aftersales.services writes on a request's events.
EVENT_NOTES = {
    "not packed yet: approved at once": _("not packed yet: approved at once"),
    "shop did not answer in time": _("the shop did not answer in time"),
    "withdrawn": _("withdrawn by the customer"),
    "appeal": _("appealed by the customer"),
    "return parcel delivered to the warehouse": _("return parcel delivered to the warehouse"),
}


class RefundNote(models.Model):
    """退款单: the refund decided for a request (or an insurance claim's remedy): a numbered,
    unchanging document of what goes back, line by line. Paying it out is a payments.Refund."""

    class State(models.TextChoices):
        APPROVED = "approved", _("Approved, to pay")
        PAID = "paid", _("Paid")
        FAILED = "failed", _("Payout failed: finance to act")
        NOTHING_DUE = "nothing_due", _("Nothing was collected")  # cash on delivery not yet paid

    number = models.CharField(_("refund number"), max_length=24, unique=True)
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, related_name="refund_notes", verbose_name=_("order")
    )
    request = models.OneToOneField(
        AfterSale, on_delete=models.PROTECT, null=True, blank=True, related_name="refund_note",
        verbose_name=_("request"),
    )  # fmt: skip
    goods_amount = models.DecimalField(_("goods"), **MONEY)
    shipping_amount = models.DecimalField(_("shipping"), default=0, **MONEY)
    insurance_amount = models.DecimalField(_("shipping insurance"), default=0, **MONEY)
    amount = models.DecimalField(_("total refunded"), **MONEY)
    destination = models.CharField(_("paid to"), max_length=10, choices=AfterSale.RefundTo.choices)
    state = models.CharField(_("state"), max_length=12, choices=State.choices, default=State.APPROVED)
    payment_refund = models.OneToOneField(
        "payments.Refund", on_delete=models.PROTECT, null=True, blank=True, related_name="refund_note",
        verbose_name=_("payout"),
    )  # fmt: skip
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("approved by"),
    )  # fmt: skip
    created_at = models.DateTimeField(_("approved"), default=timezone.now)
    paid_at = models.DateTimeField(_("paid"), null=True, blank=True)

    class Meta:
        verbose_name = _("refund note")
        verbose_name_plural = _("refund notes")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount=F("goods_amount") + F("shipping_amount") + F("insurance_amount")),
                name="refund_note_adds_up",
            ),
            models.CheckConstraint(
                condition=Q(goods_amount__gte=0) & Q(shipping_amount__gte=0) & Q(insurance_amount__gte=0),
                name="refund_note_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    def get_absolute_url(self) -> str:
        return reverse("aftersales:refund", kwargs={"number": self.number})


class RefundNoteLine(models.Model):
    note = models.ForeignKey(RefundNote, on_delete=models.CASCADE, related_name="lines", verbose_name=_("refund note"))
    order_line = models.ForeignKey(
        "orders.OrderLine", on_delete=models.PROTECT, related_name="+", verbose_name=_("item")
    )
    quantity = models.PositiveIntegerField(_("quantity"))
    # Units × unit price, less their pro-rata share of the order's discount.
    amount = models.DecimalField(_("amount"), **MONEY)
    # The statement line that took this refund off a department's money (its line's sale, or a
    # later clawback): each refund is settled once. Freed (by the settlement, with one UPDATE)
    # before a draft's lines are deleted: SET_NULL would have Django load every line first.
    settled_in = models.ForeignKey(
        "aftersales.StatementLine", on_delete=models.DO_NOTHING, null=True, blank=True, related_name="refund_lines",
        verbose_name=_("settled in"),
    )  # fmt: skip

    class Meta:
        verbose_name = _("refund line")
        verbose_name_plural = _("refund lines")
        ordering = ["pk"]
        indexes = [
            models.Index(fields=["order_line"], condition=Q(settled_in__isnull=True), name="refund_line_unsettled"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="refund_line_quantity_positive"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="refund_line_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.order_line_id} × {self.quantity}"


class InsuranceClaim(models.Model):
    """保价 claim: an insured parcel lost or damaged in transit, claimed from the carrier for its
    declared value; the customer is refunded or sent the goods again whatever the carrier pays."""

    class Status(models.TextChoices):
        FILED = "filed", _("Filed with the carrier")
        PAID = "paid", _("Paid by the carrier")
        REFUSED = "refused", _("Refused by the carrier")

    class Remedy(models.TextChoices):
        REFUND = "refund", _("Refund the customer")
        RESHIP = "reship", _("Send the goods again")

    number = models.CharField(_("claim number"), max_length=24, unique=True)
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, related_name="insurance_claims", verbose_name=_("order")
    )
    shipment = models.OneToOneField(
        "fulfillment.Shipment", on_delete=models.PROTECT, related_name="insurance_claim", verbose_name=_("parcel")
    )
    loss = models.CharField(
        _("what happened"), max_length=10, choices=[("lost", _("Lost")), ("damaged", _("Damaged"))], default="lost"
    )
    declared_value = models.DecimalField(_("declared value"), **MONEY)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.FILED)
    carrier_reference = models.CharField(_("carrier's claim reference"), max_length=60, blank=True)
    paid_amount = models.DecimalField(_("paid by the carrier"), null=True, blank=True, **MONEY)
    remedy = models.CharField(_("for the customer"), max_length=10, choices=Remedy.choices)
    note = models.CharField(_("note"), max_length=300, blank=True)
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("filed by"),
    )  # fmt: skip
    filed_at = models.DateTimeField(_("filed"), default=timezone.now)
    settled_at = models.DateTimeField(_("settled"), null=True, blank=True)

    class Meta:
        verbose_name = _("insurance claim")
        verbose_name_plural = _("insurance claims")
        ordering = ["-filed_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(declared_value__gt=0), name="claim_declared_value_positive"),
            models.CheckConstraint(
                condition=Q(paid_amount__isnull=True) | Q(paid_amount__gte=0), name="claim_paid_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.number


class Review(models.Model):
    """评价: one per purchased order line, once the order is completed. A customer who does not
    review in time gets a default positive review (marked as such, no text)."""

    order_line = models.OneToOneField(
        "orders.OrderLine", on_delete=models.PROTECT, related_name="review", verbose_name=_("item")
    )
    product = models.ForeignKey(
        "catalog.Product", on_delete=models.CASCADE, related_name="reviews", verbose_name=_("product")
    )
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews", verbose_name=_("customer")
    )
    rating = models.PositiveSmallIntegerField(_("rating"))
    text = models.TextField(_("review"), max_length=1000, blank=True)
    is_default = models.BooleanField(_("given by default"), default=False)
    has_photos = models.BooleanField(_("with photos"), default=False)
    created_at = models.DateTimeField(_("reviewed"), default=timezone.now)
    # 追评: one follow-up.
    followup_text = models.TextField(_("follow-up"), max_length=1000, blank=True)
    followup_at = models.DateTimeField(_("followed up"), null=True, blank=True)
    reply_text = models.TextField(_("shop's reply"), max_length=1000, blank=True)
    replied_at = models.DateTimeField(_("replied"), null=True, blank=True)
    replied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("replied by"),
    )  # fmt: skip
    is_hidden = models.BooleanField(_("hidden"), default=False)
    hidden_reason = models.CharField(_("why hidden"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("review")
        verbose_name_plural = _("reviews")
        ordering = ["-created_at", "-pk"]
        permissions = [("moderate_review", _("Can reply to and hide reviews"))]
        indexes = [
            models.Index(fields=["product", "-created_at"], name="review_product_recent", condition=Q(is_hidden=False)),
            models.Index(
                fields=["product", "rating", "-created_at"], name="review_product_rating", condition=Q(is_hidden=False)
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(rating__gte=1) & Q(rating__lte=5), name="review_rating_1_to_5"),
            models.CheckConstraint(
                condition=Q(is_hidden=False) | ~Q(hidden_reason=""), name="review_hidden_has_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} ★{self.rating}"


class ReviewPhoto(models.Model):
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="photos", verbose_name=_("review"))
    image = GeneratedNameImageField(
        _("photo"), upload_to=photo_path, validators=[validate_product_image], max_length=255
    )
    followup = models.BooleanField(_("with the follow-up"), default=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("review photo")
        verbose_name_plural = _("review photos")
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.image.name
