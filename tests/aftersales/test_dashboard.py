"""The admin's first page, the dashboard: hand-computed figures for today and this month against
the period before, links to the lists they summarise, blocks per role, overdue requests first,
low stock, and a number of queries that does not grow with the shop."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from aftersales.models import AfterSale
from aftersales.selectors.dashboard import periods
from orders.models import DailySales
from tests import factories
from tests.aftersales.support import completed, shop
from tests.aftersales.test_reports import at, buy, line, rollup, world  # noqa: F401 - the fixture
from tests.aftersales.test_requests import open_request
from tests.fulfillment.support import stock, variant
from tests.purchase import english

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal
INDEX = "admin:index"


def user_with(*perms: str, **fields):
    user = factories.UserFactory(is_staff=True, **fields)
    q = Permission.objects.none()
    for perm in perms:
        app, codename = perm.split(".")
        q = q | Permission.objects.filter(content_type__app_label=app, codename=codename)
    user.user_permissions.set(q)
    return type(user).objects.get(pk=user.pk)


def board(client, user) -> dict:
    client.force_login(user)
    english(client)
    response = client.get(reverse(INDEX))
    assert response.status_code == 200
    return response.context["dashboard"]


def figure(dashboard, block: int, label: str) -> dict:
    return next(f for f in dashboard["figures"][block]["rows"] if f["label"] == label)


def test_the_periods_compare_like_with_like():
    today, month = periods(dt.date(2026, 3, 31)).values()
    assert (today[0].start, today[0].end, today[1].start) == (
        dt.date(2026, 3, 31),
        dt.date(2026, 4, 1),
        dt.date(2026, 3, 30),
    )
    # 1–31 March against 1–28 February (February has no 31st).
    assert (month[0].start, month[0].last_day) == (dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    assert (month[1].start, month[1].last_day) == (dt.date(2026, 2, 1), dt.date(2026, 2, 28))


def test_hand_computed_figures_today_and_this_month_with_links(client, world):  # noqa: F811
    small, cup = world["small"], world["cup"]
    with at("10-08"):
        buy([(small, 1)])  # yesterday: 100, one order, one new customer
    with at("10-09", 9):
        o2 = buy([(small, 2)])  # today: 200 …
        buy([(cup, 1)], how="cod")  # … and 50 on delivery
        open_request(o2, AfterSale.Kind.CANCEL, AfterSale.Reason.CHANGED_MIND, {line(o2, small).pk: 1})  # −100
    with at("10-09", 15):
        dashboard = board(client, factories.UserFactory(is_staff=True, is_superuser=True))
    sales, orders = figure(dashboard, 0, "Sales"), figure(dashboard, 0, "Orders")
    assert (sales["value"], sales["previous"], sales["change"], sales["up"]) == ("¥250.00", "¥100.00", 150, True)
    assert (orders["value"], orders["previous"]) == ("2", "1")
    assert figure(dashboard, 0, "Average order value")["value"] == "¥125.00"
    assert figure(dashboard, 0, "Refund rate")["value"] == "40.0%"  # 100 of 250
    assert figure(dashboard, 0, "Refund rate")["previous"] == "0.0%"
    assert figure(dashboard, 0, "New customers")["value"] == "2"
    month = figure(dashboard, 1, "Sales")
    assert (month["value"], month["previous"], month["change"]) == ("¥350.00", "¥0.00", None)
    assert sales["url"] == reverse("admin:orders_dailysales_changelist") + "?start=2026-10-09&end=2026-10-09"
    # The orders link lists exactly today's paid orders.
    with at("10-09", 15):
        listed = client.get(orders["url"])
    assert listed.status_code == 200 and listed.context["cl"].result_count == 2
    statuses = {s["label"]: s["count"] for s in dashboard["statuses"]}
    assert statuses["Awaiting shipment"] == 3
    assert [t["product__name"] for t in dashboard["top"]] == ["衬衫", "马克杯"]
    assert len(dashboard["chart"]["labels"]) == 30 and dashboard["chart"]["datasets"][0]["data"][-1] == "250.00"
    parcels = {p["label"]: p for p in dashboard["parcels"]}
    assert parcels["To pack"]["count"] == 3
    assert client.get(parcels["To pack"]["url"]).context["cl"].result_count == 3
    page = client.get(reverse(INDEX)).content.decode()
    assert 'id="bo-chart-30"' in page and "chart.umd.min" in page and "backoffice-charts" in page


def test_each_role_sees_only_its_blocks(client, world):  # noqa: F811
    warehouse = board(client, user_with("fulfillment.view_shipment", "fulfillment.view_stock", "orders.view_order"))
    assert "parcels" in warehouse and "low_stock" in warehouse and "statuses" in warehouse
    assert "chart" not in warehouse and "top" not in warehouse and "aftersales" not in warehouse
    assert [f["label"] for block in warehouse["figures"] for f in block["rows"]] == ["Orders", "Orders"]

    service = board(client, user_with("aftersales.view_aftersale"))
    assert set(service) == {"figures", "restricted", "aftersales"} and service["figures"] == []

    finance = board(client, user_with("orders.view_dailysales"))
    assert "chart" in finance and "parcels" not in finance and "statuses" not in finance
    assert [f["label"] for f in finance["figures"][0]["rows"]] == ["Sales", "Refund rate"]


def test_department_staff_see_their_own_department_only(client, world):  # noqa: F811
    try:
        from catalog.selectors import DEPARTMENT_STAFF_GROUP
    except ImportError:
        pytest.skip("department staff are not in this tree yet")
    from django.contrib.auth.models import Group

    rollup(timezone.localdate(), world["small"], gross="100.00")
    rollup(timezone.localdate(), world["cup"], gross="50.00")
    member = user_with("aftersales.view_statement", "orders.view_order")
    member.groups.add(Group.objects.get_or_create(name=DEPARTMENT_STAFF_GROUP)[0])
    member.staff_departments.add(world["b"])
    dashboard = board(client, type(member).objects.get(pk=member.pk))
    assert dashboard["restricted"] and "statuses" not in dashboard
    assert figure(dashboard, 0, "Sales")["value"] == "¥50.00"
    assert [t["product__name"] for t in dashboard["top"]] == ["马克杯"]
    report = client.get(
        reverse("admin:orders_dailysales_changelist"),
        {"start": timezone.localdate().isoformat(), "end": timezone.localdate().isoformat()},
    )
    assert [r.name for r in report.context["report"].rows] == ["马克杯"]


def test_requests_waiting_overdue_first_and_low_stock(client):
    places, v1 = shop(price="80.00")
    v2 = variant(price="90.00")
    stock(places["sh"], v2, 10)
    first, second = completed([(v1, 1)]), completed([(v2, 1)])
    r1 = open_request(first, AfterSale.Kind.RETURN, AfterSale.Reason.QUALITY, {first.lines.get().pk: 1})
    r2 = open_request(second, AfterSale.Kind.RETURN, AfterSale.Reason.QUALITY, {second.lines.get().pk: 1})
    AfterSale.objects.filter(pk=r2.pk).update(due_at=timezone.now() - dt.timedelta(hours=1))
    low = factories.StockFactory(on_hand=2, variant=factories.VariantFactory(sku="LOW-1", low_stock_threshold=5))
    factories.StockFactory(on_hand=50)
    dashboard = board(client, factories.UserFactory(is_staff=True, is_superuser=True))
    waiting = dashboard["aftersales"]
    assert (waiting["count"], waiting["overdue"]) == (2, 1)
    assert [r["number"] for r in waiting["first"]] == [r2.number, r1.number] and waiting["first"][0]["overdue"]
    assert client.get(waiting["overdue_url"]).context["cl"].result_count == 1
    assert client.get(waiting["url"]).context["cl"].result_count == 2
    shown = dashboard["low_stock"]
    assert shown["count"] >= 1 and shown["first"][0]["variant__sku"] == "LOW-1"
    assert low.pk in [row["pk"] for row in shown["first"]]
    assert client.get(shown["url"]).context["cl"].result_count == shown["count"]


def test_the_number_of_queries_does_not_grow_with_the_shop(client, world):  # noqa: F811
    admin = factories.UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse(INDEX)).status_code == 200
        return len(queries)

    today = timezone.localdate()
    rollup(today, world["cup"])  # one product sold: the named top list is there from the start
    few = count()
    for n in range(20):
        v = factories.VariantFactory(product=factories.ProductFactory(department=world["a"]), sku=f"Q-{n}")
        factories.StockFactory(variant=v, on_hand=1)
        for d in range(5):
            rollup(today - dt.timedelta(days=d), v)
    assert count() <= few


def test_the_dashboard_is_the_index_page_and_time_zone_days(client, world):  # noqa: F811
    # Paid at 23:30 on the 9th, Shanghai time (15:30 UTC): the 9th's sales, not the 10th's.
    when = timezone.make_aware(dt.datetime(2026, 10, 9, 23, 30))
    with time_machine.travel(when, tick=True):
        buy([(world["cup"], 1)])
        dashboard = board(client, factories.UserFactory(is_staff=True, is_superuser=True))
    assert figure(dashboard, 0, "Sales")["value"] == "¥50.00"
    assert DailySales.objects.get().day == dt.date(2026, 10, 9)
