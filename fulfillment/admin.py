"""Fulfillment in the admin: warehouses, stock and its movement history, shipments (pick list,
packing slip and delivery note, pack, ship, tracking events, re-route), purchase orders and
receiving. Stock also appears inline on the product page, shipments on the order page.

Views here parse input and call fulfillment.services; every rule lives there."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, DecimalField, F, Q, Sum
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from catalog.models import Product
from fulfillment import models, pdf, services
from fulfillment.carriers import CarrierError, carriers_available
from fulfillment.exceptions import FulfillmentError, FulfillmentErrorCode
from fulfillment.resources import StockResource
from orders.models import Order
from shop.adminlog import admin_action_row_by_row
from shop.core.admin import PermittedImportExportAdmin, ProductVariantsOnlyMixin, ReadOnlyInline
from shop.core.admin_site import contribute
from shop.core.money import money
from shop.core.text import parse_whole_number


class StockForm(forms.ModelForm):
    """Staff count stock: they set on-hand units; `reserved` belongs to orders.

    An existing row keeps its variant and warehouse (moving a row would move its
    reservations), and it is saved through `stock_set_on_hand`, which locks the row and
    writes on_hand only, so a reservation made while the page was open is never lost."""

    class Meta:
        model = models.Stock
        fields = ("variant", "warehouse", "location", "on_hand")

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


def _stock_save(stock: models.Stock, actor=None) -> models.Stock:
    """Save an admin-edited stock row through the service (which records the count as a
    movement); copy back what it stored."""
    saved = services.stock_set_on_hand(
        warehouse_id=stock.warehouse_id, variant_id=stock.variant_id, on_hand=stock.on_hand, actor=actor
    )
    stock.pk, stock.product_id, stock.reserved = saved.pk, saved.product_id, saved.reserved
    services.stock_locate(warehouse_id=stock.warehouse_id, variant_id=stock.variant_id, location=stock.location)
    return stock


@admin.register(models.Warehouse)
class WarehouseAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "province", "city", "to_pack", "pick_list_link", "is_active")
    list_filter = ("is_active", "province")
    search_fields = ("code", "name", "city")
    fields = (
        "code", ("name", "name_en"), "province", ("city", "city_en"), "address", "phone", "latitude", "longitude",
        "is_active",
    )  # fmt: skip

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(_to_pack=Count("shipments", filter=Q(shipments__status=models.Shipment.Status.PENDING)))
        )

    actions = ("mail_low_stock_digest",)

    @admin.action(description=_("Mail today's low-stock digest to warehouse staff now"), permissions=["view"])
    def mail_low_stock_digest(self, request, queryset):
        sent = services.low_stock_digest_queue()
        message = ngettext("%(n)d digest mailed.", "%(n)d digests mailed.", sent) % {"n": sent}
        self.message_user(request, message if sent else _("Nothing is low: no digest to mail."))

    @admin.display(description=_("parcels to pack"), ordering="_to_pack")
    def to_pack(self, obj) -> int:
        return obj._to_pack

    @admin.display(description=_("pick list"))
    def pick_list_link(self, obj) -> str:
        url = reverse("admin:fulfillment_shipment_pick_list") + f"?warehouse={obj.pk}"
        return format_html('<a href="{}" target="_blank">{}</a>', url, _("Print pick list"))


class LowStockFilter(admin.SimpleListFilter):
    """What the daily low-stock digest lists: available at or under the variant's threshold."""

    title = _("stock level")
    parameter_name = "level"

    def lookups(self, request, model_admin):
        return [("low", _("Low (at or under the threshold)"))]

    def queryset(self, request, queryset):
        if self.value() == "low":
            return queryset.filter(on_hand__lte=F("reserved") + F("variant__low_stock_threshold"))
        return queryset


@admin.register(models.Stock)
class StockAdmin(PermittedImportExportAdmin):
    resource_classes = [StockResource]
    form = StockForm
    list_display = ("variant", "product", "warehouse", "location", "on_hand", "reserved", "available", "history")
    list_filter = (LowStockFilter, "warehouse")
    list_select_related = ("variant", "product", "warehouse")
    search_fields = ("variant__sku", "product__name", "location")
    autocomplete_fields = ("variant",)
    readonly_fields = ("reserved",)
    show_full_result_count = False

    @admin.display(description=_("available"))
    def available(self, obj: models.Stock) -> int:
        return obj.available

    def save_model(self, request, obj, form, change) -> None:
        _stock_save(obj, actor=request.user)  # also refreshes the product's in-stock flag

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a row keeps its movement history; count it to zero instead

    @admin.display(description=_("history"))
    def history(self, obj) -> str:
        url = reverse("admin:fulfillment_stockmovement_changelist") + f"?stock__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("Movements"))


class StockInline(ProductVariantsOnlyMixin, admin.TabularInline):
    model = models.Stock
    form = StockForm
    extra = 0
    can_delete = False  # a row keeps its movement history; count it to zero instead
    fields = ("variant", "warehouse", "location", "on_hand", "reserved")
    readonly_fields = ("reserved",)


class ProductStockMixin:
    """Contributed to catalog's ProductAdmin: stock rows are saved through the stock rules, and
    a product's in-stock flag follows its saved or imported variants and stock."""

    def save_formset(self, request, form, formset, change) -> None:
        if formset.model is not models.Stock:
            super().save_formset(request, form, formset, change)
            return
        for stock in formset.save(commit=False):
            _stock_save(stock, actor=request.user)

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


contribute(Product, inlines=[StockInline], mixins=[ProductStockMixin])


def admin_page(model_admin, request, template: str, title: str, **context):
    """An intermediate or form page inside the admin's frame (menu, breadcrumbs, title)."""
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.model._meta,
        **context,
    }
    return render(request, template, context)


def for_each(model_admin, request, objects, call, done_message) -> None:
    """An admin action's loop: call for each object, report each refusal (FulfillmentError) by
    its message, then how many were done (done_message(n) is the translated sentence)."""
    done = 0
    for obj in objects:
        try:
            call(obj)
            done += 1
        except FulfillmentError as exc:
            model_admin.message_user(request, exc.message, messages.ERROR)
    if done:
        model_admin.message_user(request, done_message(done) % {"n": done}, messages.SUCCESS)


# -- stock movements ----------------------------------------------------------------------------


@admin.register(models.StockMovement)
class StockMovementAdmin(admin.ModelAdmin):
    """The history of every stock change; nobody edits it."""

    list_display = (
        "created_at", "warehouse", "variant", "reason", "on_hand_delta", "reserved_delta", "on_hand_after",
        "reserved_after", "reference", "actor",
    )  # fmt: skip
    list_filter = ("reason", "warehouse", ("created_at", admin.DateFieldListFilter))
    search_fields = ("variant__sku", "reference")
    list_select_related = ("warehouse", "variant", "actor")
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# -- shipments -------------------------------------------------------------------------------


class ShipmentLineInline(ReadOnlyInline):
    """What is in the box: a replacement parcel's line shows the variant it carries, not the one
    of the order line it replaces."""

    model = models.ShipmentLine
    fields = ("sku", "product", "options", "quantity")

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("order_line", "reservation__variant__product")
            .prefetch_related("reservation__variant__options")
        )

    @staticmethod
    def _item(obj):
        variant = obj.reservation.variant
        if variant.pk == obj.order_line.variant_id:
            return obj.order_line.sku, obj.order_line.product_name, obj.order_line.variant_label
        return variant.sku, variant.product.name, " / ".join(o.value for o in variant.options.all())

    @admin.display(description=_("SKU"))
    def sku(self, obj) -> str:
        return self._item(obj)[0]

    @admin.display(description=_("product"))
    def product(self, obj) -> str:
        return self._item(obj)[1]

    @admin.display(description=_("options"))
    def options(self, obj) -> str:
        return self._item(obj)[2]


class TrackingEventInline(ReadOnlyInline):
    model = models.TrackingEvent
    fields = ("occurred_at", "kind", "location", "description", "recorded_by")


def carrier_choices() -> list[tuple[str, str]]:
    """The carriers this deployment is configured for (no express without its API settings)."""
    available = carriers_available()
    return [(code, label) for code, label in models.Shipment.Carrier.choices if code in available]


class ShipForm(forms.Form):
    carrier = forms.ChoiceField(label=_("Carrier"), choices=carrier_choices)


class RecordEventForm(forms.Form):
    kind = forms.ChoiceField(label=_("Event"), choices=models.TrackingEvent.Kind.choices)
    location = forms.CharField(label=_("Location"), max_length=100, required=False)
    description = forms.CharField(label=_("Description"), max_length=300, required=False)
    signed_by = forms.CharField(label=_("Signed by"), max_length=60, required=False)
    cod_collected = forms.DecimalField(
        label=_("Cash collected"), max_digits=12, decimal_places=2, min_value=0, required=False
    )

    def __init__(self, *args, may_collect_cash: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not may_collect_cash:
            del self.fields["cod_collected"]  # recording cash captures a payment: finance's call


class RerouteForm(forms.Form):
    warehouse = forms.ModelChoiceField(
        label=_("Ship from"),
        queryset=models.Warehouse.objects.filter(is_active=True),
        required=False,
        empty_label=_("Nearest warehouse with stock (automatic)"),
    )


@admin.register(models.Shipment)
class ShipmentAdmin(admin.ModelAdmin):
    list_display = (
        "number", "order_link", "kind", "warehouse", "status", "carrier", "tracking_number", "insured_value",
        "cod_amount", "created_at", "shipped_at", "delivered_at",
    )  # fmt: skip
    list_filter = ("status", "kind", "warehouse", "carrier", ("created_at", admin.DateFieldListFilter))
    search_fields = ("number", "order__number", "tracking_number", "order__recipient", "order__phone")
    list_select_related = ("order", "warehouse")
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = [ShipmentLineInline, TrackingEventInline]
    actions = ("mark_packed", "ship", "print_pick_list", "reroute", "poll_now")
    readonly_fields = (
        "number", "order_link", "kind", "warehouse", "status", "carrier", "tracking_number", "insurance", "cod_amount",
        "cod_collected", "signed_by", "created_at", "packed_at", "shipped_at", "delivered_at", "shipped_by",
        "documents", "poll_failures", "last_poll_error", "next_poll_at",
    )  # fmt: skip
    fieldsets = (
        (None, {"fields": ("number", "order_link", "kind", "warehouse", "status", "documents")}),
        (_("Carrier"), {"fields": ("carrier", "tracking_number", "insurance", "cod_amount", "cod_collected")}),
        (
            _("Progress"),
            {"fields": ("created_at", "packed_at", "shipped_at", "shipped_by", "delivered_at", "signed_by")},
        ),
        (_("Tracking"), {"fields": ("next_poll_at", "poll_failures", "last_poll_error"), "classes": ("collapse",)}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(goods_value=services.goods_value())

    def has_add_permission(self, request) -> bool:
        return False  # parcels come from paid orders

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("order"), ordering="order__number")
    def order_link(self, obj) -> str:
        url = reverse("admin:orders_order_change", args=[obj.order_id])
        return format_html('<a href="{}">{}</a>', url, obj.order.number)

    @admin.display(description=_("insured for"))
    def insured_value(self, obj):
        return services.shipment_insured_value(obj) if obj.order.insured else "—"

    @admin.display(description=_("shipping insurance"))
    def insurance(self, obj) -> str:
        if not obj.order.insured:
            return _("Not insured")
        return _("Insured for %(value)s (fee %(fee)s paid on the order)") % {
            "value": services.shipment_insured_value(obj),
            "fee": obj.order.insurance_fee,
        }

    @admin.display(description=_("documents"))
    def documents(self, obj) -> str:
        links, templates = [], []
        if obj.kind != models.Shipment.Kind.RETURN:  # the customer packed it: nothing to print
            links = [
                (reverse("admin:fulfillment_shipment_packing_slip", args=[obj.pk]), _("Packing slip")),
                (reverse("admin:fulfillment_shipment_packing_slip", args=[obj.pk]) + "?format=pdf", "PDF"),
                (reverse("admin:fulfillment_shipment_delivery_note", args=[obj.pk]), _("Delivery note")),
                (reverse("admin:fulfillment_shipment_delivery_note", args=[obj.pk]) + "?format=pdf", "PDF"),
            ]
            templates = ['<a href="{}" target="_blank">{}</a>'] * 4
        if obj.carrier == models.Shipment.Carrier.OWN_FLEET:  # other carriers report their own events
            links.append(
                (reverse("admin:fulfillment_shipment_record_event", args=[obj.pk]), _("Record a tracking event"))
            )
            templates.append('<a href="{}">{}</a>')
        if not links:
            return "—"
        return format_html(" · ".join(templates), *[x for pair in links for x in pair])

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("pick-list/", view(self.pick_list_view), name="fulfillment_shipment_pick_list"),
            path("<int:pk>/packing-slip/", view(self.packing_slip_view), name="fulfillment_shipment_packing_slip"),
            path("<int:pk>/delivery-note/", view(self.delivery_note_view), name="fulfillment_shipment_delivery_note"),
            path("<int:pk>/record-event/", view(self.record_event_view), name="fulfillment_shipment_record_event"),
            *super().get_urls(),
        ]

    # -- printing ------------------------------------------------------------------------

    def pick_list_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        warehouse = get_object_or_404(models.Warehouse, pk=parse_whole_number(request.GET.get("warehouse")) or 0)
        ids = [n for n in map(parse_whole_number, request.GET.getlist("shipment")) if n is not None] or None
        rows = services.pick_list(warehouse_id=warehouse.pk, shipment_ids=ids)
        parcels = models.Shipment.objects.filter(warehouse=warehouse, status=models.Shipment.Status.PENDING)
        if ids:
            parcels = parcels.filter(pk__in=ids)
        context = {
            "warehouse": warehouse,
            "rows": rows,
            "parcels": parcels.select_related("order"),
            "units": sum(r["units"] for r in rows),
            "now": timezone.now(),
            "pdf_query": request.GET.copy(),
        }
        context["pdf_query"]["format"] = "pdf"
        if request.GET.get("format") == "pdf":
            body = pdf.pick_list_document(context)
            response = HttpResponse(body, content_type="application/pdf")
            response["Content-Disposition"] = f'inline; filename="pick-list-{warehouse.code}.pdf"'
            return response
        return render(request, "fulfillment/print/pick_list.html", context)

    def _document(self, request, pk: int, kind: str):
        if not self.has_view_permission(request):
            raise PermissionDenied
        shipment = get_object_or_404(models.Shipment.objects.select_related("order", "warehouse"), pk=pk)
        if shipment.kind == models.Shipment.Kind.RETURN:
            raise Http404("a return parcel has no packing slip or delivery note")
        lines = services.shipment_lines_described(shipment=shipment)
        context = {
            "shipment": shipment,
            "order": shipment.order,
            "lines": lines,
            "units": sum(line.quantity for line in lines),
            "insured_value": services.shipment_insured_value(shipment),
            "now": timezone.now(),
        }
        if request.GET.get("format") == "pdf":
            body = pdf.shipment_document(kind, context)
            response = HttpResponse(body, content_type="application/pdf")
            response["Content-Disposition"] = f'inline; filename="{shipment.number}-{kind}.pdf"'
            return response
        return render(request, f"fulfillment/print/{kind}.html", context)

    def packing_slip_view(self, request, pk: int):
        return self._document(request, pk, "packing_slip")

    def delivery_note_view(self, request, pk: int):
        return self._document(request, pk, "delivery_note")

    # -- tracking events recorded by staff (own fleet) -----------------------------------------

    def record_event_view(self, request, pk: int):
        shipment = get_object_or_404(models.Shipment, pk=pk)
        if not self.has_change_permission(request, shipment):
            raise PermissionDenied
        if shipment.carrier and shipment.carrier != models.Shipment.Carrier.OWN_FLEET:
            # The carrier reports this parcel's events; nothing is entered by hand.
            error = FulfillmentError(FulfillmentErrorCode.NOT_OWN_FLEET, number=shipment.number)
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:fulfillment_shipment_change", args=[shipment.pk]))
        may_collect_cash = request.user.has_perm(services.CASH_PERMISSION)
        form = RecordEventForm(request.POST or None, may_collect_cash=may_collect_cash)
        if request.method == "POST" and form.is_valid():
            try:
                if form.cleaned_data["kind"] == models.TrackingEvent.Kind.DELIVERED and (
                    shipment.cod_amount and not may_collect_cash
                ):
                    raise FulfillmentError(FulfillmentErrorCode.CASH_NOT_ALLOWED, number=shipment.number)
                services.shipment_record_event(shipment_id=shipment.pk, actor=request.user, **form.cleaned_data)
            except FulfillmentError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, _("Event recorded for %(n)s.") % {"n": shipment.number}, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:fulfillment_shipment_change", args=[shipment.pk]))
        return admin_page(
            self,
            request,
            "admin/fulfillment/record_event.html",
            _("Record a tracking event for %(n)s") % {"n": shipment.number},
            shipment=shipment,
            form=form,
        )

    # -- actions ------------------------------------------------------------------------------

    def _without_returns(self, request, queryset):
        """Return parcels travel from the customer: the warehouse neither packs nor ships them."""
        returns = queryset.filter(kind=models.Shipment.Kind.RETURN).count()
        if returns:
            message = ngettext(
                "%(n)d return parcel skipped: returns are sent by the customer, not packed or shipped here.",
                "%(n)d return parcels skipped: returns are sent by the customer, not packed or shipped here.",
                returns,
            )
            self.message_user(request, message % {"n": returns}, messages.WARNING)
        return queryset.exclude(kind=models.Shipment.Kind.RETURN)

    @admin.action(description=_("Mark selected parcels packed"), permissions=["change"])
    def mark_packed(self, request, queryset):
        for_each(
            self,
            request,
            self._without_returns(request, queryset),
            lambda s: services.shipment_pack(shipment_id=s.pk, actor=request.user),
            lambda n: ngettext("%(n)d parcel packed.", "%(n)d parcels packed.", n),
        )

    @admin_action_row_by_row  # the express carrier makes the waybills: no transaction held meanwhile
    @admin.action(description=_("Ship selected parcels (carrier and tracking numbers)"), permissions=["change"])
    def ship(self, request, queryset):
        parcels = list(
            queryset.exclude(kind=models.Shipment.Kind.RETURN).select_related("order", "warehouse").order_by("number")
        )
        if not parcels:
            self._without_returns(request, queryset)
            return None
        if "apply" not in request.POST:
            self._without_returns(request, queryset)
        form = ShipForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            carrier = form.cleaned_data["carrier"]
            for_each(
                self,
                request,
                parcels,
                lambda s: services.shipment_ship(
                    shipment_id=s.pk,
                    carrier=carrier,
                    tracking_number=request.POST.get(f"tracking-{s.pk}", ""),
                    actor=request.user,
                ),
                lambda n: ngettext("%(n)d parcel shipped.", "%(n)d parcels shipped.", n),
            )
            return None
        return admin_page(self, request, "admin/fulfillment/ship.html", _("Ship parcels"), parcels=parcels, form=form)

    @admin.action(description=_("Print the pick list of selected parcels"), permissions=["view"])
    def print_pick_list(self, request, queryset):
        warehouses = set(queryset.values_list("warehouse_id", flat=True))
        if len(warehouses) != 1:
            self.message_user(request, _("Select parcels of one warehouse for a pick list."), messages.ERROR)
            return None
        query = "&".join(f"shipment={pk}" for pk in queryset.values_list("pk", flat=True))
        url = reverse("admin:fulfillment_shipment_pick_list") + f"?warehouse={warehouses.pop()}&{query}"
        return HttpResponseRedirect(url)

    @admin_action_row_by_row  # asks the carrier, parcel by parcel
    @admin.action(description=_("Refresh tracking from the carrier now"), permissions=["change"])
    def poll_now(self, request, queryset):
        new = 0
        for shipment in queryset.filter(status__in=models.Shipment.TRACKED):
            try:
                new += services.shipment_poll(shipment_id=shipment.pk)
            except CarrierError as exc:
                self.message_user(request, f"{shipment.number}: {exc}", messages.WARNING)
        self.message_user(
            request, ngettext("%(n)d new tracking event.", "%(n)d new tracking events.", new) % {"n": new}
        )

    @admin_action_row_by_row  # moves stock reservations: checkout's locks, not held for the batch
    @admin.action(description=_("Re-route the orders of selected parcels"), permissions=["change"])
    def reroute(self, request, queryset):
        order_ids = sorted(set(queryset.values_list("order_id", flat=True)))
        form = RerouteForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            warehouse = form.cleaned_data["warehouse"]
            done = 0
            for order_id in order_ids:
                try:
                    services.order_reroute(
                        order_id=order_id, warehouse_id=warehouse.pk if warehouse else None, actor=request.user
                    )
                    done += 1
                except FulfillmentError as exc:
                    self.message_user(request, exc.message, messages.ERROR)
            if done:
                message = ngettext("%(n)d order re-routed.", "%(n)d orders re-routed.", done)
                self.message_user(request, message % {"n": done}, messages.SUCCESS)
            return None
        return admin_page(
            self,
            request,
            "admin/fulfillment/reroute.html",
            _("Re-route orders"),
            parcels=queryset.select_related("order", "warehouse"),
            form=form,
        )


class OrderShipmentInline(ReadOnlyInline):
    model = models.Shipment
    fields = ("link", "kind", "warehouse", "status", "carrier", "tracking_number", "shipped_at", "delivered_at")
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("warehouse")

    @admin.display(description=_("shipment"))
    def link(self, obj) -> str:
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:fulfillment_shipment_change", args=[obj.pk]), obj.number
        )


contribute(Order, inlines=[OrderShipmentInline])


# -- purchase orders ------------------------------------------------------------------------------


class PurchaseOrderLineInline(admin.TabularInline):
    model = models.PurchaseOrderLine
    fields = ("variant", "quantity", "unit_cost", "received_quantity", "line_cost")
    readonly_fields = ("received_quantity", "line_cost")
    autocomplete_fields = ("variant",)
    extra = 1

    @admin.display(description=_("line cost"))
    def line_cost(self, obj) -> str:
        return obj.line_cost if obj.pk else "—"

    def has_add_permission(self, request, obj=None) -> bool:
        return super().has_add_permission(request, obj) and (obj is None or obj.is_editable)

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and (obj is None or obj.is_editable)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and (obj is None or obj.is_editable)


class ReceiveForm(forms.Form):
    """One field per line still awaiting goods: units received now."""

    def __init__(self, *args, lines, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lines = [line for line in lines if line.outstanding > 0]
        for line in self.lines:
            self.fields[f"line-{line.pk}"] = forms.IntegerField(
                label=f"{line.variant.sku}", min_value=0, max_value=line.outstanding, initial=0, required=False
            )
            # What the page showed as received: a second submit of the same delivery is refused.
            self.fields[f"seen-{line.pk}"] = forms.IntegerField(
                widget=forms.HiddenInput, initial=line.received_quantity, required=False
            )

    def rows(self):
        return [(line, self[f"line-{line.pk}"], self[f"seen-{line.pk}"]) for line in self.lines]

    def seen(self) -> dict[int, int]:
        return {
            line.pk: self.cleaned_data[f"seen-{line.pk}"]
            for line in self.lines
            if self.cleaned_data.get(f"seen-{line.pk}") is not None
        }

    def quantities(self) -> dict[int, int]:
        return {line.pk: self.cleaned_data.get(f"line-{line.pk}") or 0 for line in self.lines}


def placed_message(n: int) -> str:
    return ngettext("%(n)d purchase order placed.", "%(n)d purchase orders placed.", n)


def cancelled_message(n: int) -> str:
    return ngettext("%(n)d purchase order cancelled.", "%(n)d purchase orders cancelled.", n)


@admin.register(models.PurchaseOrder)
class PurchaseOrderAdmin(admin.ModelAdmin):
    list_display = ("number", "supplier", "warehouse", "status", "units", "received_units", "total_cost", "created_at")
    list_filter = ("status", "warehouse", "supplier")
    search_fields = ("number", "supplier__name", "lines__variant__sku")
    list_select_related = ("supplier", "warehouse")
    autocomplete_fields = ("supplier",)
    inlines = [PurchaseOrderLineInline]
    actions = ("place", "cancel")
    readonly_fields = ("number", "status", "created_by", "created_at", "ordered_at", "received_at", "receive_link")
    fields = (
        "number", "supplier", "warehouse", "expected_on", "note", "status", "receive_link", "created_by",
        "created_at", "ordered_at", "received_at",
    )  # fmt: skip

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _units=Sum("lines__quantity"),
                _received=Sum("lines__received_quantity"),
                _cost=Sum(F("lines__quantity") * F("lines__unit_cost"), output_field=DecimalField()),
            )
        )

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and not obj.is_editable:
            fields += ["supplier", "warehouse"]
        return fields

    @admin.display(description=_("units ordered"))
    def units(self, obj) -> int:
        return obj._units or 0

    @admin.display(description=_("units received"))
    def received_units(self, obj) -> int:
        return obj._received or 0

    @admin.display(description=_("total cost"))
    def total_cost(self, obj):
        return money(obj._cost or 0)

    @admin.display(description=_("receive goods"))
    def receive_link(self, obj) -> str:
        if obj.pk and obj.status in (models.PurchaseOrder.Status.ORDERED, models.PurchaseOrder.Status.PARTLY_RECEIVED):
            url = reverse("admin:fulfillment_purchaseorder_receive", args=[obj.pk])
            return format_html('<a class="button" href="{}">{}</a>', url, _("Receive goods"))
        return "—"

    def save_model(self, request, obj, form, change) -> None:
        if not obj.pk:
            obj.number = services.purchase_order_number_new()
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/receive/", view(self.receive_view), name="fulfillment_purchaseorder_receive"),
            *super().get_urls(),
        ]

    def receive_view(self, request, pk: int):
        if not request.user.has_perm("fulfillment.receive_purchaseorder"):
            raise PermissionDenied
        po = get_object_or_404(models.PurchaseOrder.objects.select_related("supplier", "warehouse"), pk=pk)
        lines = list(po.lines.select_related("variant", "variant__product"))
        form = ReceiveForm(request.POST or None, lines=lines)
        if request.method == "POST" and form.is_valid():
            try:
                services.purchase_order_receive(
                    po_id=po.pk, quantities=form.quantities(), seen=form.seen(), actor=request.user
                )
            except FulfillmentError as exc:
                if exc.code == FulfillmentErrorCode.PO_CHANGED:  # show the figures as they are now
                    self.message_user(request, exc.message, messages.ERROR)
                    return HttpResponseRedirect(request.path)
                form.add_error(None, exc.message)
            else:
                self.message_user(request, _("Goods received into %(w)s.") % {"w": po.warehouse}, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:fulfillment_purchaseorder_change", args=[po.pk]))
        receipts = models.StockMovement.objects.filter(reference=po.number, reason=models.StockMovement.Reason.RECEIVE)
        return admin_page(
            self,
            request,
            "admin/fulfillment/receive.html",
            _("Receive goods of %(n)s") % {"n": po.number},
            po=po,
            form=form,
            receipts=receipts.select_related("variant", "actor"),
        )

    @admin.action(description=_("Place selected drafts with the supplier"), permissions=["change"])
    def place(self, request, queryset):
        for_each(
            self, request, queryset, lambda po: services.purchase_order_place(po_id=po.pk, actor=request.user),
            placed_message,
        )  # fmt: skip

    @admin.action(description=_("Cancel selected purchase orders"), permissions=["change"])
    def cancel(self, request, queryset):
        for_each(
            self, request, queryset, lambda po: services.purchase_order_cancel(po_id=po.pk, actor=request.user),
            cancelled_message,
        )  # fmt: skip
