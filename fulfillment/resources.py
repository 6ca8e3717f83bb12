"""Bulk import and export of stock counts (CSV/XLSX): one row per warehouse and SKU."""

from import_export import fields, resources
from import_export.widgets import ForeignKeyWidget

from catalog.models import ProductVariant
from fulfillment import models, services


class StockResource(resources.ModelResource):
    warehouse = fields.Field(
        attribute="warehouse", column_name="warehouse", widget=ForeignKeyWidget(models.Warehouse, "code")
    )
    sku = fields.Field(attribute="variant", column_name="sku", widget=ForeignKeyWidget(ProductVariant, "sku"))

    class Meta:
        model = models.Stock
        name = "Stock"
        import_id_fields = ("warehouse", "sku")
        fields = ("warehouse", "sku", "on_hand", "reserved")
        export_order = fields
        skip_unchanged = True
        clean_model_instances = True

    def before_save_instance(self, instance, row, **kwargs) -> None:
        # reserved is owned by orders; a file may show it but never changes it.
        if instance.pk:
            instance.reserved = models.Stock.objects.values_list("reserved", flat=True).get(pk=instance.pk)
        else:
            instance.reserved = 0
        if instance.on_hand is None or instance.on_hand < instance.reserved:
            from django.core.exceptions import ValidationError

            raise ValidationError({"on_hand": f"must be at least the {instance.reserved} units reserved"})
        instance.product_id = instance.variant.product_id

    def after_import(self, dataset, result, **kwargs) -> None:
        if not result.has_errors() and not kwargs.get("dry_run"):
            ids = [row.object_id for row in result.rows if row.object_id]
            product_ids = set(models.Stock.objects.filter(pk__in=ids).values_list("product_id", flat=True))
            services.product_stock_flags_refresh(product_ids=product_ids)
