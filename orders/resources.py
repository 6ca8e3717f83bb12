"""Sales baselines in a file (django-import-export, on their admin page): a former shop's sales
history arrives with its products, as rows of product slug and units sold before. Held to the
same rules as the products' files (catalog.resources: all or nothing, the importer's add and
change permissions on baselines, no spreadsheet formulas) and to the admin form's bound; the
products' counts (已售) follow as the file is committed."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from import_export import fields
from import_export.widgets import IntegerWidget

from catalog.models import Product
from catalog.resources import AllOrNothingResource, Lookup
from orders.models import SalesBaseline
from orders.sales_count import SALES_BASELINE_MAX, sales_baseline_set


class BaselineUnitsWidget(IntegerWidget):
    def clean(self, value, row=None, **kwargs):
        try:
            units = super().clean(value, row, **kwargs)
        except (ValueError, ArithmeticError):
            units = None
        if units is None or not 0 <= units <= SALES_BASELINE_MAX:
            raise ValueError(
                _("Units sold before must be a whole number from 0 to %(max)d.") % {"max": SALES_BASELINE_MAX}
            )
        return units


class SalesBaselineResource(AllOrNothingResource):
    product = fields.Field(attribute="product", column_name="product", widget=Lookup(Product, "slug"))
    units = fields.Field(attribute="units", column_name="units", widget=BaselineUnitsWidget())

    class Meta:
        model = SalesBaseline
        name = "Sales baselines"
        import_id_fields = ("product",)
        fields = ("product", "units")
        export_order = fields
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = True

    def get_queryset(self):
        return super().get_queryset().select_related("product")

    def before_import(self, dataset, **kwargs) -> None:
        super().before_import(dataset, **kwargs)
        self._products_seen = set()

    def after_init_instance(self, instance, new, row, **kwargs) -> None:
        super().after_init_instance(instance, new, row, **kwargs)
        # A product on two rows (the former shop's two listings of it?): the later row would
        # silently replace the earlier one's units, and which the file meant is not ours to guess.
        slug = row.get("product")
        if slug in self._products_seen:
            raise ValidationError(
                _("Product “%(slug)s” is on more than one row: put its units on one.") % {"slug": slug}
            )
        self._products_seen.add(slug)

    def export(self, queryset=None, **kwargs):
        if queryset is not None:
            queryset = queryset.select_related("product")
        return super().export(queryset=queryset, **kwargs)

    def after_import(self, dataset, result, **kwargs) -> None:
        if self.written(result, **kwargs):
            units = {
                row.instance.product_id: row.instance.units
                for row in result.rows
                if row.instance is not None and not row.is_skip()
            }
            sales_baseline_set(units=units, recount=True)  # the same values, and the counts now
