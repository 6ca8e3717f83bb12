"""Admin building blocks shared by the apps."""

from django.contrib import admin
from import_export.admin import ImportExportModelAdmin


class ReadOnlyInline(admin.TabularInline):
    """An inline that shows records (events, payments, ledger entries) and never edits them."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ProductVariantsOnlyMixin:
    """For an inline on the product's change page: its `variant` drop-down offers that product's
    own variants. Every variant of the catalogue in each row's drop-down (hundreds of options,
    per row) made the product page slow and heavy."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "variant":
            product_id = request.resolver_match.kwargs.get("object_id")
            field.queryset = field.queryset.filter(product_id=product_id) if product_id else field.queryset.none()
        return field


class PermittedImportExportAdmin(ImportExportModelAdmin):
    """Import and export offer only the files (resources) whose model the user may change
    (import) or view (export). IMPORT_EXPORT_*_PERMISSION_CODE hold the admin's own model; a
    product admin also imports variants, which carry prices."""

    @staticmethod
    def _may(request, action: str, resource_class) -> bool:
        opts = resource_class._meta.model._meta
        return request.user.has_perm(f"{opts.app_label}.{action}_{opts.model_name}")

    def get_import_resource_classes(self, request):
        return [r for r in super().get_import_resource_classes(request) if self._may(request, "change", r)]

    def get_export_resource_classes(self, request):
        return [r for r in super().get_export_resource_classes(request) if self._may(request, "view", r)]

    def has_import_permission(self, request) -> bool:
        return super().has_import_permission(request) and bool(self.get_import_resource_classes(request))

    def has_export_permission(self, request) -> bool:
        return super().has_export_permission(request) and bool(self.get_export_resource_classes(request))
