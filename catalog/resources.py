"""Bulk import and export (CSV/XLSX) of products and variants through django-import-export.

Imports run in one transaction (IMPORT_EXPORT_USE_TRANSACTIONS): a file with any bad row
is reported row by row and nothing of it is written.
"""

from import_export import fields, resources
from import_export.widgets import ForeignKeyWidget

from catalog import models, services


class ProductResource(resources.ModelResource):
    category = fields.Field(
        attribute="category", column_name="category", widget=ForeignKeyWidget(models.Category, "slug")
    )
    brand = fields.Field(attribute="brand", column_name="brand", widget=ForeignKeyWidget(models.Brand, "slug"))
    department = fields.Field(
        attribute="department", column_name="department", widget=ForeignKeyWidget(models.Department, "code")
    )
    supplier = fields.Field(
        attribute="supplier", column_name="supplier", widget=ForeignKeyWidget(models.Supplier, "name")
    )

    class Meta:
        model = models.Product
        name = "Products"
        import_id_fields = ("slug",)
        fields = ("slug", "name", "name_en", "category", "brand", "department", "supplier", "summary", "is_active")
        export_order = fields
        skip_unchanged = True
        report_skipped = False
        clean_model_instances = True

    def after_import(self, dataset, result, **kwargs) -> None:
        if not result.has_errors() and not kwargs.get("dry_run"):
            ids = [row.object_id for row in result.rows if row.object_id]
            services.product_reindex(product_ids=ids)
            services.product_refresh_prices(product_ids=ids)


class VariantResource(resources.ModelResource):
    product = fields.Field(attribute="product", column_name="product", widget=ForeignKeyWidget(models.Product, "slug"))

    class Meta:
        model = models.ProductVariant
        name = "Variants"
        import_id_fields = ("sku",)
        fields = ("sku", "product", "price", "compare_at_price", "weight_grams", "low_stock_threshold", "is_active")
        export_order = fields
        skip_unchanged = True
        clean_model_instances = True

    def after_import(self, dataset, result, **kwargs) -> None:
        if not result.has_errors() and not kwargs.get("dry_run"):
            ids = [row.object_id for row in result.rows if row.object_id]
            product_ids = set(models.ProductVariant.objects.filter(pk__in=ids).values_list("product_id", flat=True))
            services.product_refresh_prices(product_ids=product_ids)
