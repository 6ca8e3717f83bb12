"""The sales report (销售量查询): what sold in a period, per product or per variant.

The basis (also written on the page and in docs/architecture.md, "Reports and dashboard"):

- a sale counts on the day its order was paid (in settings.TIME_ZONE): orders paid, shipped,
  completed, and closed ones (a closed order was paid, then refunded in full: its refunds count
  as refunds); cash on delivery counts when the order was accepted for delivery;
- gross = the line's total less its pro-rata share of the order's discount (coupons), as the
  settlement counts goods; shipping and insurance are the shop's and are not in it;
- refunds = refund note lines (after-sales), on the day the note was written;
- net = gross − refunds; units and orders are those sold (refunded units are not subtracted).

Everything is read from the daily rollup (orders.models.DailySales), so that the cost of a
month depends on the variants sold in it, not on the number of order lines.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import QuerySet, Sum

from catalog.models import Category, Product, ProductVariant
from orders.models import DailySales, DailySalesTotal

ZERO = Decimal("0.00")

SORTS = ("name", "sku", "units", "orders", "gross", "refunds", "net")  # ReportRow attributes
DEFAULT_SORT = "-gross"


@dataclass
class ReportQuery:
    start: date
    end: date  # inclusive
    by_variant: bool = False
    department_id: int | None = None
    category_id: int | None = None
    brand_id: int | None = None
    sort: str = DEFAULT_SORT
    # Department staff: only these departments' figures (None: every department).
    allowed_departments: set[int] | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass
class ReportRow:
    product_id: int
    name: str
    units: int
    orders: int
    gross: Decimal
    refunds: Decimal
    net: Decimal
    variant_id: int | None = None
    sku: str = ""
    options: str = ""


@dataclass
class Totals:
    units: int = 0
    orders: int = 0
    gross: Decimal = ZERO
    refunds: Decimal = ZERO
    net: Decimal = ZERO


@dataclass
class DayFigure:
    day: date
    gross: Decimal
    refunds: Decimal

    @property
    def net(self) -> Decimal:
        return self.gross - self.refunds


@dataclass
class Report:
    query: ReportQuery
    totals: Totals
    count: int  # rows in the whole report (products or variants)
    rows: list[ReportRow] = field(default_factory=list)  # the page asked for
    daily: list[DayFigure] = field(default_factory=list)
    top: list[ReportRow] = field(default_factory=list)  # the ten best by gross


def rollup_rows(query: ReportQuery) -> QuerySet[DailySales]:
    """The rollup rows the report sums: the period, the filters, the user's departments."""
    rows = DailySales.objects.filter(day__gte=query.start, day__lte=query.end)
    if query.allowed_departments is not None:
        rows = rows.filter(department_id__in=sorted(query.allowed_departments))
    if query.department_id:
        rows = rows.filter(department_id=query.department_id)
    if query.category_id:
        category = Category.objects.filter(pk=query.category_id).only("path", "depth").first()
        # The category and every sub-category: their paths start with its path.
        rows = rows.filter(product__category__path__startswith=category.path) if category else rows.none()
    if query.brand_id:
        rows = rows.filter(product__brand_id=query.brand_id)
    return rows


def _total_rows(query: ReportQuery) -> QuerySet[DailySalesTotal]:
    rows = DailySalesTotal.objects.filter(day__gte=query.start, day__lte=query.end)
    if query.allowed_departments is not None:
        rows = rows.filter(department_id__in=sorted(query.allowed_departments))
    if query.department_id:
        rows = rows.filter(department_id=query.department_id)
    return rows


def _options(variant_ids: list[int]) -> dict[int, str]:
    """Variant labels ("红色 / XL") for the rows shown, in one query."""
    if not variant_ids:
        return {}
    labels: dict[int, list[str]] = {}
    through = ProductVariant.options.through.objects.filter(productvariant_id__in=variant_ids)
    for variant_id, value in through.order_by(
        "productvariant_id", "attributevalue__attribute__position", "pk"
    ).values_list("productvariant_id", "attributevalue__value"):
        labels.setdefault(variant_id, []).append(value)
    return {pk: " / ".join(values) for pk, values in labels.items()}


def sales_daily(query: ReportQuery) -> list[DayFigure]:
    """Every day of the period (days without sales as zeros)."""
    # Without a category or brand the per-day totals answer it: a row per day and department.
    rows = rollup_rows(query) if query.category_id or query.brand_id else _total_rows(query)
    found = {
        row["day"]: row
        for row in rows.values("day").annotate(day_gross=Sum("gross"), day_refunds=Sum("refunds")).order_by()
    }
    days = []
    for n in range(query.days):
        day = query.start + timedelta(days=n)
        row = found.get(day, {})
        days.append(DayFigure(day=day, gross=row.get("day_gross") or ZERO, refunds=row.get("day_refunds") or ZERO))
    return days


def _groups(query: ReportQuery) -> list[ReportRow]:
    """Every product (or variant) of the report with its sums, in one grouped query by key only
    (names are read afterwards for the rows shown): a month is at most one row per variant sold,
    so sorting, paging, the top ten and the totals are done here rather than by four more scans
    of the period's rollup rows."""
    keys = ("variant_id", "product_id") if query.by_variant else ("product_id",)
    found = (
        rollup_rows(query)
        .values(*keys)
        .annotate(  # names unlike the columns': Django refuses an alias that shadows a field
            total_units=Sum("units"),
            total_orders=Sum("orders" if query.by_variant else "product_orders"),
            total_gross=Sum("gross"),
            total_refunds=Sum("refunds"),
        )
        .order_by()
        .values_list(*keys, "total_units", "total_orders", "total_gross", "total_refunds")
    )
    rows = []
    for values in found:
        variant_id = values[0] if query.by_variant else None
        product_id = values[1] if query.by_variant else values[0]
        units, orders, gross, refunds = values[-4:]
        rows.append(
            ReportRow(
                product_id=product_id,
                name="",
                units=units or 0,
                orders=orders or 0,
                gross=gross or ZERO,
                refunds=refunds or ZERO,
                net=(gross or ZERO) - (refunds or ZERO),
                variant_id=variant_id,
            )
        )
    return rows


def _name(rows: list[ReportRow], *, by_variant: bool) -> None:
    """Names (and SKUs and options) for these rows, in one or two queries."""
    names = dict(Product.objects.filter(pk__in={r.product_id for r in rows}).values_list("pk", "name"))
    skus = (
        dict(ProductVariant.objects.filter(pk__in={r.variant_id for r in rows}).values_list("pk", "sku"))
        if by_variant
        else {}
    )
    options = _options([r.variant_id for r in rows]) if by_variant else {}
    for row in rows:
        row.name = names.get(row.product_id, "")
        if by_variant:
            row.sku = skus.get(row.variant_id, "")
            row.options = options.get(row.variant_id, "")


def _sort(rows: list[ReportRow], query: ReportQuery) -> list[ReportRow]:
    """By the column asked for, either way; ties by id, so that pages do not overlap."""
    descending = query.sort.startswith("-")
    column = query.sort.lstrip("-")
    if column not in SORTS:
        column = "gross"
    if column == "sku" and not query.by_variant:
        column = "name"
    if column in ("name", "sku"):
        _name(rows, by_variant=query.by_variant)  # every row: the order depends on them
    return sorted(rows, key=lambda r: (getattr(r, column), r.variant_id or r.product_id), reverse=descending)


def sales_report(query: ReportQuery, *, offset: int = 0, limit: int | None = 100) -> Report:
    """The report's page of rows (all of them with limit=None: the exports), its totals, the
    daily figures and the ten best sellers. A fixed number of queries whatever its size."""
    groups = _groups(query)
    ordered = _sort(groups, query)
    page = ordered[offset : offset + limit] if limit is not None else ordered[offset:]
    top = sorted(groups, key=lambda r: (-r.gross, r.variant_id or r.product_id))[:10]
    unnamed = [r for r in {id(r): r for r in (*page, *top)}.values() if not r.name]
    if unnamed:
        _name(unnamed, by_variant=query.by_variant)
    totals = Totals(
        units=sum(r.units for r in groups),
        orders=sum(r.orders for r in groups),
        gross=sum((r.gross for r in groups), ZERO),
        refunds=sum((r.refunds for r in groups), ZERO),
    )
    totals.net = totals.gross - totals.refunds
    # The orders column counts orders containing the product (or variant): its total counts an
    # order once per product in it, as the page says.
    return Report(query=query, totals=totals, count=len(groups), rows=page, daily=sales_daily(query), top=top)
