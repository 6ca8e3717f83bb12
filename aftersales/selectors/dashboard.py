"""The admin's first page (the dashboard): today and this month against the period before,
what waits for the shop, and the last 30 days of sales.

Money figures come from the daily rollup (orders.models.DailySales) on the sales report's basis
(aftersales.selectors.reports): sales = gross of the orders paid in the period (goods less
their discounts; shipping is not in it), refund rate = refunds written in the period ÷ those
sales. Orders are counted on their payment time, new customers on their registration. Each
block is computed only for staff who may see it (aftersales.admin.reports decides who).
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from aftersales.models import AfterSale
from catalog.models import Product
from fulfillment.models import Shipment, Stock
from orders.models import DailySales, DailySalesTotal, Order

ZERO = Decimal("0.00")


@dataclass
class Period:
    """[start, end) in local days: `start` inclusive, `end` exclusive."""

    start: date
    end: date

    def bounds(self) -> tuple[datetime, datetime]:
        tz = timezone.get_current_timezone()
        return (
            datetime.combine(self.start, time.min, tzinfo=tz),
            datetime.combine(self.end, time.min, tzinfo=tz),
        )

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)


@dataclass
class Figures:
    period: Period
    sales: Decimal | None = None
    refunds: Decimal | None = None
    orders: int | None = None
    new_customers: int | None = None

    @property
    def average_order(self) -> Decimal | None:
        if self.sales is None or not self.orders:
            return None
        return (self.sales / self.orders).quantize(Decimal("0.01"))

    @property
    def refund_rate(self) -> Decimal | None:
        """Percent, one decimal."""
        if self.sales is None or self.refunds is None or not self.sales:
            return None
        return (self.refunds * 100 / self.sales).quantize(Decimal("0.1"))


@dataclass
class Comparison:
    label: str
    current: Figures
    previous: Figures


def periods(today: date) -> dict[str, tuple[Period, Period]]:
    """Today against yesterday; this month so far against last month to the same day."""
    tomorrow = today + timedelta(days=1)
    month_start = today.replace(day=1)
    last_month_start = (month_start - timedelta(days=1)).replace(day=1)
    # Last month to the same day (its last day when it is shorter: 31 March ↔ 28 February).
    same_day = min(today.day, (month_start - timedelta(days=1)).day)
    return {
        "today": (Period(today, tomorrow), Period(today - timedelta(days=1), today)),
        "month": (
            Period(month_start, tomorrow),
            Period(last_month_start, last_month_start.replace(day=same_day) + timedelta(days=1)),
        ),
    }


def sales_by_day(*, start: date, end: date, departments: set[int] | None = None) -> dict[date, tuple]:
    """{day: (gross, refunds)} for the days in [start, end) that had any, in one query over the
    per-day totals: the dashboard's periods and its chart are sums of these few dozen rows."""
    rows = DailySalesTotal.objects.filter(day__gte=start, day__lt=end)
    if departments is not None:
        rows = rows.filter(department_id__in=sorted(departments))
    return {
        day: (gross or ZERO, refunds or ZERO)
        for day, gross, refunds in rows.order_by()
        .values("day")
        .annotate(day_gross=Sum("gross"), day_refunds=Sum("refunds"))
        .values_list("day", "day_gross", "day_refunds")
    }


def _money_figures(figures: list[Figures], days: dict[date, tuple]) -> None:
    for f in figures:
        within = [v for day, v in days.items() if f.period.start <= day < f.period.end]
        f.sales = sum((g for g, _r in within), ZERO)
        f.refunds = sum((r for _g, r in within), ZERO)


def _order_counts(figures: list[Figures]) -> None:
    aggregates = {}
    for n, f in enumerate(figures):
        start, end = f.period.bounds()
        # COUNT(paid_at), not COUNT(id): the paid_at index alone answers it (an index-only scan).
        aggregates[f"o{n}"] = Count("paid_at", filter=Q(paid_at__gte=start, paid_at__lt=end))
    low = min(f.period.bounds()[0] for f in figures)
    counts = Order.objects.filter(paid_at__gte=low).aggregate(**aggregates)
    for n, f in enumerate(figures):
        f.orders = counts[f"o{n}"]


def _customer_counts(figures: list[Figures]) -> None:
    aggregates = {}
    for n, f in enumerate(figures):
        start, end = f.period.bounds()
        aggregates[f"c{n}"] = Count("pk", filter=Q(date_joined__gte=start, date_joined__lt=end))
    low = min(f.period.bounds()[0] for f in figures)
    counts = get_user_model().objects.filter(date_joined__gte=low, is_staff=False).aggregate(**aggregates)
    for n, f in enumerate(figures):
        f.new_customers = counts[f"c{n}"]


def comparisons(
    *, today: date, money: bool, orders: bool, customers: bool, days: dict[date, tuple] | None = None
) -> list[Comparison]:
    """Today and this month against the period before; each kind of figure only if asked for
    (None where not). `days`: sales_by_day over (at least) the periods, for the money."""
    pairs = periods(today)
    result = [
        Comparison(label=key, current=Figures(current), previous=Figures(previous))
        for key, (current, previous) in pairs.items()
    ]
    figures = [f for c in result for f in (c.current, c.previous)]
    if money:
        _money_figures(figures, days or {})
    if orders:
        _order_counts(figures)
    if customers:
        _customer_counts(figures)
    return result


LIVE_STATUSES = (Order.Status.PENDING_PAYMENT, Order.Status.PAID, Order.Status.SHIPPED)


def orders_by_status(*, since: datetime) -> list[tuple[str, str, int, bool]]:
    """(status, label, count, recent) for every status, in the order of the life of an order:
    the live ones (work to do) all of them, through the status index; the final ones (completed,
    cancelled, closed) only those placed since `since` — all of them would be a scan of every
    order the shop ever had, and a number nobody acts on."""
    live = dict(Order.objects.filter(status__in=LIVE_STATUSES).order_by().values_list("status").annotate(n=Count("pk")))
    final = dict(
        Order.objects.filter(placed_at__gte=since)
        .exclude(status__in=LIVE_STATUSES)
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
    )
    return [
        (
            value,
            label,
            live.get(value, 0) if value in LIVE_STATUSES else final.get(value, 0),
            value not in LIVE_STATUSES,
        )
        for value, label in Order.Status.choices
    ]


TO_CUSTOMERS = (Shipment.Kind.OUTBOUND, Shipment.Kind.REPLACEMENT)


def parcels_waiting() -> list[tuple[str, str, int]]:
    """Parcels to customers (orders and exchanges' replacements) not yet handed to a carrier,
    and those with a delivery problem; not customers' returns."""
    wanted = (Shipment.Status.PENDING, Shipment.Status.PACKED, Shipment.Status.EXCEPTION)
    counts = dict(
        Shipment.objects.filter(status__in=wanted, kind__in=TO_CUSTOMERS)
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
    )
    return [(status.value, status.label, counts.get(status.value, 0)) for status in wanted]


@dataclass
class AfterSalesWaiting:
    count: int
    overdue: int
    first: list[AfterSale] = field(default_factory=list)  # overdue first, then the nearest deadline


def aftersales_waiting(*, now: datetime, size: int = 8) -> AfterSalesWaiting:
    waiting = AfterSale.objects.filter(status__in=AfterSale.OPEN)
    counts = waiting.aggregate(n=Count("pk"), overdue=Count("pk", filter=Q(due_at__lte=now)))
    first = list(waiting.select_related("order").order_by(F("due_at").asc(nulls_last=True), "pk")[:size])
    return AfterSalesWaiting(count=counts["n"], overdue=counts["overdue"], first=first)


@dataclass
class LowStock:
    count: int
    first: list[dict] = field(default_factory=list)


def low_stock(*, size: int = 8) -> LowStock:
    """What the low-stock digest lists (fulfillment's threshold: available at or under the
    variant's low_stock_threshold), the emptiest first."""
    rows = (
        Stock.objects.filter(variant__is_active=True, variant__product__is_active=True, warehouse__is_active=True)
        .annotate(available=F("on_hand") - F("reserved"), threshold=F("variant__low_stock_threshold"))
        .filter(available__lte=F("threshold"))
    )
    first = list(
        rows.order_by("available", "variant__sku").values(
            "pk", "variant__sku", "product__name", "warehouse__name", "available", "threshold"
        )[:size]
    )
    return LowStock(count=rows.count(), first=first)


def daily_sales(*, today: date, days: dict[date, tuple], count: int = 30) -> list[tuple[date, Decimal]]:
    """Gross sales of the last `count` days (today included), zeros where nothing sold."""
    start = today - timedelta(days=count - 1)
    return [(start + timedelta(days=n), days.get(start + timedelta(days=n), (ZERO, ZERO))[0]) for n in range(count)]


def top_products(*, start: date, end: date, size: int = 5, departments: set[int] | None = None) -> list[dict]:
    """The best sellers by gross in [start, end] (days inclusive): grouped by product id alone
    (an index-only scan of the rollup), named afterwards."""
    rows = DailySales.objects.filter(day__gte=start, day__lte=end)
    if departments is not None:
        rows = rows.filter(department_id__in=sorted(departments))
    top = list(
        rows.order_by()
        .values("product_id")
        .annotate(sold=Sum("units"), revenue=Sum("gross"))
        .order_by("-revenue", "product_id")[:size]
    )
    names = dict(Product.objects.filter(pk__in=[r["product_id"] for r in top]).values_list("pk", "name"))
    return [{**row, "product__name": names.get(row["product_id"], "")} for row in top]
