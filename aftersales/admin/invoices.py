"""Finance's invoice list: filter by state, kind and date, issue requested invoices (an action,
or the button on an invoice's page), download the PDF. Nothing is edited: an invoice is the
customer's request until issued, and unchangeable after (aftersales.services.invoices)."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from aftersales.exceptions import InvoiceError
from aftersales.models import Invoice, InvoiceLine
from aftersales.services import invoices as invoice_services
from aftersales.services.invoice_pdf import invoice_document
from shop.core.admin import ReadOnlyInline

ISSUE = "aftersales.issue_invoice"


class InvoiceLineInline(ReadOnlyInline):
    model = InvoiceLine
    fields = ("name", "options", "quantity", "amount")


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "order_link",
        "kind",
        "state",
        "title_type",
        "title",
        "amount",
        "requested_at",
        "issued_at",
    )
    list_filter = ("state", "kind", "title_type", ("issued_at", admin.DateFieldListFilter))
    search_fields = ("number", "order__number", "title", "taxpayer_id", "email")
    list_select_related = ("order",)
    date_hierarchy = "requested_at"
    fields = (
        "number", "kind", "state", "order_link", "title_type", "title", "taxpayer_id", "email", "amount",
        "original", "refund_note", "requested_at", "issued_at", "issued_by",
    )  # fmt: skip
    readonly_fields = fields
    inlines = [InvoiceLineInline]
    actions = ["issue_selected"]
    change_form_template = "admin/aftersales/invoice/change_form.html"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_issue_permission(self, request) -> bool:
        return request.user.has_perm(ISSUE)

    @admin.display(description=_("order"), ordering="order__number")
    def order_link(self, obj) -> str:
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:orders_order_change", args=[obj.order_id]), obj.order.number
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/issue/", view(self.issue_view), name="aftersales_invoice_issue"),
            path("<int:pk>/pdf/", view(self.pdf_view), name="aftersales_invoice_pdf"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra = {
            "may_issue": bool(obj and obj.state == Invoice.State.REQUESTED and self.has_issue_permission(request)),
            "issued": bool(obj and obj.state == Invoice.State.ISSUED),
        }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def issue_view(self, request, pk: int):
        """POST: issue (the button on the invoice's page). GET: back to that page."""
        if not self.has_issue_permission(request):
            raise PermissionDenied
        invoice = get_object_or_404(Invoice, pk=pk)
        if request.method == "POST":
            self._issue(request, [invoice.pk])
        return HttpResponseRedirect(reverse("admin:aftersales_invoice_change", args=[invoice.pk]))

    def pdf_view(self, request, pk: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        invoice = get_object_or_404(
            Invoice.objects.select_related("order", "original", "refund_note"), pk=pk, state=Invoice.State.ISSUED
        )
        response = HttpResponse(invoice_document(invoice), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{invoice.number}.pdf"'
        return response

    @admin.action(description=_("Issue the selected invoices"), permissions=["issue"])
    def issue_selected(self, request, queryset):
        self._issue(
            request, list(queryset.filter(state=Invoice.State.REQUESTED).order_by("pk").values_list("pk", flat=True))
        )

    def _issue(self, request, ids: list[int]) -> None:
        issued = 0
        for invoice_id in ids:
            try:
                invoice_services.invoice_issue(invoice_id=invoice_id, actor=request.user)
            except InvoiceError as exc:
                order = Invoice.objects.values_list("order__number", flat=True).get(pk=invoice_id)
                self.message_user(request, f"{order}: {exc.message}", messages.ERROR)
            else:
                issued += 1
        if issued:
            self.message_user(
                request,
                ngettext("%(n)d invoice issued and emailed.", "%(n)d invoices issued and emailed.", issued)
                % {"n": issued},
                messages.SUCCESS,
            )
