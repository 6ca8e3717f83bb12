"""Warehouses and the stock each holds per variant (fulfillment extends these later)."""

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class Warehouse(models.Model):
    code = models.SlugField(_("code"), max_length=30, unique=True)
    name = models.CharField(_("name"), max_length=100)
    province = models.CharField(_("province"), max_length=50)
    city = models.CharField(_("city"), max_length=50)
    address = models.CharField(_("address"), max_length=300, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("warehouse")
        verbose_name_plural = _("warehouses")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.city})"


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


class Reservation(models.Model):
    """Units of one order line held in one warehouse until shipped or released."""

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="reservations")
    stock = models.ForeignKey(Stock, on_delete=models.PROTECT, related_name="reservations")
    variant = models.ForeignKey("catalog.ProductVariant", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    released = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("reservation")
        verbose_name_plural = _("reservations")
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="reservation_quantity_positive"),
            models.UniqueConstraint(fields=["order", "stock"], name="reservation_one_per_order_and_stock"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.variant_id} × {self.quantity}"
