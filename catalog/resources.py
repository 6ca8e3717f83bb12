"""Bulk import and export (CSV/XLSX) of products and variants through django-import-export.

A file is imported whole or not at all: it runs in one transaction
(IMPORT_EXPORT_USE_TRANSACTIONS) and any bad row, whether an unknown reference or a value
the model refuses, is reported row by row and rolls the whole file back.

A row is held to the importer's permissions on the resource's model (a new row needs "add", an
existing one "change"), and exported text cannot run as a spreadsheet formula.
"""

import json
import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from import_export import fields, resources
from import_export.widgets import CharWidget, ForeignKeyWidget, Widget

from catalog import models, services
from catalog.forms import SpecificationsField


class Lookup(ForeignKeyWidget):
    """A reference by slug, code or SKU. An unknown one is reported on its row as
    “No category with slug ‘x’.” rather than as a traceback."""

    def clean(self, value, row=None, **kwargs):
        try:
            if "\x00" in str(value or ""):
                # No row has one (PostgreSQL refuses NUL in text), and asking would put its
                # driver's error on the page instead of this message.
                raise self.model.DoesNotExist
            return super().clean(value, row, **kwargs)
        except self.model.DoesNotExist:
            raise ValueError(
                _("No %(model)s with %(field)s “%(value)s”.")
                % {
                    "model": self.model._meta.verbose_name,
                    "field": self.model._meta.get_field(self.field).verbose_name,
                    "value": str(value).replace("\x00", "\\x00"),
                }
            ) from None


def _spec_item(item) -> bool:
    """A row ({name, name_en, value, value_en}) or an old [label, value] pair of plain values:
    spec_rows would turn a nested object into its Python repr."""
    texts = [item.get(key) for key in models.SPEC_KEYS] if isinstance(item, dict) else item
    if not isinstance(texts, list) or (not isinstance(item, dict) and len(texts) != 2):
        return False
    return all(text is None or (isinstance(text, (str, int, float)) and not isinstance(text, bool)) for text in texts)


class SpecificationsWidget(Widget):
    """Specifications in one cell as JSON rows, [{"name": "产地", "name_en": "Origin", "value":
    "浙江", "value_en": "Zhejiang"}, …], readable in a spreadsheet (not \\u-escaped). Old
    [label, value] pairs are taken as Chinese-only rows."""

    def clean(self, value, row=None, **kwargs):
        if value is None or not str(value).strip():
            return []
        try:
            data = json.loads(str(value))
        except (ValueError, RecursionError):  # RecursionError: a cell of thousands of nested [
            data = None
        if not isinstance(data, list) or not all(_spec_item(item) for item in data):
            raise ValueError(_("Specifications must be a JSON list of rows with name, name_en, value and value_en."))
        # Held to the admin form's rules (Chinese required, lengths, row count, no NUL): an
        # import must not store what the product page's editor would refuse.
        try:
            return SpecificationsField(required=False).clean(data)
        except ValidationError as exc:
            raise ValueError(" ".join(exc.messages)) from None

    def render(self, value, obj=None, **kwargs):
        rows = models.spec_rows(value)
        return json.dumps(rows, ensure_ascii=False) if rows else ""


# A cell starting with one of these is a formula (or a DDE call) to Excel and LibreOffice.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def formula_escape(value):
    """A text cell that a spreadsheet would run (“=HYPERLINK(…)”, “@SUM(…)”) gets a leading
    apostrophe, the OWASP defence, so it is shown as text; a plain number such as -5 is left alone."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS) and not PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def formula_unescape(value):
    """The inverse on import, so that a file exported and imported back changes nothing."""
    if isinstance(value, str) and value.startswith("'") and formula_escape(value[1:]) == value:
        return value[1:]
    return value


class AllOrNothingResource(resources.ModelResource):
    """Rows the model refuses (validation errors) roll the file back too; the library
    default would roll back only on other errors and write every valid row.

    Imported by someone (the admin passes the user), a row that would create an object needs
    the model's add permission and one that would change it the change permission: the admin
    checks only the permission on its own model, and a file may hold rows of either kind."""

    def import_data(self, dataset, dry_run=False, raise_errors=False, use_transactions=None, **kwargs):
        kwargs.setdefault("rollback_on_validation_errors", True)
        return super().import_data(
            dataset, dry_run=dry_run, raise_errors=raise_errors, use_transactions=use_transactions, **kwargs
        )

    def before_import_row(self, row, **kwargs) -> None:
        for column, value in row.items():
            row[column] = formula_unescape(value)
        super().before_import_row(row, **kwargs)

    def after_init_instance(self, instance, new, row, **kwargs) -> None:
        super().after_init_instance(instance, new, row, **kwargs)
        user = kwargs.get("user")
        if user is None:
            return  # a management command or a test: whoever runs it holds the database
        opts = self._meta.model._meta
        action = "add" if new else "change"
        if not user.has_perm(f"{opts.app_label}.{action}_{opts.model_name}"):
            message = _("You may not add %(model)s.") if new else _("You may not change %(model)s.")
            raise ValidationError(message % {"model": opts.verbose_name_plural})

    def export_field(self, field, instance, **kwargs):
        return formula_escape(super().export_field(field, instance, **kwargs))

    @staticmethod
    def written(result, **kwargs) -> bool:
        """Whether this import is being committed: not a dry run and no bad row."""
        return not (kwargs.get("dry_run") or result.has_errors() or result.has_validation_errors())


class ProductResource(AllOrNothingResource):
    category = fields.Field(attribute="category", column_name="category", widget=Lookup(models.Category, "slug"))
    brand = fields.Field(attribute="brand", column_name="brand", widget=Lookup(models.Brand, "slug"))
    department = fields.Field(
        attribute="department", column_name="department", widget=Lookup(models.Department, "code")
    )
    supplier = fields.Field(attribute="supplier", column_name="supplier", widget=Lookup(models.Supplier, "name"))
    specifications = fields.Field(
        attribute="specifications", column_name="specifications", widget=SpecificationsWidget()
    )
    # Text columns (not CharFields, which the library already reads so): an empty cell is "".
    description = fields.Field(attribute="description", column_name="description", widget=CharWidget())
    description_en = fields.Field(attribute="description_en", column_name="description_en", widget=CharWidget())

    class Meta:
        model = models.Product
        name = "Products"
        import_id_fields = ("slug",)
        # Every customer-facing text in both languages: an empty English cell shows the Chinese.
        fields = (
            "slug", "name", "name_en", "category", "brand", "department", "supplier", "summary", "summary_en",
            "description", "description_en", "specifications", "is_active",
        )  # fmt: skip
        export_order = fields
        skip_unchanged = True
        # Skipped (unchanged) rows stay in the result: the admin numbers error lines by
        # their place in it, so leaving them out would point staff at the wrong line.
        report_skipped = True
        clean_model_instances = True

    def get_queryset(self):
        # Exports render each row's references: fetch them with the rows, not one by one.
        return super().get_queryset().select_related("category", "brand", "department", "supplier")

    def export(self, queryset=None, **kwargs):
        if queryset is not None:
            queryset = queryset.select_related("category", "brand", "department", "supplier")
        return super().export(queryset=queryset, **kwargs)

    def after_import(self, dataset, result, **kwargs) -> None:
        if self.written(result, **kwargs):
            ids = [row.object_id for row in result.rows if row.object_id and not row.is_skip()]
            services.product_reindex(product_ids=ids)
            services.product_refresh_prices(product_ids=ids)


class VariantResource(AllOrNothingResource):
    product = fields.Field(attribute="product", column_name="product", widget=Lookup(models.Product, "slug"))

    class Meta:
        model = models.ProductVariant
        name = "Variants"
        import_id_fields = ("sku",)
        fields = ("sku", "product", "price", "compare_at_price", "weight_grams", "low_stock_threshold", "is_active")
        export_order = fields
        skip_unchanged = True
        clean_model_instances = True

    def get_queryset(self):
        return super().get_queryset().select_related("product")

    def export(self, queryset=None, **kwargs):
        if queryset is not None:
            queryset = queryset.select_related("product")
        return super().export(queryset=queryset, **kwargs)

    def after_import(self, dataset, result, **kwargs) -> None:
        if self.written(result, **kwargs):
            ids = [row.object_id for row in result.rows if row.object_id and not row.is_skip()]
            product_ids = set(models.ProductVariant.objects.filter(pk__in=ids).values_list("product_id", flat=True))
            # A variant moved to another product changes the old product's price too.
            product_ids |= {row.original.product_id for row in result.rows if row.original is not None}
            services.product_refresh_prices(product_ids=product_ids)
