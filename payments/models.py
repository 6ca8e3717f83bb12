"""Payments and refunds, gateway notifications as received, and the customer's wallet ledger."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 12, "decimal_places": 2}


class Payment(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("Pending")  # started; the customer is at the gateway
        CAPTURED = "captured", _("Captured")  # the money is ours
        FAILED = "failed", _("Failed")  # the gateway said no; the order may be paid again
        AWAITING_COLLECTION = "cod_due", _("Due on delivery")  # cash on delivery, not yet collected
        # Cash on delivery withdrawn: the order was paid online before the parcel arrived.
        WITHDRAWN = "withdrawn", _("Withdrawn (paid another way)")
        # The gateway took the money but the order did not need it (already paid another way,
        # or cancelled meanwhile): it goes back through a Refund; finance sees it until then.
        TO_REFUND = "to_refund", _("Captured, to refund")
        REFUNDED = "refunded", _("Refunded")  # every cent went back
        # Cash on delivery no longer due: the order was closed before the parcel arrived. Or a
        # payment still open at the gateway when its order was cancelled (by the customer, staff
        # or the unpaid timeout), or paid by another payment: a success reported after that is
        # refunded (TO_REFUND).
        CANCELLED = "cancelled", _("Cancelled")

    class Purpose(models.TextChoices):
        ORDER = "order", _("Order total")  # what the customer pays for the order as placed
        # A later charge on a paid order (its delivery address moved to a dearer region),
        # taken from the wallet: the order's one capture stays the one above.
        SUPPLEMENT = "supplement", _("Supplement")

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="payments")
    purpose = models.CharField(_("purpose"), max_length=10, choices=Purpose.choices, default=Purpose.ORDER)
    provider = models.CharField(_("provider"), max_length=20)
    reference = models.CharField(_("our reference"), max_length=40, unique=True)
    # NULL until captured: unique per provider only once the gateway has named it.
    transaction_id = models.CharField(_("gateway transaction"), max_length=80, null=True, blank=True)  # noqa: DJ001
    amount = models.DecimalField(_("amount"), **MONEY)
    currency = models.CharField(_("currency"), max_length=3)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PENDING)
    # Σ of this payment's refunds, whatever their state or destination: the database refuses
    # a refund that would take more than was captured (payment_refunds_within_amount).
    refunded = models.DecimalField(_("refunded"), default=0, **MONEY)
    created_at = models.DateTimeField(default=timezone.now)
    captured_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-created_at"]
        permissions = [
            # Recording that a courier handed over the cash of a delivery captures its payment
            # (fulfillment's record-event page asks for it).
            ("record_cash_collection", _("Can record cash collected on delivery")),
        ]
        constraints = [
            # One payment per gateway transaction, and at most one capture of the order's total
            # per order (supplements, charged later on top of it, are not a second payment of it).
            models.UniqueConstraint(fields=["provider", "transaction_id"], name="payment_one_per_transaction"),
            models.UniqueConstraint(
                fields=["order"], condition=Q(state="captured", purpose="order"), name="payment_one_capture_per_order"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded__gte=0) & Q(refunded__lte=F("amount")), name="payment_refunds_within_amount"
            ),
        ]

    def __str__(self) -> str:
        return self.reference


class Refund(models.Model):
    """Money going back to the method a payment came from (the gateway, or the wallet's ledger).

    Written in the transaction that decides it; sent afterwards, outside any transaction, by a
    task that may run many times: the gateway deduplicates by `request_no`, which never changes.
    After-sales refunds use the same record with their own reason."""

    class State(models.TextChoices):
        PENDING = "pending", _("To send")  # decided; the gateway has not confirmed it yet
        SUCCEEDED = "succeeded", _("Refunded")  # the gateway (or the ledger) confirmed it
        FAILED = "failed", _("Failed: finance to act")  # retries exhausted; someone must look

    class Reason(models.TextChoices):
        PAID_TWICE = "paid_twice", _("Paid twice")  # a second payment for an order already paid
        ORDER_NOT_PAYABLE = "not_payable", _("Paid after the order closed")  # e.g. cancelled by timeout
        CUSTOMER = "customer", _("Customer refund")  # after-sales

    class Destination(models.TextChoices):
        ORIGINAL = "original", _("Original payment method")
        WALLET = "wallet", _("Wallet balance")

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(_("amount"), **MONEY)
    # Our id for this refund at the gateway (Alipay's out_request_no, at most 64 characters).
    request_no = models.CharField(_("refund request number"), max_length=64, unique=True)
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    # Where the money goes: back through the payment's method, or (the customer's choice, and
    # always for cash on delivery) into the customer's wallet at once.
    destination = models.CharField(
        _("paid to"), max_length=10, choices=Destination.choices, default=Destination.ORIGINAL
    )
    note = models.CharField(_("note"), max_length=200, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PENDING)
    gateway_reference = models.CharField(_("gateway reference"), max_length=80, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    attempted_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
            models.CheckConstraint(
                condition=~Q(state="succeeded") | Q(completed_at__isnull=False), name="refund_completed_when_done"
            ),
        ]

    def __str__(self) -> str:
        return self.request_no


class GatewayNotification(models.Model):
    """Every server-to-server notification received, verified or not: the audit trail. Only
    verified ones keep their known fields in full; a refused one keeps a bounded excerpt."""

    provider = models.CharField(max_length=20)
    payload = models.JSONField()
    accepted = models.BooleanField(default=False)
    outcome = models.CharField(max_length=200, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("gateway notification")
        verbose_name_plural = _("gateway notifications")
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.provider} {self.received_at:%Y-%m-%d %H:%M:%S} {self.outcome}"


class Wallet(models.Model):
    """A customer's balance. It always equals the sum of its entries (checked in tests).

    Every account has one from the start (payments.receivers.open_wallet; migration 0007 for
    the accounts made before). A wallet with entries is never deleted, whoever asks: its
    entries PROTECT it, and so its customer (the ledger is the record of money held for them).
    An empty one goes with its account."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="wallet")
    balance = models.DecimalField(_("balance"), default=0, **MONEY)

    class Meta:
        verbose_name = _("wallet")
        verbose_name_plural = _("wallets")
        constraints = [models.CheckConstraint(condition=Q(balance__gte=0), name="wallet_never_negative")]

    def __str__(self) -> str:
        return f"{self.user} {self.balance}"


class WalletEntry(models.Model):
    class Reason(models.TextChoices):
        TOP_UP = "top_up", _("Top-up")
        PAYMENT = "payment", _("Payment")
        REFUND = "refund", _("Refund")
        ADJUSTMENT = "adjustment", _("Staff adjustment")

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="entries")
    amount = models.DecimalField(_("amount"), **MONEY)
    balance_after = models.DecimalField(_("balance after"), **MONEY)
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    reference = models.CharField(_("reference"), max_length=60, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The one-time key of the staff form that made this adjustment: the same form posted twice
    # (a double click, back and resend) names the same key, and the wallet is moved once.
    idempotency_key = models.CharField(_("idempotency key"), max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("wallet entry")
        verbose_name_plural = _("wallet entries")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="wallet_entry_not_zero"),
            models.CheckConstraint(
                condition=~Q(reason="adjustment") | ~Q(note=""), name="wallet_adjustment_needs_reason"
            ),
            models.UniqueConstraint(
                fields=["wallet", "idempotency_key"], condition=~Q(idempotency_key=""), name="wallet_entry_once_per_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.get_reason_display()}"
