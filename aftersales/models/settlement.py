"""The monthly settlement with the departments (按部门月结).

Each order line is settled once, to the department that owned its product when it was sold, in
the first run after its order's after-sales period ended: a SALE line on that department's
`Statement` for the month. A refund of a line settled before becomes a CLAWBACK line on a later
statement, never an edit of the earlier one. Which refund note lines a statement line accounts
for is kept on the refund line (`RefundNoteLine.settled_in`), so each is counted exactly once.

Statements go draft → confirmed (finance) → paid (with the transfer's reference and date). A run
may replace a draft's lines (same inputs, same figures); a confirmed or paid statement never
changes. Every run is a `SettlementRun`, with its reconciliation.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from aftersales.models.requests import MONEY

RATE = {"max_digits": 5, "decimal_places": 4}


class SettlementRun(models.Model):
    """One run of `settle_month`: what it settled and whether the books agreed."""

    class Outcome(models.TextChoices):
        OK = "ok", _("Reconciled")
        MISMATCH = "mismatch", _("Did not reconcile: nothing written")

    month = models.DateField(_("month"))  # its first day
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # Nobody for cron and beat.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("run by"),
    )  # fmt: skip
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    sale_lines = models.PositiveIntegerField(_("lines settled"), default=0)
    clawback_lines = models.PositiveIntegerField(_("clawbacks"), default=0)
    goods = models.DecimalField(_("goods after discounts"), default=0, **MONEY)
    refunds = models.DecimalField(_("refunds"), default=0, **MONEY)
    commission = models.DecimalField(_("commission"), default=0, **MONEY)
    payable = models.DecimalField(_("payable"), default=0, **MONEY)
    # The shop's own income on the orders settled: not the departments'.
    shipping_fees = models.DecimalField(_("shipping fees (the shop's)"), default=0, **MONEY)
    insurance_fees = models.DecimalField(_("insurance premiums (the shop's)"), default=0, **MONEY)
    # What the payments of the orders settled hold: captured less refunded.
    captured = models.DecimalField(_("captured"), default=0, **MONEY)
    refunded = models.DecimalField(_("refunded to customers"), default=0, **MONEY)
    report = models.TextField(_("reconciliation report"), blank=True)

    class Meta:
        verbose_name = _("settlement run")
        verbose_name_plural = _("settlement runs")
        ordering = ["-started_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} @ {timezone.localtime(self.started_at):%Y-%m-%d %H:%M}"


class Statement(models.Model):
    """结算单: what the shop owes one department for one month."""

    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")
        CONFIRMED = "confirmed", _("Confirmed")
        PAID = "paid", _("Paid")

    number = models.CharField(_("statement number"), max_length=40, unique=True)
    department = models.ForeignKey(
        "catalog.Department", on_delete=models.PROTECT, related_name="statements", verbose_name=_("department")
    )
    month = models.DateField(_("month"))  # its first day
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.DRAFT)
    run = models.ForeignKey(
        SettlementRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="statements",
        verbose_name=_("last run"),
    )  # fmt: skip
    line_count = models.PositiveIntegerField(_("lines"), default=0)
    goods = models.DecimalField(_("goods after discounts"), default=0, **MONEY)
    refunds = models.DecimalField(_("refunds"), default=0, **MONEY)
    commission = models.DecimalField(_("commission"), default=0, **MONEY)
    adjustments = models.DecimalField(_("adjustments"), default=0, **MONEY)
    payable = models.DecimalField(_("payable"), default=0, **MONEY)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    confirmed_at = models.DateTimeField(_("confirmed"), null=True, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("confirmed by"),
    )  # fmt: skip
    paid_on = models.DateField(_("paid on"), null=True, blank=True)
    transfer_reference = models.CharField(_("transfer reference"), max_length=60, blank=True)
    paid_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("marked paid by"),
    )  # fmt: skip

    class Meta:
        verbose_name = _("statement")
        verbose_name_plural = _("statements")
        ordering = ["-month", "department__code"]
        constraints = [
            # Two runs at once still make one statement per department and month.
            models.UniqueConstraint(fields=["department", "month"], name="statement_one_per_department_month"),
            models.CheckConstraint(
                condition=Q(payable=F("goods") - F("refunds") - F("commission") + F("adjustments")),
                name="statement_adds_up",
            ),
            models.CheckConstraint(
                condition=~Q(state="paid") | (Q(paid_on__isnull=False) & ~Q(transfer_reference="")),
                name="statement_paid_has_transfer",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class StatementLine(models.Model):
    """One settled order line (SALE), or one later refund of a line settled before (CLAWBACK)."""

    class Kind(models.TextChoices):
        SALE = "sale", _("Sale")
        CLAWBACK = "clawback", _("Refund after settlement")

    statement = models.ForeignKey(
        Statement, on_delete=models.CASCADE, related_name="lines", verbose_name=_("statement")
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    order_line = models.ForeignKey(
        "orders.OrderLine", on_delete=models.PROTECT, related_name="+", verbose_name=_("order line")
    )
    # Copied so that a statement's documents are written from its own rows.
    order_number = models.CharField(_("order number"), max_length=24)
    placed_at = models.DateTimeField(_("ordered"))
    completed_at = models.DateTimeField(_("completed"))
    refunded_at = models.DateTimeField(_("refunded"), null=True, blank=True)  # clawbacks
    product_name = models.CharField(_("product"), max_length=200)
    sku = models.CharField(_("SKU"), max_length=64)
    quantity = models.PositiveIntegerField(_("quantity"))
    # The line's total less its pro-rata share of the order's discount (sales; 0 on clawbacks).
    goods = models.DecimalField(_("goods after discounts"), **MONEY)
    refunds = models.DecimalField(_("refunds"), **MONEY)
    commission_rate = models.DecimalField(_("commission rate"), **RATE)
    # On goods less refunds: negative on a clawback (the commission goes back too).
    commission = models.DecimalField(_("commission"), **MONEY)
    payable = models.DecimalField(_("payable"), **MONEY)

    class Meta:
        verbose_name = _("statement line")
        verbose_name_plural = _("statement lines")
        ordering = ["pk"]
        constraints = [
            # Each order line is settled once, whatever runs.
            models.UniqueConstraint(
                fields=["order_line"], condition=Q(kind="sale"), name="statement_line_settled_once"
            ),
            models.CheckConstraint(
                condition=Q(payable=F("goods") - F("refunds") - F("commission")), name="statement_line_adds_up"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_number} {self.sku} × {self.quantity}"


class StatementAdjustment(models.Model):
    """A manual correction by finance on a draft statement, with its reason."""

    statement = models.ForeignKey(
        Statement, on_delete=models.CASCADE, related_name="adjustment_entries", verbose_name=_("statement")
    )
    amount = models.DecimalField(_("amount"), help_text=_("Positive: owed to the department."), **MONEY)
    reason = models.CharField(_("reason"), max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("by"),
    )  # fmt: skip
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("adjustment")
        verbose_name_plural = _("adjustments")
        ordering = ["pk"]
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="adjustment_not_zero")]

    def __str__(self) -> str:
        return f"{self.statement_id}: {self.amount}"
