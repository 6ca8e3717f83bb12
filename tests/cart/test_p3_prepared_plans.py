"""The place step's statements are prepared on the connection (bind_on_server): PostgreSQL then
plans each only for its first few runs and keeps a generic plan. The stock lock's `= ANY($1)`
never got there (its generic plan was costed for an array of unknown length, dearer than a
cart's custom plan), so it was planned on every placement."""

import pytest
from django.db import connection

from catalog.models import ProductVariant
from fulfillment.models import Stock
from fulfillment.services.stock import stock_lock_for_variants
from shop.core.postgresql.base import bind_on_server
from tests.purchase import stocked_variant

pytestmark = pytest.mark.django_db

RUNS = 10


def _clone(model, template_pk: int, copies: str, changed: dict[str, str]) -> None:
    """Rows copied from one by SQL (`copies`: a FROM clause adding rows; `changed`: column ->
    expression), many at once where factories would take minutes."""
    columns = [f.column for f in model._meta.concrete_fields if not f.primary_key]
    table = model._meta.db_table
    select = ", ".join(changed.get(c, f"t.{c}") for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select} FROM {table} t, {copies} WHERE t.id = %s",  # noqa: S608 - names from the models and this test
            [template_pk],
        )


def _plans(fragment: str) -> list[tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            [f"%{fragment}%"],
        )
        return cursor.fetchall()


@pytest.mark.parametrize("n", [1, 3])
def test_the_stock_lock_keeps_a_generic_plan_once_prepared(n):
    variants = [stocked_variant(on_hand=5) for _ in range(n)]
    # A catalogue's worth of stock rows (a variant has one of a few thousand), so that the
    # planner costs the statement as on a live database.
    _clone(ProductVariant, variants[0].pk, "generate_series(1, 3000) g", {"sku": "t.sku || '-' || g"})
    stock = Stock.objects.get(variant=variants[0])
    others = "(SELECT id FROM catalog_productvariant WHERE id NOT IN (SELECT variant_id FROM fulfillment_stock)) v"
    _clone(Stock, stock.pk, others, {"variant_id": "v.id"})
    with connection.cursor() as cursor:  # statistics, as a live database has them
        cursor.execute("ANALYZE fulfillment_stock")
        cursor.execute("ANALYZE fulfillment_warehouse")
    with bind_on_server():
        for _ in range(RUNS):
            locked = stock_lock_for_variants([v.pk for v in variants])
            assert sorted(v for _w, v in locked) == sorted(v.pk for v in variants)
    ((generic, custom),) = _plans("FOR UPDATE OF s")
    assert generic + custom >= RUNS - 2  # prepared from its second run
    assert custom <= 5, (generic, custom)  # was: a custom plan every time
