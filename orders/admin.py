"""Staff work on orders: find them, read everything about them, cancel with a reason; coupons."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from catalog.selectors import staff_department_ids
from orders import models, services
from orders.exceptions import OrderError
from orders.resources import SalesBaselineResource
from orders.sales_count import SALES_BASELINE_MAX, sales_baseline_clear, sales_baseline_set
from shop.adminlog import admin_action_row_by_row
from shop.core.admin import PermittedImportExportAdmin, ReadOnlyInline
from shop.core.admin_site import contribute


class LineInline(ReadOnlyInline):
    model = models.OrderLine
    fields = ("sku", "product_name", "variant_label", "unit_price", "quantity", "line_total")


class EventInline(ReadOnlyInline):
    model = models.OrderEvent
    fields = ("created_at", "from_label", "to_label", "actor_kind_label", "actor", "display_note")

    # The stored codes ("pending_payment", "system") in the reader's language.
    @admin.display(description=_("from status"))
    def from_label(self, obj) -> str:
        return obj.from_label

    @admin.display(description=_("to status"))
    def to_label(self, obj) -> str:
        return obj.to_label

    @admin.display(description=_("actor kind"))
    def actor_kind_label(self, obj) -> str:
        return obj.actor_kind_label

    @admin.display(description=_("note"))
    def display_note(self, obj) -> str:
        return obj.display_note


class NotificationInline(ReadOnlyInline):
    model = models.Notification
    fields = ("kind", "to", "state", "attempts", "created_at", "sent_at", "last_error")


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200)


@admin.register(models.Order)
class OrderAdmin(admin.ModelAdmin):
    """The order admin. Apps above add to it (shop.core.admin_site composes the class that
    runs): payments its payments inline, fulfillment its parcels, after-sales its requests,
    refund notes and insurance claims (``contribute(Order, …)`` in their admin modules)."""

    list_display = ("number", "customer", "status", "total", "payment_method", "placed_at", "city")
    list_filter = ("status", "payment_method", "shipping_method", ("placed_at", admin.DateFieldListFilter))
    search_fields = ("number", "customer__email", "customer__phone", "phone", "recipient")
    list_select_related = ("customer",)
    date_hierarchy = "placed_at"
    show_full_result_count = False
    inlines = [LineInline, EventInline, NotificationInline]
    actions = ("cancel_orders",)
    readonly_fields = [*(f.name for f in models.Order._meta.fields), "cancellation_reason"]
    fieldsets = (
        (None, {"fields": ("number", "customer", "status", "payment_method", "placed_at", "pay_by", "paid_at")}),
        (_("Money"), {"fields": ("subtotal", "discount", "coupon_code", "shipping_fee", "insurance_fee", "total")}),
        (
            _("Delivery"),
            {"fields": ("recipient", "phone", "province", "city", "district", "street", "postcode", "note")},
        ),
        (_("Shipping"), {"fields": ("shipping_method", "insured", "shipped_at", "delivered_at", "completed_at")}),
        (_("Cancellation"), {"fields": ("cancelled_at", "cancellation_reason")}),
    )

    def has_add_permission(self, request) -> bool:
        return False  # orders are placed by customers through checkout

    @admin.display(description=_("cancellation reason"))
    def cancellation_reason(self, obj) -> str:
        return models.system_note(obj.cancel_reason)  # the shop's own reasons translated

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin_action_row_by_row  # releases stock reservations: checkout's locks, not held for the batch
    @admin.action(description=_("Cancel selected unpaid orders (with a reason)"), permissions=["change"])
    def cancel_orders(self, request, queryset):
        if "apply" in request.POST:
            form = CancelForm(request.POST)
            if form.is_valid():
                done = 0
                for order in queryset:
                    try:
                        services.order_cancel(
                            order_id=order.pk,
                            actor=request.user,
                            actor_kind="staff",
                            reason=form.cleaned_data["reason"],
                        )
                        done += 1
                    except OrderError as exc:
                        self.message_user(request, f"{order.number}: {exc.message}", messages.ERROR)
                if done:
                    self.message_user(request, _("%(n)d orders cancelled.") % {"n": done}, messages.SUCCESS)
                return None
        else:
            form = CancelForm()
        return render(
            request,
            "admin/orders/cancel.html",
            {**self.admin_site.each_context(request), "orders": queryset, "form": form, "title": _("Cancel orders")},
        )


@admin.register(models.OrderLine)
class DepartmentSalesAdmin(admin.ModelAdmin):
    """Department staff's sales: their own departments' order lines, read only, with the order's
    number, date and state but nothing about the customer (no name, address or phone). Other
    staff read lines on the order's page; the superuser sees every department's here."""

    list_display = ("order_number", "placed_at", "order_status", "sku", "product_name", "variant_label",
                    "unit_price", "quantity", "line_total")  # fmt: skip
    fields = list_display
    readonly_fields = list_display
    list_filter = ("order__status",)
    search_fields = ("sku", "product_name", "order__number")
    date_hierarchy = "order__placed_at"
    list_select_related = ("order",)
    show_full_result_count = False

    def _departments(self, request):
        return staff_department_ids(request.user)

    def _may(self, request) -> bool:
        return request.user.is_superuser or self._departments(request) is not None

    def has_module_permission(self, request) -> bool:
        return self._may(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._may(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        departments = self._departments(request)
        return queryset if departments is None else queryset.filter(department_id_snapshot__in=departments)

    @admin.display(description=_("order"), ordering="order__number")
    def order_number(self, obj) -> str:
        return obj.order.number

    @admin.display(description=_("placed"), ordering="order__placed_at")
    def placed_at(self, obj):
        return obj.order.placed_at

    @admin.display(description=_("status"))
    def order_status(self, obj) -> str:
        return obj.order.get_status_display()


@admin.register(models.Coupon)
class CouponAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "kind",
        "value",
        "min_spend",
        "starts_at",
        "ends_at",
        "used_count",
        "usage_limit",
        "is_active",
    )
    list_filter = ("is_active", "kind")
    search_fields = ("code",)
    readonly_fields = ("used_count",)


class SalesBaselineForm(forms.ModelForm):
    class Meta:
        model = models.SalesBaseline
        fields = ("product", "units")
        help_texts = {
            "units": _(
                "Units this product sold before this shop counted its own orders (a former shop's history). "
                "Customers see it in the product's “sold” figure, which is updated when you save."
            )
        }

    def clean_units(self):
        units = self.cleaned_data["units"]
        if units is not None and units > SALES_BASELINE_MAX:
            raise forms.ValidationError(_("At most %(max)d units."), params={"max": SALES_BASELINE_MAX})
        return units


@admin.register(models.SalesBaseline)
class SalesBaselineAdmin(PermittedImportExportAdmin):
    """A product's sales before this shop (added to its 已售): catalogue managers keep it (the
    former shop's history comes with its products), never department staff, whose products it
    would rank; each change is in the admin log, and the product's count follows at once."""

    form = SalesBaselineForm
    resource_classes = [SalesBaselineResource]  # a former shop's history, product slug and units
    list_display = ("product", "units", "sales_count")
    list_select_related = ("product",)
    search_fields = ("product__name", "product__name_en")
    raw_id_fields = ("product",)

    @admin.display(description=_("sold (shown)"))
    def sales_count(self, obj) -> int:
        return obj.product.sales_count

    def get_readonly_fields(self, request, obj=None):
        return ("product",) if obj is not None else ()  # the row is the product's: never moved to another

    def save_model(self, request, obj, form, change) -> None:
        sales_baseline_set(units={obj.product_id: obj.units}, recount=True)

    def delete_model(self, request, obj) -> None:
        sales_baseline_clear(product_ids=[obj.product_id])

    def delete_queryset(self, request, queryset) -> None:
        sales_baseline_clear(product_ids=list(queryset.values_list("product_id", flat=True)))


@admin.register(models.Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("kind", "to", "state", "attempts", "created_at", "sent_at")
    list_filter = ("state", "kind")
    search_fields = ("to", "key")
    readonly_fields = [f.name for f in models.Notification._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


class CustomerOrderInline(ReadOnlyInline):
    """A customer's orders on their admin page (用户信息管理), newest first."""

    model = models.Order
    fk_name = "customer"
    fields = ("link", "status", "total", "payment_method", "placed_at")
    ordering = ("-placed_at",)
    verbose_name_plural = _("orders")

    @admin.display(description=_("order"))
    def link(self, obj) -> str:
        return format_html('<a href="{}">{}</a>', reverse("admin:orders_order_change", args=[obj.pk]), obj.number)


def customer_orders_link(request, customer):
    if not request.user.has_perm("orders.view_order"):
        return None
    return _("Orders"), reverse("admin:orders_order_changelist") + f"?customer__id__exact={customer.pk}"


# On shop's customer admin (用户信息管理): their orders, and a link to the order list filtered to them.
contribute(get_user_model(), inlines=[CustomerOrderInline], links=[customer_orders_link])
