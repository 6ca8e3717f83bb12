"""Bulk import and export of stock counts (CSV/XLSX): one row per warehouse and SKU.

Like the catalogue's files, a stock file is imported whole or not at all."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from import_export import fields

from catalog.models import ProductVariant
from catalog.resources import AllOrNothingResource, Lookup
from fulfillment import models, services


class StockResource(AllOrNothingResource):
    warehouse = fields.Field(attribute="warehouse", column_name="warehouse", widget=Lookup(models.Warehouse, "code"))
    sku = fields.Field(attribute="variant", column_name="sku", widget=Lookup(ProductVariant, "sku"))

    class Meta:
        model = models.Stock
        name = "Stock"
        import_id_fields = ("warehouse", "sku")
        fields = ("warehouse", "sku", "on_hand", "reserved")
        export_order = fields
        skip_unchanged = True
        clean_model_instances = True

    def get_queryset(self):
        return super().get_queryset().select_related("warehouse", "variant")

    def export(self, queryset=None, **kwargs):
        if queryset is not None:
            queryset = queryset.select_related("warehouse", "variant")
        return super().export(queryset=queryset, **kwargs)

    def before_import(self, dataset, **kwargs) -> None:
        # Who imports the file: each count it makes is recorded as their stock movement.
        self._actor = kwargs.get("user")
        super().before_import(dataset, **kwargs)

    def import_instance(self, instance, row, **kwargs) -> None:
        """Take on_hand from the file. `reserved` belongs to orders: a file may show it but
        never changes it, and the product is always the variant's. Both are set before the
        row is validated, so the checks see the real figures."""
        try:
            super().import_instance(instance, row, **kwargs)
        finally:
            instance.reserved = (
                models.Stock.objects.values_list("reserved", flat=True).get(pk=instance.pk) if instance.pk else 0
            )
            if instance.variant_id:
                instance.product_id = instance.variant.product_id
        if instance.on_hand is None:
            raise ValidationError({"on_hand": _("A count is required.")})
        if instance.on_hand < 0:
            raise ValidationError({"on_hand": _("A count cannot be negative.")})
        if instance.on_hand < instance.reserved:
            raise ValidationError(
                {
                    "on_hand": _("%(reserved)d units are reserved for orders; on hand cannot be less.")
                    % {"reserved": instance.reserved}
                }
            )

    def do_instance_save(self, instance, is_create) -> None:
        # Through the service: it locks the row and writes on_hand only, so a reservation
        # made by an order during the import is neither lost nor undercut.
        saved = services.stock_set_on_hand(
            warehouse_id=instance.warehouse_id,
            variant_id=instance.variant_id,
            on_hand=instance.on_hand,
            actor=getattr(self, "_actor", None),
            note="imported count",
        )
        instance.pk, instance.product_id, instance.reserved = saved.pk, saved.product_id, saved.reserved

    def after_import(self, dataset, result, **kwargs) -> None:
        if self.written(result, **kwargs):
            ids = [row.object_id for row in result.rows if row.object_id]
            product_ids = set(models.Stock.objects.filter(pk__in=ids).values_list("product_id", flat=True))
            services.product_stock_flags_refresh(product_ids=product_ids)
