"""Electronic ordinary invoices (电子普通发票) and their red (credit) invoices (红字发票).

A customer asks for an invoice (at checkout or on the order's page): one blue invoice per order,
REQUESTED until finance issues it (or the order completes, with INVOICE_AUTO_ISSUE). Issuing
numbers it from the gap-free sequence and fixes its amount and lines: what the customer paid
for goods, shipping and insurance, less what was refunded by then. A refund written after that
gets a red invoice for the refunded amount, referencing the blue one: issued invoices never
change. Amounts are signed: a red invoice's are negative, so sums over invoices are what was
invoiced.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from aftersales.models.requests import MONEY, RefundNote


class Invoice(models.Model):
    class Kind(models.TextChoices):
        BLUE = "blue", _("Invoice")  # 蓝字发票
        RED = "red", _("Credit invoice")  # 红字发票: cancels part of a blue one after a refund

    class State(models.TextChoices):
        REQUESTED = "requested", _("Requested")  # the customer's details, not yet issued
        ISSUED = "issued", _("Issued")  # numbered, amount and lines fixed; never changes again

    class TitleType(models.TextChoices):
        PERSONAL = "personal", _("Individual")  # 个人
        ORGANISATION = "organisation", _("Organisation")  # 单位

    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, related_name="invoices", verbose_name=_("order")
    )
    kind = models.CharField(_("kind"), max_length=5, choices=Kind.choices, default=Kind.BLUE)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.REQUESTED)
    # Issued only: numbers come from the gap-free sequence as they are issued.
    number = models.CharField(_("invoice number"), max_length=24, unique=True, null=True, blank=True)
    title_type = models.CharField(_("title type"), max_length=12, choices=TitleType.choices)
    title = models.CharField(_("invoice title"), max_length=100)
    taxpayer_id = models.CharField(_("taxpayer ID"), max_length=18, blank=True)  # 统一社会信用代码
    email = models.EmailField(_("email"))
    amount = models.DecimalField(_("amount"), default=0, **MONEY)  # negative on a red invoice
    original = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="red_invoices",
        verbose_name=_("original invoice"),
    )  # fmt: skip
    refund_note = models.OneToOneField(
        RefundNote, on_delete=models.PROTECT, null=True, blank=True, related_name="red_invoice",
        verbose_name=_("refund note"),
    )  # fmt: skip
    requested_at = models.DateTimeField(_("requested"), default=timezone.now)
    issued_at = models.DateTimeField(_("issued"), null=True, blank=True, db_index=True)
    # Nobody when issued on the order's completion.
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("issued by"),
    )  # fmt: skip

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        ordering = ["-requested_at", "-pk"]
        permissions = [("issue_invoice", _("Can issue invoices"))]
        constraints = [
            # Two requests at once (a double click, two tabs) still make one invoice per order.
            models.UniqueConstraint(fields=["order"], condition=Q(kind="blue"), name="invoice_one_blue_per_order"),
            models.CheckConstraint(
                condition=Q(state="requested", number__isnull=True, issued_at__isnull=True)
                | Q(state="issued", number__isnull=False, issued_at__isnull=False),
                name="invoice_issued_has_number",
            ),
            models.CheckConstraint(
                condition=Q(kind="blue", amount__gte=0, original__isnull=True, refund_note__isnull=True)
                | Q(kind="red", amount__lt=0, original__isnull=False, refund_note__isnull=False, state="issued"),
                name="invoice_red_cancels_a_refund",
            ),
            models.CheckConstraint(
                condition=Q(title_type="personal", taxpayer_id="")
                | Q(title_type="organisation", taxpayer_id__regex=r"^[0-9A-Z]{18}$"),
                name="invoice_taxpayer_id_for_organisations",
            ),
        ]

    def __str__(self) -> str:
        return self.number or f"{self.order_id}: {self.get_state_display()}"

    def get_absolute_url(self) -> str:
        return reverse("aftersales:invoice_pdf", kwargs={"number": self.number})


class InvoiceLine(models.Model):
    """What an issued invoice lists: goods (each order line's net of discount and refunds),
    shipping and insurance. Its lines add up to the invoice's amount."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines", verbose_name=_("invoice"))
    name = models.CharField(_("item"), max_length=200)
    options = models.CharField(_("options"), max_length=200, blank=True)
    # The same in English (empty: none), for a customer who reads the shop in English: the PDF is
    # made in the reader's language (the order line's names, "Shipping").
    name_en = models.CharField(_("item (English)"), max_length=200, blank=True)
    options_en = models.CharField(_("options (English)"), max_length=200, blank=True)
    quantity = models.IntegerField(_("quantity"), default=1)
    amount = models.DecimalField(_("amount"), **MONEY)  # negative on a red invoice

    class Meta:
        verbose_name = _("invoice line")
        verbose_name_plural = _("invoice lines")
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.name} × {self.quantity}"

    @property
    def display_name(self) -> str:
        return self.name_en if self.name_en and _english() else self.name

    @property
    def display_options(self) -> str:
        return self.options_en if self.options_en and _english() else self.options


def _english() -> bool:
    return (translation.get_language() or "").startswith("en")
