"""The sales report (销售量查询) on a hand-computed month: orders bought, paid (gateway, cash on
delivery), with a coupon, partly refunded and closed through the real services; then the
report's rows, totals, filters, sorting, exports, validation and who sees it; and its totals
against the settlement's statements for a settled month."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from aftersales.models import AfterSale
from aftersales.selectors.reports import ReportQuery, sales_report
from aftersales.services.reports import daily_sales_rebuild_all
from catalog.models import CommissionRate
from orders.models import DailySales, DailySalesTotal, Order
from orders.sales import SalesRow, daily_sales_add
from orders.services import order_confirm_receipt
from tests import factories
from tests.aftersales.support import pay_by_gateway, ship_all
from tests.aftersales.test_requests import open_request
from tests.fulfillment.support import place, stock, warehouses
from tests.purchase import buyer_with_cart, english

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal
OCTOBER = dt.date(2026, 10, 1)
REPORT = "admin:orders_dailysales_changelist"


def at(day: str, hour: int = 10):
    """Travel to a day of 2026 at the shop's local time."""
    when = timezone.make_aware(dt.datetime.fromisoformat(f"2026-{day} {hour:02d}:00"))
    return time_machine.travel(when, tick=True)


@pytest.fixture
def world():
    """Departments A and B; A sells a shirt (two sizes, category 服装 › 衬衫, brand Acme), B a mug."""
    places = warehouses()
    a = factories.DepartmentFactory(code="dept-a", name="A 部")
    b = factories.DepartmentFactory(code="dept-b", name="B 部")
    for dept, rate in ((a, "0.05"), (b, "0.10")):
        CommissionRate.objects.create(department=dept, rate=D(rate), valid_from=dt.date(2026, 1, 1))
    clothes = factories.CategoryFactory(name="服装")
    shirts = clothes.add_child(name="衬衫", slug="shirts")
    acme = factories.BrandFactory(name="Acme")
    shirt = factories.ProductFactory(department=a, category=shirts, brand=acme, name="衬衫")
    mug = factories.ProductFactory(department=b, name="马克杯")
    small = factories.VariantFactory(product=shirt, price=D("100.00"), sku="SHIRT-S")
    large = factories.VariantFactory(product=shirt, price=D("100.00"), sku="SHIRT-L")
    cup = factories.VariantFactory(product=mug, price=D("50.00"), sku="MUG")
    for v in (small, large, cup):
        stock(places["sh"], v, 100)
    return {"a": a, "b": b, "shirt": shirt, "mug": mug, "small": small, "large": large, "cup": cup,
            "clothes": clothes, "shirts": shirts, "acme": acme}  # fmt: skip


def buy(items, *, coupon: str = "", how: str = "sandbox", pay: bool = True) -> Order:
    user, address, cart = buyer_with_cart(items, coupon=coupon)
    address.province = address.city = "上海"
    address.save()
    order = place(user, address, cart, payment_method=how)
    if not pay:
        return order
    if how == "sandbox":
        pay_by_gateway(order)
    elif how == "cod":
        from payments.services import cod_accept

        cod_accept(order_id=order.pk, user=order.customer)
    order.refresh_from_db()
    return order


def complete(order: Order) -> Order:
    ship_all(order)
    order_confirm_receipt(order_id=order.pk, customer=order.customer)
    order.refresh_from_db()
    return order


def line(order: Order, v):
    return order.lines.get(variant=v)


def october(world, *, with_open_orders: bool = True):
    """Every order paid, completed and refunded in October (all settled with October):

    o1 10-02: shirt S ×2 (200) + mug ×1 (50), coupon 25 off → shares 20 and 5: gross 180 and 45.
    o2 10-03: shirt L ×1, cash on delivery (accepted 10-03, collected on delivery): gross 100.
    o3 10-05: shirt S ×3 (300), one unit cancelled before shipping: refund 100 (written 10-05).
    """
    small, large, cup = world["small"], world["large"], world["cup"]
    factories.CouponFactory(
        code="OFF25",
        kind="fixed",
        value=D("25.00"),
        min_spend=0,
        starts_at=timezone.make_aware(dt.datetime(2026, 1, 1)),
    )
    with at("10-02"):
        o1 = complete(buy([(small, 2), (cup, 1)], coupon="OFF25"))
    with at("10-03"):
        o2 = complete(buy([(large, 1)], how="cod"))
    with at("10-05"):
        o3 = buy([(small, 3)])
        open_request(o3, AfterSale.Kind.CANCEL, AfterSale.Reason.CHANGED_MIND, {line(o3, small).pk: 1})
        complete(o3)
    if with_open_orders:
        with at("10-20"):
            buy([(cup, 4)], pay=False)  # placed, never paid: not a sale
        late_evening = timezone.make_aware(dt.datetime(2026, 10, 31, 23, 55))
        with time_machine.travel(late_evening, tick=True):
            late = buy([(cup, 1)], pay=False)
        with time_machine.travel(late_evening + dt.timedelta(minutes=10), tick=True):
            pay_by_gateway(late)  # paid 1 November 00:05 (Shanghai time): not October's
    return o1, o2, o3


def rows_of(report) -> dict:
    return {r.sku or r.name: (r.units, r.orders, r.gross, r.refunds, r.net) for r in report.rows}


def test_a_hand_computed_month_per_product_and_per_variant(world):
    october(world)
    query = ReportQuery(start=OCTOBER, end=dt.date(2026, 10, 31))
    report = sales_report(query)
    # Shirt: 2 + 1 + 3 units in 3 orders; gross 180 + 100 + 300; refund 100.
    assert rows_of(report) == {
        "衬衫": (6, 3, D("580.00"), D("100.00"), D("480.00")),
        "马克杯": (1, 1, D("45.00"), D("0.00"), D("45.00")),
    }
    totals = report.totals
    assert (totals.units, totals.orders, totals.gross, totals.refunds, totals.net) == (
        7, 4, D("625.00"), D("100.00"), D("525.00"),
    )  # fmt: skip
    assert [r.name for r in report.rows] == ["衬衫", "马克杯"]  # by gross, largest first
    by_day = {d.day.day: (d.gross, d.refunds) for d in report.daily if d.gross or d.refunds}
    assert by_day == {2: (D("225.00"), D("0.00")), 3: (D("100.00"), D("0.00")), 5: (D("300.00"), D("100.00"))}
    assert len(report.daily) == 31 and [r.name for r in report.top] == ["衬衫", "马克杯"]

    variants = sales_report(ReportQuery(start=OCTOBER, end=dt.date(2026, 10, 31), by_variant=True, sort="sku"))
    assert rows_of(variants) == {
        "MUG": (1, 1, D("45.00"), D("0.00"), D("45.00")),
        "SHIRT-L": (1, 1, D("100.00"), D("0.00"), D("100.00")),
        "SHIRT-S": (5, 2, D("480.00"), D("100.00"), D("380.00")),
    }
    assert [r.sku for r in variants.rows] == ["MUG", "SHIRT-L", "SHIRT-S"]
    # November holds only the late order (paid 1 November, 00:05 Shanghai time).
    november = sales_report(ReportQuery(start=dt.date(2026, 11, 1), end=dt.date(2026, 11, 30)))
    assert rows_of(november) == {"马克杯": (1, 1, D("50.00"), D("0.00"), D("50.00"))}


def test_a_closed_order_counts_as_a_sale_and_its_refund_as_a_refund(world):
    small = world["small"]
    with at("10-06"):
        order = buy([(small, 2)])
        open_request(order, AfterSale.Kind.CANCEL, AfterSale.Reason.CHANGED_MIND, {line(order, small).pk: 2})
    order.refresh_from_db()
    assert order.status == Order.Status.CLOSED
    report = sales_report(ReportQuery(start=OCTOBER, end=dt.date(2026, 10, 31)))
    assert rows_of(report) == {"衬衫": (2, 1, D("200.00"), D("200.00"), D("0.00"))}


def test_the_rollup_is_what_a_rebuild_from_the_orders_gives(world):
    october(world)
    kept = sorted(DailySales.objects.values_list(
        "day", "variant_id", "product_id", "department_id", "units", "orders", "product_orders", "gross",
        "refunded_units", "refunds",
    ))  # fmt: skip
    assert kept
    kept_totals = sorted(DailySalesTotal.objects.values_list("day", "department_id", "units", "gross", "refunds"))
    assert kept_totals
    daily_sales_rebuild_all()
    rebuilt = sorted(DailySales.objects.values_list(
        "day", "variant_id", "product_id", "department_id", "units", "orders", "product_orders", "gross",
        "refunded_units", "refunds",
    ))  # fmt: skip
    assert rebuilt == kept
    assert (
        sorted(DailySalesTotal.objects.values_list("day", "department_id", "units", "gross", "refunds")) == kept_totals
    )


def test_the_report_agrees_with_the_settlement_for_a_settled_month(world):
    """Every order of the month was paid, completed and refunded in October and is settled with
    October: per department, the report's gross and refunds are the statement's goods and refunds."""
    from aftersales.models import Statement
    from aftersales.services import settlement

    october(world, with_open_orders=False)
    with at("11-15", 2):
        settlement.settle_month(month=OCTOBER)
    statements = Statement.objects.filter(month=OCTOBER)
    assert statements.count() == 2
    for statement in statements:
        query = ReportQuery(start=OCTOBER, end=dt.date(2026, 10, 31), department_id=statement.department_id)
        totals = sales_report(query).totals
        assert (totals.gross, totals.refunds) == (statement.goods, statement.refunds), statement.department


# -- filters, sorting and the page -----------------------------------------------------------------


def finance():
    user = factories.UserFactory(is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_dailysales"))
    return type(user).objects.get(pk=user.pk)


def rollup(day, v, *, units=1, gross="10.00", refunds="0.00", orders=1):
    """Sales written straight into the rollup (and its per-day totals), as the services add them."""
    daily_sales_add([
        SalesRow(
            day=day, variant_id=v.pk, product_id=v.product_id, department_id=v.product.department_id, units=units,
            orders=orders, product_orders=orders, gross=D(gross), refunds=D(refunds),
        )
    ])  # fmt: skip


def test_filters_by_department_category_with_its_children_and_brand(world):
    day = dt.date(2026, 10, 9)
    rollup(day, world["small"], gross="100.00")
    rollup(day, world["cup"], gross="30.00")
    base = {"start": OCTOBER, "end": dt.date(2026, 10, 31)}
    names = lambda **f: [r.name for r in sales_report(ReportQuery(**base, **f)).rows]  # noqa: E731
    assert names() == ["衬衫", "马克杯"]
    assert names(department_id=world["b"].pk) == ["马克杯"]
    assert names(category_id=world["clothes"].pk) == ["衬衫"]  # the parent holds its sub-category's shirt
    assert names(category_id=world["shirts"].pk) == ["衬衫"]
    assert names(brand_id=world["acme"].pk) == ["衬衫"]
    assert names(brand_id=world["acme"].pk, department_id=world["b"].pk) == []
    assert names(allowed_departments={world["b"].pk}) == ["马克杯"]


def test_every_column_sorts_both_ways(world):
    day = dt.date(2026, 10, 9)
    rollup(day, world["small"], units=1, gross="100.00", refunds="90.00", orders=1)
    rollup(day, world["cup"], units=5, gross="30.00", refunds="0.00", orders=3)
    base = {"start": OCTOBER, "end": dt.date(2026, 10, 31)}
    expected = {"units": "马克杯", "orders": "马克杯", "gross": "衬衫", "refunds": "衬衫", "net": "马克杯"}
    for column, first in expected.items():
        assert sales_report(ReportQuery(**base, sort=f"-{column}")).rows[0].name == first, column
        assert sales_report(ReportQuery(**base, sort=column)).rows[0].name != first, column
    assert [r.name for r in sales_report(ReportQuery(**base, sort="name")).rows] == ["衬衫", "马克杯"]


def test_the_page_shows_rows_totals_and_charts_and_exports_csv_and_xlsx(client, world):
    october(world, with_open_orders=False)
    client.force_login(finance())
    english(client)
    url = reverse(REPORT)
    page = client.get(url, {"month": "2026-10"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "衬衫" in html and "580.00" in html and "625.00" in html and "525.00" in html
    assert 'id="bo-chart-daily"' in html and 'id="bo-chart-top"' in html and "chart.umd.min" in html
    assert "How the figures are counted" in html

    sheet = client.get(url, {"month": "2026-10", "export": "csv"})
    assert sheet["Content-Type"].startswith("text/csv")
    assert 'filename="sales-20261001-20261031.csv"' in sheet["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(sheet.content.decode("utf-8-sig"))))
    assert rows[1] == ["Product", "Units sold", "Orders", "Gross revenue", "Refunds", "Net revenue"]
    assert rows[2:] == [
        ["衬衫", "6", "3", "580.00", "100.00", "480.00"],
        ["马克杯", "1", "1", "45.00", "0.00", "45.00"],
        ["Total", "7", "4", "625.00", "100.00", "525.00"],
    ]

    book = client.get(url, {"start": "2026-10-01", "end": "2026-10-31", "by": "variant", "o": "sku", "export": "xlsx"})
    assert book["Content-Type"].startswith("application/vnd.openxmlformats")
    values = [list(r) for r in load_workbook(io.BytesIO(book.content)).active.iter_rows(min_row=2, values_only=True)]
    assert values[0] == ["Product", "SKU", "Options", "Units sold", "Orders", "Gross revenue", "Refunds", "Net revenue"]
    assert [v[1] for v in values[1:4]] == ["MUG", "SHIRT-L", "SHIRT-S"]
    assert values[3][3:] == [5, 2, 480, 100, 380]
    assert values[-1][0] == "Total" and values[-1][3:] == [7, 4, 625, 100, 525]


def test_a_formula_in_a_product_name_is_not_a_formula_in_the_export(client, world):
    world["mug"].name = "=HYPERLINK(1)"
    world["mug"].save()
    rollup(dt.date(2026, 10, 9), world["cup"])
    client.force_login(finance())
    sheet = client.get(reverse(REPORT), {"month": "2026-10", "export": "csv"}).content.decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in sheet


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"start": "2026-10-31", "end": "2026-10-01"},
            "The start date (2026-10-31) is after the end date (2026-10-01).",
        ),
        ({"start": "2026-10-01"}, "Give both a start and an end date, or pick a month."),
        ({"start": "2025-01-01", "end": "2026-10-01"}, "Pick a range of at most 366 days (this one has 639)."),
        ({"month": "October"}, "Enter a month as YYYY-MM, e.g. 2026-10."),
        ({"start": "2026-13-01", "end": "2026-10-01"}, "Enter a valid date."),
    ],
)
def test_a_bad_range_is_answered_with_a_clear_message(client, params, message):
    client.force_login(finance())
    english(client)
    page = client.get(reverse(REPORT), params)
    assert page.status_code == 400
    assert message in page.content.decode()
    assert 'id="sales-report"' not in page.content.decode()


def test_without_a_period_the_report_shows_last_month(client, world):
    rollup(dt.date(2026, 10, 9), world["cup"], gross="12.34")
    client.force_login(finance())
    english(client)
    with at("11-20"):
        page = client.get(reverse(REPORT))
    assert "From 2026-10-01 to 2026-10-31" in page.content.decode() and "12.34" in page.content.decode()


def test_the_number_of_queries_does_not_grow_with_products_or_lines(client, world, django_assert_max_num_queries):
    client.force_login(finance())
    day = dt.date(2026, 10, 9)
    rollup(day, world["cup"])

    def count() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse(REPORT), {"month": "2026-10", "by": "variant"}).status_code == 200
        return len(queries)

    few = count()
    for n in range(30):
        v = factories.VariantFactory(product=factories.ProductFactory(department=world["a"]), sku=f"X-{n}")
        for d in range(1, 4):
            rollup(day.replace(day=d), v, units=n + 1)
    with django_assert_max_num_queries(few):
        count()


def test_who_sees_the_report(client, world):
    url = reverse(REPORT)
    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))
    assert client.get(url).status_code == 200
    client.force_login(finance())
    assert client.get(url).status_code == 200
    service = factories.UserFactory(is_staff=True)
    service.user_permissions.set(Permission.objects.filter(codename__in=["view_order", "view_aftersale"]))
    client.force_login(service)
    assert client.get(url).status_code == 403
    client.force_login(factories.UserFactory())  # a customer: the admin's login page
    assert client.get(url).status_code == 302


def test_the_rollups_unique_indexes_cover_their_figures_on_postgresql():
    """The upserts need the unique indexes; the report's index-only scans need the figures in them
    (migration 0009 makes them covering on PostgreSQL)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname IN "
            "('daily_sales_one_row', 'daily_sales_total_one_row') ORDER BY indexname"
        )
        found = dict(cursor.fetchall())
    assert "UNIQUE" in found["daily_sales_one_row"]
    assert "INCLUDE (product_id, units, orders, product_orders, gross, refunds)" in found["daily_sales_one_row"]
    assert "INCLUDE (units, gross, refunds)" in found["daily_sales_total_one_row"]
