"""The daily sales rollup takes its row locks in key order, whatever order the lines came in.

Two payments of carts holding the same variants in opposite line orders write the same rollup
rows (a row per variant and department, a total per department); in line order, each could lock
one department's total and wait for the other's (a deadlock PostgreSQL breaks by failing one
payment)."""

import datetime as dt
import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction

from orders.models import DailySales
from orders.sales import SalesRow, daily_sales_add
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True)]

DAY = dt.date(2026, 11, 2)


def _row(variant, department_id: int) -> SalesRow:
    return SalesRow(
        day=DAY, variant_id=variant.pk, product_id=variant.product_id, department_id=department_id,
        units=1, orders=1, product_orders=1, gross=Decimal("10.00"),
    )  # fmt: skip


def _waiting_for_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        found = cursor.fetchone()
    return bool(found) and found[0] == "Lock"


def test_rows_written_in_opposite_orders_do_not_deadlock():
    one, two = sorted((factories.DepartmentFactory(), factories.DepartmentFactory()), key=lambda d: d.pk)
    first, second = sorted((factories.VariantFactory(), factories.VariantFactory()), key=lambda v: v.pk)
    daily_sales_add(
        [_row(first, one.pk), _row(second, two.pk)]
    )  # both rows exist: the next writes lock them (ON CONFLICT ... UPDATE)

    outcome: dict = {}
    other_pid: list[int] = []

    def other_payment():
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    other_pid.append(cursor.fetchone()[0])
                daily_sales_add([_row(second, two.pk), _row(first, one.pk)])  # its lines: second, first
            outcome["other"] = "committed"
        except Exception as exc:  # asserted on below
            outcome["other"] = exc
        finally:
            connections.close_all()

    thread = None
    try:
        with transaction.atomic():
            daily_sales_add([_row(first, one.pk)])  # this payment holds the first department's rows
            thread = threading.Thread(target=other_payment)
            thread.start()
            deadline = time.monotonic() + 20
            while not (other_pid and _waiting_for_a_lock(other_pid[0])):
                assert time.monotonic() < deadline, "the other payment never waited for a row lock"
                time.sleep(0.01)
            # In line order the other payment holds the second department's total and waits
            # for the first's: taking the second now would deadlock. In key order it waits
            # for the first before locking anything.
            daily_sales_add([_row(second, two.pk)])
        outcome["this"] = "committed"
    except Exception as exc:  # asserted on below
        outcome["this"] = exc
    if thread is not None:
        thread.join(timeout=30)
    assert outcome == {"this": "committed", "other": "committed"}
    assert sorted(DailySales.objects.values_list("units", flat=True)) == [3, 3]
