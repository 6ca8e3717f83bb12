"""Finance's settlement pages: the statements with each month's reconciliation, a statement's
lines, its PDF and XLSX, adjustments on a draft, confirming, marking paid, and running a month
(the same service as `manage.py settle_month`). Department staff see their own department's
statements, read only. Nothing here computes money: aftersales.services.settlement does."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from aftersales.exceptions import SettlementError
from aftersales.models import SettlementRun, Statement, StatementAdjustment, StatementLine
from aftersales.services import settlement as services
from aftersales.services.statement_documents import statement_filename, statement_pdf, statement_xlsx
from catalog.selectors import staff_department_ids
from shop.adminlog import admin_log_record
from shop.core.admin import ReadOnlyInline

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MANAGE = "aftersales.change_statement"  # finance: adjust, confirm, mark paid, run a month


class AdjustmentInline(ReadOnlyInline):
    model = StatementAdjustment
    fields = ("amount", "reason", "created_by", "created_at")


class AdjustForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount"), max_digits=12, decimal_places=2,
                                help_text=_("Positive: owed to the department; negative: owed by it."))  # fmt: skip
    reason = forms.CharField(label=_("Reason"), max_length=200)


class PayForm(forms.Form):
    transfer_reference = forms.CharField(label=_("Transfer reference"), max_length=60)
    paid_on = forms.DateField(label=_("Paid on"), widget=forms.DateInput(attrs={"type": "date"}))


class RunForm(forms.Form):
    month = forms.CharField(label=_("Month"), max_length=7, help_text=_("YYYY-MM"))
    dry_run = forms.BooleanField(label=_("Dry run: compute and show, write nothing"), required=False)

    def clean_month(self):
        try:
            return services.month_parse(self.cleaned_data["month"])
        except SettlementError as exc:
            raise forms.ValidationError(exc.message) from exc


@admin.register(Statement)
class StatementAdmin(admin.ModelAdmin):
    list_display = ("number", "department", "month_label", "state", "line_count", "goods", "refunds", "commission",
                    "adjustments", "payable", "paid_on")  # fmt: skip
    list_filter = ("state", "month", "department")
    search_fields = ("number", "department__name", "transfer_reference")
    list_select_related = ("department",)
    fields = ("number", "department", "month_label", "state", "line_count", "goods", "refunds", "commission",
              "adjustments", "payable", "run", "created_at", "updated_at", "confirmed_at", "confirmed_by",
              "paid_on", "transfer_reference", "paid_by")  # fmt: skip
    readonly_fields = fields
    inlines = [AdjustmentInline]
    change_list_template = "admin/aftersales/statement/change_list.html"
    change_form_template = "admin/aftersales/statement/change_form.html"

    @admin.display(description=_("month"), ordering="month")
    def month_label(self, obj) -> str:
        return f"{obj.month:%Y-%m}"

    # -- who sees what ---------------------------------------------------------------------------

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        departments = staff_department_ids(request.user)
        return queryset if departments is None else queryset.filter(department_id__in=departments)

    def has_add_permission(self, request) -> bool:
        return False  # statements are made by runs

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a statement is a record; a draft is rewritten by the next run

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # every change is a step below, through the service

    def may_manage(self, request) -> bool:
        return request.user.has_perm(MANAGE) and staff_department_ids(request.user) is None

    # -- pages -------------------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("run/", view(self.run_view), name="aftersales_statement_run"),
            path("<int:pk>/lines/", view(self.lines_view), name="aftersales_statement_lines"),
            path("<int:pk>/pdf/", view(self.pdf_view), name="aftersales_statement_pdf"),
            path("<int:pk>/xlsx/", view(self.xlsx_view), name="aftersales_statement_xlsx"),
            path("<int:pk>/adjust/", view(self.adjust_view), name="aftersales_statement_adjust"),
            path("<int:pk>/confirm/", view(self.confirm_view), name="aftersales_statement_confirm"),
            path("<int:pk>/pay/", view(self.pay_view), name="aftersales_statement_pay"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        runs = SettlementRun.objects.select_related("actor")[:6]
        extra = {"runs": runs, "may_run": self.may_manage(request)}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        statement = self.get_object(request, object_id)
        extra = {}
        if statement is not None:
            manage = self.may_manage(request)
            extra = {
                "may_adjust": manage and statement.state == Statement.State.DRAFT,
                "may_confirm": manage and statement.state == Statement.State.DRAFT,
                "may_pay": manage and statement.state == Statement.State.CONFIRMED,
            }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def _statement(self, request, pk: int) -> Statement:
        """The statement if this user may see it (another department's answers 404)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(self.get_queryset(request).select_related("department"), pk=pk)

    def _managed(self, request, pk: int) -> Statement:
        statement = self._statement(request, pk)
        if not self.may_manage(request):
            raise PermissionDenied
        return statement

    def _back(self, statement: Statement):
        return HttpResponseRedirect(reverse("admin:aftersales_statement_change", args=[statement.pk]))

    def lines_view(self, request, pk: int):
        statement = self._statement(request, pk)
        page = Paginator(statement.lines.order_by("kind", "completed_at", "pk"), 100).get_page(request.GET.get("page"))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Lines of %(number)s") % {"number": statement.number},
            "statement": statement,
            "page": page,
            "opts": self.opts,
            "sale": StatementLine.Kind.SALE,
        }
        return TemplateResponse(request, "admin/aftersales/statement/lines.html", context)

    def pdf_view(self, request, pk: int):
        statement = self._statement(request, pk)
        response = HttpResponse(statement_pdf(statement), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{statement_filename(statement, "pdf")}"'
        return response

    def xlsx_view(self, request, pk: int):
        statement = self._statement(request, pk)
        response = HttpResponse(statement_xlsx(statement), content_type=XLSX)
        response["Content-Disposition"] = f'attachment; filename="{statement_filename(statement, "xlsx")}"'
        return response

    def _form_page(self, request, statement, form, title: str):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "statement": statement,
            "form": form,
            "opts": self.opts,
            "change_url": reverse("admin:aftersales_statement_change", args=[statement.pk]),
        }
        return TemplateResponse(request, "admin/aftersales/statement/form.html", context)

    def _form_step(self, request, statement, form, *, title: str, step, done: str):
        """A finance step with a form (adjust, mark paid): on a valid POST, `step(cleaned_data)`
        calls the service; its refusal is shown on the form, and nothing is written."""
        if request.method == "POST" and form.is_valid():
            try:
                step(form.cleaned_data)
            except SettlementError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, done, messages.SUCCESS)
                return self._back(statement)
        return self._form_page(request, statement, form, title)

    def adjust_view(self, request, pk: int):
        statement = self._managed(request, pk)
        return self._form_step(
            request, statement, AdjustForm(request.POST or None),
            title=_("Adjust %(number)s") % {"number": statement.number},
            step=lambda data: services.statement_adjust(
                statement_id=statement.pk, amount=data["amount"], reason=data["reason"], actor=request.user
            ),
            done=_("Adjustment recorded."),
        )  # fmt: skip

    def confirm_view(self, request, pk: int):
        statement = self._managed(request, pk)
        if request.method != "POST":
            return self._back(statement)
        try:
            services.statement_confirm(statement_id=statement.pk, actor=request.user)
        except SettlementError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(
                request, _("Statement confirmed; the department's contact is mailed its documents."), messages.SUCCESS
            )
        return self._back(statement)

    def pay_view(self, request, pk: int):
        statement = self._managed(request, pk)
        return self._form_step(
            request, statement, PayForm(request.POST or None, initial={"paid_on": timezone.localdate()}),
            title=_("Mark %(number)s paid") % {"number": statement.number},
            step=lambda data: services.statement_mark_paid(
                statement_id=statement.pk, reference=data["transfer_reference"], paid_on=data["paid_on"],
                actor=request.user,
            ),
            done=_("Statement marked paid."),
        )  # fmt: skip

    def run_view(self, request):
        if not self.may_manage(request):
            raise PermissionDenied
        form = RunForm(request.POST or None, initial={"month": f"{services.month_previous():%Y-%m}"})
        outcome = None
        if request.method == "POST" and form.is_valid():
            try:
                outcome = services.settle_month(
                    month=form.cleaned_data["month"], dry_run=form.cleaned_data["dry_run"], actor=request.user
                )
            except SettlementError as exc:
                form.add_error(None, exc.message)
            else:
                if not outcome.dry_run:
                    # A page on no single object: the run (its figures) is what the log shows.
                    admin_log_record(request=request, action="run", obj=outcome.run, before=None, after=outcome.run)
                    self.message_user(
                        request,
                        _("%(month)s settled: %(count)d statements.")
                        % {"month": f"{outcome.month:%Y-%m}", "count": len(outcome.statements)},
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(
                        reverse("admin:aftersales_statement_changelist") + f"?month={outcome.month:%Y-%m-%d}"
                    )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Run a month's settlement"),
            "form": form,
            "outcome": outcome,
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/aftersales/statement/run.html", context)


@admin.register(SettlementRun)
class SettlementRunAdmin(admin.ModelAdmin):
    list_display = ("month", "started_at", "actor", "outcome", "sale_lines", "clawback_lines", "goods", "refunds",
                    "commission", "payable", "shipping_fees", "insurance_fees")  # fmt: skip
    list_filter = ("outcome", "month")
    readonly_fields = [f.name for f in SettlementRun._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        # The whole shop's figures: finance, not a department.
        return super().has_view_permission(request, obj) and staff_department_ids(request.user) is None
