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

from catalog.models import Brand, Category, Department, ProductVariant
from orders.models import DailySales

ZERO = Decimal("0.00")

# Sortable columns: request value -> the aggregate's name (names and SKUs sort in the database too).
SORTS = {
    "name": "product__name",
    "sku": "variant__sku",
    "units": "total_units",
    "orders": "total_orders",
    "gross": "total_gross",
    "refunds": "total_refunds",
    "net": "total_net",
}
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


def _grouped(query: ReportQuery) -> QuerySet:
    keys = (
        ("variant_id", "product_id", "product__name", "variant__sku")
        if query.by_variant
        else ("product_id", "product__name")
    )
    return (
        rollup_rows(query)
        .values(*keys)
        .annotate(  # names unlike the columns': Django refuses an alias that shadows a field
            total_units=Sum("units"),
            total_orders=Sum("orders" if query.by_variant else "product_orders"),
            total_gross=Sum("gross"),
            total_refunds=Sum("refunds"),
            total_net=Sum("gross") - Sum("refunds"),
        )
    )


def _order_by(query: ReportQuery) -> list[str]:
    descending = query.sort.startswith("-")
    key = SORTS.get(query.sort.lstrip("-"), "total_gross")
    if key == "variant__sku" and not query.by_variant:
        key = "product__name"
    tie = "variant_id" if query.by_variant else "product_id"
    return [f"-{key}" if descending else key, tie]


def _row(values: dict, options: dict[int, str]) -> ReportRow:
    return ReportRow(
        product_id=values["product_id"],
        name=values["product__name"],
        units=values["total_units"] or 0,
        orders=values["total_orders"] or 0,
        gross=values["total_gross"] or ZERO,
        refunds=values["total_refunds"] or ZERO,
        net=values["total_net"] or ZERO,
        variant_id=values.get("variant_id"),
        sku=values.get("variant__sku", ""),
        options=options.get(values.get("variant_id"), ""),
    )


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


def sales_totals(query: ReportQuery) -> Totals:
    sums = rollup_rows(query).aggregate(
        total_units=Sum("units"),
        total_orders=Sum("orders" if query.by_variant else "product_orders"),
        total_gross=Sum("gross"),
        total_refunds=Sum("refunds"),
    )
    gross, refunds = sums["total_gross"] or ZERO, sums["total_refunds"] or ZERO
    return Totals(
        units=sums["total_units"] or 0,
        orders=sums["total_orders"] or 0,
        gross=gross,
        refunds=refunds,
        net=gross - refunds,
    )


def sales_daily(query: ReportQuery) -> list[DayFigure]:
    """Every day of the period (days without sales as zeros)."""
    found = {
        row["day"]: row
        for row in rollup_rows(query)
        .values("day")
        .annotate(day_gross=Sum("gross"), day_refunds=Sum("refunds"))
        .order_by()
    }
    days = []
    for n in range(query.days):
        day = query.start + timedelta(days=n)
        row = found.get(day, {})
        days.append(DayFigure(day=day, gross=row.get("day_gross") or ZERO, refunds=row.get("day_refunds") or ZERO))
    return days


def sales_report(query: ReportQuery, *, offset: int = 0, limit: int | None = 100) -> Report:
    """The report's page of rows (all of them with limit=None: the exports), its totals, the
    daily figures and the ten best sellers. A fixed number of queries whatever its size."""
    grouped = _grouped(query)
    page = grouped.order_by(*_order_by(query))
    page = page[offset : offset + limit] if limit is not None else page[offset:]
    page = list(page)
    options = _options([r["variant_id"] for r in page]) if query.by_variant else {}
    top = list(grouped.order_by("-total_gross", "product_id")[:10])
    top_options = _options([r["variant_id"] for r in top]) if query.by_variant else {}
    totals = sales_totals(query)
    # Count the groups in the database: the totals query already scanned the same rows.
    count = rollup_rows(query).values("variant_id" if query.by_variant else "product_id").distinct().count()
    # The orders column counts orders containing the product (or variant): its total counts an
    # order once per product in it, as the page says.
    return Report(
        query=query,
        totals=totals,
        count=count,
        rows=[_row(r, options) for r in page],
        daily=sales_daily(query),
        top=[_row(r, top_options) for r in top],
    )


def report_choices() -> dict[str, list[tuple[int, str]]]:
    """The filter lists: departments, categories (indented by depth), brands."""
    return {
        "departments": list(Department.objects.order_by("code").values_list("pk", "name")),
        "categories": [
            (pk, "— " * (depth - 1) + name)
            for pk, name, depth in Category.objects.order_by("path").values_list("pk", "name", "depth")
        ],
        "brands": list(Brand.objects.order_by("name").values_list("pk", "name")),
    }
