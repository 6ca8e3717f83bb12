"""Warehouses and stock in the admin; stock also appears inline on the product page."""

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportModelAdmin

from catalog.admin import ProductAdmin
from catalog.models import Product
from fulfillment import models, services
from fulfillment.resources import StockResource


class StockForm(forms.ModelForm):
    """Staff count stock: they set on-hand units; `reserved` belongs to orders.

    An existing row keeps its variant and warehouse (moving a row would move its
    reservations), and it is saved through `stock_set_on_hand`, which locks the row and
    writes on_hand only, so a reservation made while the page was open is never lost."""

    class Meta:
        model = models.Stock
        fields = ("variant", "warehouse", "on_hand")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            for name in ("variant", "warehouse"):
                if name in self.fields:
                    self.fields[name].disabled = True

    def clean_on_hand(self) -> int:
        on_hand = self.cleaned_data["on_hand"]
        reserved = (
            models.Stock.objects.values_list("reserved", flat=True).get(pk=self.instance.pk) if self.instance.pk else 0
        )
        if on_hand is not None and on_hand < reserved:
            # Without this the database's check constraint would turn the save into a 500.
            raise forms.ValidationError(
                _("%(reserved)d units are reserved for orders; on hand cannot be less."),
                code="below_reserved",
                params={"reserved": reserved},
            )
        return on_hand


def _stock_save(stock: models.Stock) -> models.Stock:
    """Save an admin-edited stock row through the service; copy back what it stored."""
    saved = services.stock_set_on_hand(
        warehouse_id=stock.warehouse_id, variant_id=stock.variant_id, on_hand=stock.on_hand
    )
    stock.pk, stock.product_id, stock.reserved = saved.pk, saved.product_id, saved.reserved
    return stock


@admin.register(models.Warehouse)
class WarehouseAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "province", "city", "is_active")
    list_filter = ("is_active", "province")
    search_fields = ("code", "name", "city")


@admin.register(models.Stock)
class StockAdmin(ImportExportModelAdmin):
    resource_classes = [StockResource]
    form = StockForm
    list_display = ("variant", "product", "warehouse", "on_hand", "reserved", "available")
    list_filter = ("warehouse",)
    list_select_related = ("variant", "product", "warehouse")
    search_fields = ("variant__sku", "product__name")
    autocomplete_fields = ("variant",)
    readonly_fields = ("reserved",)
    show_full_result_count = False

    @admin.display(description=_("available"))
    def available(self, obj: models.Stock) -> int:
        return obj.available

    def save_model(self, request, obj, form, change) -> None:
        _stock_save(obj)  # also refreshes the product's in-stock flag


class StockInline(admin.TabularInline):
    model = models.Stock
    form = StockForm
    extra = 0
    fields = ("variant", "warehouse", "on_hand", "reserved")
    readonly_fields = ("reserved",)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "variant":
            product_id = request.resolver_match.kwargs.get("object_id")
            field.queryset = field.queryset.filter(product_id=product_id) if product_id else field.queryset.none()
        return field


class ProductWithStockAdmin(ProductAdmin):
    inlines = [*ProductAdmin.inlines, StockInline]

    def save_formset(self, request, form, formset, change) -> None:
        if formset.model is not models.Stock:
            super().save_formset(request, form, formset, change)
            return
        for stock in formset.save(commit=False):
            _stock_save(stock)
        for stock in formset.deleted_objects:
            stock.delete()

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        services.product_stock_flags_refresh(product_ids=[form.instance.pk])

    def process_result(self, result, request):
        # An imported variants file may switch variants on or off, which decides whether
        # their products are in stock (the catalogue's resources cannot reach stock).
        product_ids = {
            getattr(row.instance, "product_id", None) or row.instance.pk
            for row in result.valid_rows()
            if row.instance is not None and not row.is_skip()
        }
        services.product_stock_flags_refresh(product_ids=product_ids)
        return super().process_result(result, request)


admin.site.unregister(Product)
admin.site.register(Product, ProductWithStockAdmin)
