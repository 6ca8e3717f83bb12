"""Staff manage the catalogue here: products with their variants and images, the category
tree, brands, departments, suppliers and attributes; bulk import and export of products."""

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth import get_user_model
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from treebeard.admin import TreeAdmin
from treebeard.forms import movenodeform_factory

from catalog import models, services
from catalog.forms import ProductAdminForm
from catalog.resources import ProductResource, VariantResource
from catalog.selectors import staff_department_ids
from shop.core.admin import PermittedImportExportAdmin, ProductVariantsOnlyMixin
from shop.core.admin_site import contribute


class CommissionRateInline(admin.TabularInline):
    """佣金 history: finance adds a rate from a date on (old sales keep theirs); catalogue managers
    read it. Rates are never deleted: statements were computed with them."""

    model = models.CommissionRate
    extra = 0
    can_delete = False
    fields = ("valid_from", "rate")


@admin.register(models.Department)
class DepartmentAdmin(admin.ModelAdmin):
    """Departments: the superuser sets them up and assigns their staff; finance sets their
    commission rates here (it may change a department only for that: its fields stay read only)."""

    list_display = ("code", "name", "name_en", "contact_email", "is_active")
    list_filter = ("is_active",)
    search_fields = ("code", "name", "name_en")
    inlines = [CommissionRateInline]
    filter_horizontal = ("staff",)

    def get_fields(self, request, obj=None):
        fields = ["code", "name", "name_en", "contact_email", "is_active", "staff"]
        return fields if request.user.is_superuser else fields[:-1]

    def get_readonly_fields(self, request, obj=None):
        return () if request.user.is_superuser else ("code", "name", "name_en", "contact_email", "is_active")

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "staff":
            kwargs["queryset"] = get_user_model().objects.filter(is_staff=True, is_superuser=False)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


@admin.register(models.Supplier)
class SupplierAdmin(admin.ModelAdmin):
    list_display = ("name", "contact_name", "phone", "email")
    search_fields = ("name", "contact_name", "phone")


@admin.register(models.Brand)
class BrandAdmin(admin.ModelAdmin):
    list_display = ("name", "name_en", "manufacturer", "country")
    search_fields = ("name", "name_en", "manufacturer", "manufacturer_en")
    prepopulated_fields = {"slug": ("name_en",)}
    fields = (("name", "name_en"), "slug", ("manufacturer", "manufacturer_en"), "country")


@admin.register(models.Category)
class CategoryAdmin(TreeAdmin):
    form = movenodeform_factory(models.Category, exclude=("path", "depth", "numchild"))
    list_display = ("name", "name_en", "slug", "is_active")
    search_fields = ("name", "name_en", "slug")
    prepopulated_fields = {"slug": ("name_en",)}


class AttributeValueInline(admin.TabularInline):
    model = models.AttributeValue
    extra = 1


@admin.register(models.Attribute)
class AttributeAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "name_en", "is_filter", "position")
    list_editable = ("is_filter", "position")
    inlines = [AttributeValueInline]


class VariantInline(admin.TabularInline):
    model = models.ProductVariant
    extra = 0
    fields = ("sku", "options", "price", "compare_at_price", "weight_grams", "low_stock_threshold", "is_active")
    autocomplete_fields = ("options",)


class ImageInline(ProductVariantsOnlyMixin, admin.TabularInline):
    model = models.ProductImage
    extra = 0
    fields = ("preview", "image", "variant", "alt", "alt_en", "position")
    readonly_fields = ("preview",)

    @admin.display(description=_("Preview"))
    def preview(self, obj: models.ProductImage) -> str:
        url = obj.thumbnail_url if obj and obj.pk else ""
        return format_html('<img src="{}" width="80" height="80" alt="">', url) if url else "—"


@admin.register(models.AttributeValue)
class AttributeValueAdmin(admin.ModelAdmin):
    list_display = ("attribute", "value", "value_en", "position")
    list_filter = ("attribute",)
    search_fields = ("value", "value_en", "attribute__name")
    list_select_related = ("attribute",)


@admin.register(models.Product)
class ProductAdmin(PermittedImportExportAdmin):
    """The product admin. Fulfillment contributes its stock inline and in-stock refresh
    (fulfillment/admin.py, ``contribute(Product, …)``); the site composes the class that runs
    (shop.core.admin_site; ``admin.site.contributions(Product)`` lists them)."""

    resource_classes = [ProductResource, VariantResource]
    form = ProductAdminForm
    list_display = (
        "name",
        "brand",
        "category",
        "department",
        "price",
        "in_stock",
        "sales_count",
        "view_count",
        "is_active",
    )
    list_filter = ("is_active", "in_stock", "department", "brand", "category")
    list_select_related = ("brand", "category", "department")
    search_fields = ("name", "name_en", "slug", "variants__sku")
    # Search-as-you-type for the relations that grow with the catalogue (the department list
    # stays a drop-down: a handful, and department staff may not search departments).
    autocomplete_fields = ("brand", "category", "supplier", "attribute_values")
    prepopulated_fields = {"slug": ("name_en",)}
    readonly_fields = ("price", "compare_at_price", "in_stock", "view_count", "sales_count", "created_at")
    inlines = [VariantInline, ImageInline]
    list_per_page = 50
    show_full_result_count = False  # COUNT(*) over 100,000 rows on every change list is waste
    actions = ("make_active", "make_inactive")
    fieldsets = (
        (None, {"fields": (("name", "name_en"), "slug", "category", "brand", "department", "supplier", "is_active")}),
        # Each English text beside its Chinese one: left empty, pages in English show the Chinese.
        (
            _("Description"),
            {
                "fields": (
                    ("summary", "summary_en"),
                    ("description", "description_en"),
                    "specifications",
                    "attribute_values",
                )
            },
        ),
        (_("Figures"), {"fields": readonly_fields}),
    )

    def get_queryset(self, request):
        # Department staff read their own departments' products only.
        queryset = super().get_queryset(request)
        departments = staff_department_ids(request.user)
        return queryset if departments is None else queryset.filter(department_id__in=departments)

    def get_data_for_export(self, request, queryset, **kwargs):
        # The admin hands every resource the product list (search, filters, selection); the
        # variants file lists those products' variants, not the products themselves.
        resource_class = self.choose_export_resource_class(kwargs.get("export_form"), request)
        if resource_class._meta.model is models.ProductVariant:
            queryset = models.ProductVariant.objects.filter(product__in=queryset.values("pk")).order_by(
                "product_id", "position", "pk"
            )
        return super().get_data_for_export(request, queryset, **kwargs)

    def save_formset(self, request, form, formset, change) -> None:
        if formset.model is models.ProductImage:
            for image_form in formset.forms:
                if image_form.instance.pk and "image" in image_form.changed_data:
                    # A replaced file: the renditions are the old picture's. Emptied, they are
                    # rebuilt on commit (catalog.receivers.image_saved queues the task).
                    image_form.instance.renditions = {}
        super().save_formset(request, form, formset, change)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        services.product_after_save(product_id=form.instance.pk)

    @admin.action(description=_("Show selected products in the shop"), permissions=["change"])
    def make_active(self, request, queryset) -> None:
        n = services.products_show(products=queryset, shown=True)
        self.message_user(request, _("%(n)d products are now shown.") % {"n": n})

    @admin.action(description=_("Hide selected products from the shop"), permissions=["change"])
    def make_inactive(self, request, queryset) -> None:
        n = services.products_show(products=queryset, shown=False)
        self.message_user(request, _("%(n)d products are now hidden.") % {"n": n})


@admin.register(models.ProductVariant)
class VariantAdmin(admin.ModelAdmin):
    list_display = ("sku", "product", "price", "compare_at_price", "weight_grams", "is_active")
    list_filter = ("is_active",)
    list_select_related = ("product",)
    search_fields = ("sku", "product__name", "product__name_en")
    autocomplete_fields = ("product", "options")
    show_full_result_count = False

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        departments = staff_department_ids(request.user)
        return queryset if departments is None else queryset.filter(product__department_id__in=departments)

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        services.product_refresh_prices(product_ids=[obj.product_id])


# -- on shop's user admin: a staff member's departments ----------------------------------------


class StaffDepartmentsMixin:
    """Contributed to shop's user admin: the superuser assigns a staff member's departments
    (Department.staff) on their page, next to their roles (groups)."""

    def get_form(self, request, obj=None, **kwargs):
        if obj is not None and request.user.is_superuser:
            kwargs["form"] = _with_departments(kwargs.get("form", self.form))
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and request.user.is_superuser:
            return [*fieldsets, (_("Departments"), {"fields": ("departments",)})]
        return fieldsets

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        if "departments" in form.cleaned_data:
            form.instance.staff_departments.set(form.cleaned_data["departments"])


def _with_departments(base):
    class StaffForm(base):
        departments = forms.ModelMultipleChoiceField(
            label=_("departments"),
            queryset=models.Department.objects.all(),
            required=False,
            widget=FilteredSelectMultiple(_("departments"), is_stacked=False),
            help_text=_("Department staff read only these departments' products, sales and statements."),
        )

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if self.instance.pk:
                self.fields["departments"].initial = list(self.instance.staff_departments.values_list("pk", flat=True))

    return StaffForm


contribute(get_user_model(), mixins=[StaffDepartmentsMixin])
