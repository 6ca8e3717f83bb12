"""The sales report (销售量查询) and the admin's first page (the dashboard).

The report is the admin page of the daily sales rollup (orders.models.DailySales, listed as
"Sales report"): its change list *is* the report, with CSV and XLSX exports. Who sees it: staff
with the rollup's view permission (finance) or a statement's, and superusers; department staff
only their own departments' figures (catalog.selectors.staff_department_ids).

The dashboard is given to the admin site's index through the site's hooks (shop.core.admin_site:
``index_template`` and ``index_context_providers``, set in AftersalesConfig.ready); each block is
computed only for staff allowed to see the model it summarises.
"""

import csv
from datetime import date, datetime, timedelta
from decimal import Decimal
from io import BytesIO
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from aftersales.selectors import dashboard as dashboard_selectors
from aftersales.selectors.reports import DEFAULT_SORT, SORTS, ReportQuery, sales_report
from catalog.models import Brand, Category, Department
from orders.models import DailySales
from shop.core.dbrouter import replica_status
from shop.core.money import format_money

MAX_DAYS = 366
PAGE_SIZE = 100


def report_departments(user) -> set[int] | None:
    """The departments whose figures `user` may see: None for all of them. Raises
    PermissionDenied for staff who may not see sales figures at all."""
    if not (user.is_active and user.is_staff):
        raise PermissionDenied
    if user.is_superuser:
        return None
    if not (user.has_perm("orders.view_dailysales") or user.has_perm("aftersales.view_statement")):
        raise PermissionDenied
    try:
        from catalog.selectors import staff_department_ids
    except ImportError:  # department staff arrive with the staff roles
        return None
    departments = staff_department_ids(user)
    return None if departments is None else set(departments)


def may_see_sales(user) -> bool:
    try:
        report_departments(user)
    except PermissionDenied:
        return False
    return True


# -- the report's form ---------------------------------------------------------------------------


class CategoryChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return "— " * (obj.depth - 1) + obj.name


def last_month(today: date) -> str:
    return f"{(today.replace(day=1) - timedelta(days=1)):%Y-%m}"


class SalesReportForm(forms.Form):
    month = forms.CharField(
        label=gettext_lazy("Month"), required=False, widget=forms.DateInput(attrs={"type": "month"})
    )
    start = forms.DateField(
        label=gettext_lazy("Start date"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label=gettext_lazy("End date"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    department = forms.ModelChoiceField(
        label=gettext_lazy("Department"), queryset=Department.objects.order_by("code"), required=False
    )
    category = CategoryChoice(
        label=gettext_lazy("Category (with its sub-categories)"),
        queryset=Category.objects.order_by("path"),
        required=False,
    )
    brand = forms.ModelChoiceField(label=gettext_lazy("Brand"), queryset=Brand.objects.order_by("name"), required=False)
    by = forms.ChoiceField(
        label=gettext_lazy("Rows"),
        choices=[("product", gettext_lazy("per product")), ("variant", gettext_lazy("per variant"))],
        required=False,
    )
    o = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_month(self) -> date | None:
        value = (self.cleaned_data.get("month") or "").strip()
        if not value:
            return None
        try:
            return datetime.strptime(value, "%Y-%m").date()
        except ValueError:
            raise forms.ValidationError(_("Enter a month as YYYY-MM, e.g. 2026-10.")) from None

    def clean(self) -> dict:
        data = super().clean()
        start, end, month = data.get("start"), data.get("end"), data.get("month")
        if self.errors:
            return data
        if start or end:
            if not (start and end):
                raise forms.ValidationError(_("Give both a start and an end date, or pick a month."))
            if start > end:
                raise forms.ValidationError(
                    _("The start date (%(start)s) is after the end date (%(end)s).") % {"start": start, "end": end}
                )
            if (end - start).days + 1 > MAX_DAYS:
                raise forms.ValidationError(
                    _("Pick a range of at most %(days)d days (this one has %(n)d).")
                    % {"days": MAX_DAYS, "n": (end - start).days + 1}
                )
        else:
            month = month or datetime.strptime(last_month(timezone.localdate()), "%Y-%m").date()
            data["start"] = month
            data["end"] = (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        sort = data.get("o") or DEFAULT_SORT
        data["o"] = sort if sort.lstrip("-") in SORTS else DEFAULT_SORT
        return data


def report_query(form: SalesReportForm, departments: set[int] | None) -> ReportQuery:
    data = form.cleaned_data
    return ReportQuery(
        start=data["start"],
        end=data["end"],
        by_variant=data.get("by") == "variant",
        department_id=data["department"].pk if data.get("department") else None,
        category_id=data["category"].pk if data.get("category") else None,
        brand_id=data["brand"].pk if data.get("brand") else None,
        sort=data["o"],
        allowed_departments=departments,
    )


# -- exports -------------------------------------------------------------------------------------


def _headers(query: ReportQuery) -> list[str]:
    variant = [_("SKU"), _("Options")] if query.by_variant else []
    return [_("Product"), *variant, _("Units sold"), _("Orders"), _("Gross revenue"), _("Refunds"), _("Net revenue")]


def _cells(row, query: ReportQuery) -> list:
    variant = [row.sku, row.options] if query.by_variant else []
    return [row.name, *variant, row.units, row.orders, row.gross, row.refunds, row.net]


def _safe(value):
    # A cell starting with =, +, - or @ is a formula to a spreadsheet: product names are typed by staff.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def _filename(query: ReportQuery, extension: str) -> str:
    return f"sales-{query.start:%Y%m%d}-{query.end:%Y%m%d}.{extension}"


def export_rows(query: ReportQuery) -> tuple[list[str], list[list], list]:
    report = sales_report(query, limit=None)
    totals = report.totals
    blank = ["", ""] if query.by_variant else []
    total_row = [_("Total"), *blank, totals.units, totals.orders, totals.gross, totals.refunds, totals.net]
    return _headers(query), [[_safe(c) for c in _cells(r, query)] for r in report.rows], total_row


def export_csv(query: ReportQuery) -> HttpResponse:
    headers, rows, total = export_rows(query)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename(query, "csv")}"'
    response.write("\ufeff")  # Excel opens UTF-8 (Chinese names) only with the byte-order mark
    writer = csv.writer(response)
    writer.writerow([_("Sales from %(start)s to %(end)s") % {"start": query.start, "end": query.end}])
    writer.writerow(headers)
    writer.writerows(rows)
    writer.writerow(total)
    return response


def export_xlsx(query: ReportQuery) -> HttpResponse:
    from openpyxl import Workbook

    headers, rows, total = export_rows(query)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("Sales"))
    sheet.append([_("Sales from %(start)s to %(end)s") % {"start": query.start, "end": query.end}])
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    sheet.append(total)
    buffer = BytesIO()
    book.save(buffer)
    response = HttpResponse(
        buffer.getvalue(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = f'attachment; filename="{_filename(query, "xlsx")}"'
    return response


# -- the report's page ---------------------------------------------------------------------------


def _columns(request, query: ReportQuery) -> list[dict]:
    """The table's headers with their sort links (a second click reverses)."""
    names = [("name", _("Product"))]
    if query.by_variant:
        names += [("sku", _("SKU"))]
    names += [
        ("units", _("Units sold")),
        ("orders", _("Orders")),
        ("gross", _("Gross revenue")),
        ("refunds", _("Refunds")),
        ("net", _("Net revenue")),
    ]
    current = query.sort
    columns = []
    for key, label in names:
        if current.lstrip("-") == key:
            sort = key if current.startswith("-") else f"-{key}"
            state = "descending" if current.startswith("-") else "ascending"
        else:
            sort = key if key in ("name", "sku") else f"-{key}"
            state = ""
        params = request.GET.copy()
        params["o"] = sort
        params.pop("page", None)
        params.pop("export", None)
        columns.append(
            {
                "key": key,
                "label": label,
                "url": "?" + params.urlencode(),
                "state": state,
                "numeric": key not in ("name", "sku"),
            }
        )
    return columns


def _with(request, **changes) -> str:
    params = request.GET.copy()
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return "?" + params.urlencode()


def sales_report_view(model_admin, request) -> HttpResponse:
    departments = report_departments(request.user)
    form = SalesReportForm(request.GET)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("Sales report"),
        "opts": model_admin.model._meta,
        "form": form,
        "max_days": MAX_DAYS,
        "restricted": departments is not None,
    }
    if not form.is_valid():
        return TemplateResponse(request, "admin/aftersales/reports/sales.html", context, status=400)
    query = report_query(form, departments)
    export = request.GET.get("export")
    if export == "csv":
        return export_csv(query)
    if export == "xlsx":
        return export_xlsx(query)
    try:
        page = max(int(request.GET.get("page", "1")), 1)
    except ValueError:
        page = 1
    report = sales_report(query, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    pages = max((report.count + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    context.update(
        {
            "report": report,
            "query": query,
            "columns": _columns(request, query),
            "page": page,
            "pages": pages,
            "previous_url": _with(request, page=str(page - 1), export=None) if page > 1 else "",
            "next_url": _with(request, page=str(page + 1), export=None) if page < pages else "",
            "csv_url": _with(request, export="csv", page=None),
            "xlsx_url": _with(request, export="xlsx", page=None),
            "daily_chart": {
                "type": "line",
                "labels": [f"{d.day:%m-%d}" for d in report.daily],
                "currency": format_money(0)[:1],
                "datasets": [
                    {"label": _("Gross revenue"), "data": [str(d.gross) for d in report.daily]},
                    {"label": _("Refunds"), "data": [str(d.refunds) for d in report.daily]},
                ],
            },
            "top_chart": {
                "type": "bar",
                "horizontal": True,
                "labels": [f"{r.name} {r.options}".strip() if query.by_variant else r.name for r in report.top],
                "currency": format_money(0)[:1],
                "datasets": [{"label": _("Gross revenue"), "data": [str(r.gross) for r in report.top]}],
            },
        }
    )
    return TemplateResponse(request, "admin/aftersales/reports/sales.html", context)


class SalesReportAdmin(admin.ModelAdmin):
    """The rollup's admin page is the report (nothing to add, change or delete by hand)."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return may_see_sales(request.user)

    def has_module_permission(self, request) -> bool:
        return may_see_sales(request.user)

    def changelist_view(self, request, extra_context=None):
        return sales_report_view(self, request)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        raise PermissionDenied


admin.site.register(DailySales, SalesReportAdmin)


# -- the dashboard -------------------------------------------------------------------------------


def _changelist(model: str, **params) -> str:
    url = reverse(f"admin:{model}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def _report_url(start: date, end: date) -> str:
    return _changelist("orders_dailysales", start=start.isoformat(), end=end.isoformat())


def _bounds(period) -> dict:
    start, end = period.bounds()
    return {"gte": start.isoformat(), "lt": end.isoformat()}


def dashboard_context(request) -> dict:
    """The dashboard's blocks for this user (the admin index's extra context)."""
    user = request.user
    if not (user.is_active and user.is_staff):
        return {}
    try:
        departments = report_departments(user)
        money = True
    except PermissionDenied:
        departments, money = None, False
    shop_wide = departments is None  # department staff see their own sales, not the shop's orders
    see_orders = user.has_perm("orders.view_order") and shop_wide
    see_customers = user.has_perm("shop.view_user") and shop_wide
    now = timezone.now()
    today = timezone.localdate(now)
    figures = []
    # One query for every money figure and the chart: sales per day from the start of last
    # month (or 30 days back) to today.
    month_start = today.replace(day=1)
    first = min((month_start - timedelta(days=1)).replace(day=1), today - timedelta(days=29))
    days = (
        dashboard_selectors.sales_by_day(start=first, end=today + timedelta(days=1), departments=departments)
        if money
        else {}
    )
    for comparison in dashboard_selectors.comparisons(
        today=today, money=money, orders=see_orders, customers=see_customers, days=days
    ):
        current, previous = comparison.current, comparison.previous
        period = current.period
        title = _("Today") if comparison.label == "today" else _("This month")
        against = _("yesterday") if comparison.label == "today" else _("last month to the same day")
        bounds = _bounds(period)
        rows = []
        if money:
            rows.append(
                _figure(_("Sales"), current.sales, previous.sales, _report_url(period.start, period.last_day), True)
            )
        if see_orders:
            orders_url = _changelist("orders_order", paid_at__gte=bounds["gte"], paid_at__lt=bounds["lt"])
            rows.append(_figure(_("Orders"), current.orders, previous.orders, orders_url))
            if money:
                rows.append(
                    _figure(_("Average order value"), current.average_order, previous.average_order, orders_url, True)
                )
        if money:
            refunds_url = (
                _changelist("aftersales_refundnote", created_at__gte=bounds["gte"], created_at__lt=bounds["lt"])
                if user.has_perm("aftersales.view_refundnote") and shop_wide
                else _report_url(period.start, period.last_day)
            )
            rows.append(_figure(_("Refund rate"), current.refund_rate, previous.refund_rate, refunds_url, percent=True))
        if see_customers:
            users_url = _changelist(
                "shop_user", date_joined__gte=bounds["gte"], date_joined__lt=bounds["lt"], is_staff__exact="0"
            )
            rows.append(_figure(_("New customers"), current.new_customers, previous.new_customers, users_url))
        if rows:
            figures.append({"title": title, "against": against, "rows": rows})
    context = {"dashboard": {"figures": figures, "restricted": not shop_wide and money}}
    board = context["dashboard"]
    if see_orders:
        since = now - timedelta(days=30)
        board["statuses"] = [
            {
                "label": label,
                "count": n,
                "recent": recent,
                "url": _changelist(
                    "orders_order", status__exact=value, **({"placed_at__gte": since.isoformat()} if recent else {})
                ),
            }
            for value, label, n, recent in dashboard_selectors.orders_by_status(since=since)
        ]
    if user.has_perm("fulfillment.view_shipment"):
        board["parcels"] = [
            {
                "label": label,
                "count": n,
                "url": _changelist(
                    "fulfillment_shipment", status__exact=value, kind__in=",".join(dashboard_selectors.TO_CUSTOMERS)
                ),
            }
            for value, label, n in dashboard_selectors.parcels_waiting()
        ]
    if user.has_perm("aftersales.view_aftersale"):
        waiting = dashboard_selectors.aftersales_waiting(now=now)
        board["aftersales"] = {
            "count": waiting.count,
            "overdue": waiting.overdue,
            "url": _changelist("aftersales_aftersale", status__in=",".join(dashboard_selectors.AfterSale.OPEN)),
            "overdue_url": _changelist("aftersales_aftersale", overdue="yes"),
            "first": [
                {
                    "number": r.number,
                    "order": r.order.number,
                    "status": r.get_status_display(),
                    "due_at": r.due_at,
                    "overdue": r.is_overdue,
                    "url": reverse("admin:aftersales_aftersale_change", args=[r.pk]),
                }
                for r in waiting.first
            ],
        }
    if user.has_perm("fulfillment.view_stock"):
        low = dashboard_selectors.low_stock()
        board["low_stock"] = {
            "count": low.count,
            "url": _changelist("fulfillment_stock", level="low"),
            "first": [{**row, "url": reverse("admin:fulfillment_stock_change", args=[row["pk"]])} for row in low.first],
        }
    if money:
        chart = dashboard_selectors.daily_sales(today=today, days=days)
        board["chart"] = {
            "type": "bar",
            "labels": [f"{d:%m-%d}" for d, _g in chart],
            "currency": format_money(0)[:1],
            "datasets": [{"label": _("Sales"), "data": [str(g) for _d, g in chart]}],
        }
        board["top"] = [
            {**row, "url": _report_url(month_start, today)}
            for row in dashboard_selectors.top_products(start=month_start, end=today, departments=departments)
        ]
        board["report_url"] = _report_url(today - timedelta(days=29), today)
        board["month_url"] = _report_url(month_start, today)
    if user.is_superuser:
        board["replica"] = _replica_tile()
    return context


def _replica_tile() -> dict | None:
    """The read replica's state and lag (shop.core.dbrouter), for those who run the shop."""
    status = replica_status()
    if not status.configured:
        return None
    states = {
        "ok": _("In use for catalogue pages"),
        "lagging": _("Lagging: catalogue pages read the primary"),
        "down": _("Unreachable: catalogue pages read the primary"),
    }
    return {
        "state": status.state,
        "label": states[status.state],
        "lag": _("unknown") if status.lag_seconds is None else f"{status.lag_seconds:.2f}",
        "max_lag": settings.REPLICA_MAX_LAG,
    }


def _figure(label, current, previous, url, is_money=False, percent=False) -> dict:
    change = None  # percent against the period before, none when that was nothing
    if current is not None and previous:
        change = Decimal((current - previous) * 100 / previous).quantize(Decimal("1")) + 0  # never "-0"

    def show(value):
        if value is None:
            return "—"
        if is_money:
            return format_money(value)
        if percent:
            return f"{value}%"
        return str(value)

    return {
        "label": label,
        "value": show(current),
        "previous": show(previous),
        "change": change,
        "up": change is not None and change > 0,
        "down": change is not None and change < 0,
        "url": url,
    }


def dashboard_install(site) -> None:
    """Make `site`'s index the dashboard (AftersalesConfig.ready). A site without the shop's
    hooks (a plain AdminSite) keeps Django's index."""
    if not hasattr(site, "index_context_providers"):
        return
    site.index_template = "admin/dashboard.html"
    if dashboard_context not in site.index_context_providers:
        site.index_context_providers.append(dashboard_context)
