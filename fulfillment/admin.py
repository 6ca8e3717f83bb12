"""Warehouses and stock in the admin; stock also appears inline on the product page."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportModelAdmin

from catalog.admin import ProductAdmin
from catalog.models import Product
from fulfillment import models, services
from fulfillment.resources import StockResource


@admin.register(models.Warehouse)
class WarehouseAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "province", "city", "is_active")
    list_filter = ("is_active", "province")
    search_fields = ("code", "name", "city")


@admin.register(models.Stock)
class StockAdmin(ImportExportModelAdmin):
    resource_classes = [StockResource]
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
        super().save_model(request, obj, form, change)
        services.product_stock_flags_refresh(product_ids=[obj.product_id])


class StockInline(admin.TabularInline):
    model = models.Stock
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

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        services.product_stock_flags_refresh(product_ids=[form.instance.pk])


admin.site.unregister(Product)
admin.site.register(Product, ProductWithStockAdmin)
