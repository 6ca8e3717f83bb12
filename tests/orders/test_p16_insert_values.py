"""shop.core.inserts prepares the commonest values of Django's own fields in fewer calls than the
ORM's get_db_prep_save(pre_save(...)): the same values of the same types (psycopg's integer
types included), checked on every row a purchase paid from the wallet inserts and on values the
quick path must hand back to the ORM (naive datetimes, non-finite decimals, booleans in integer
fields, values of other types)."""

import datetime
import warnings
from decimal import Decimal

import pytest
from django.db import connection, models
from django.utils import timezone

from orders.models import Order, OrderEvent, OrderLine
from payments.services import wallet_top_up
from shop.core import inserts
from tests.orders.test_checkout_queries import place_with_wallet, variants
from tests.purchase import buyer_with_cart, place

pytestmark = pytest.mark.django_db


def _the_orms(objs, fields) -> list:
    return [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for obj in objs for f in fields]


def _same(ours: list, orms: list) -> None:
    assert [type(v) for v in ours] == [type(v) for v in orms]
    # psycopg's JSON wrapper has no equality of its own: its object compared
    assert [getattr(v, "obj", v) for v in ours] == [getattr(v, "obj", v) for v in orms]


@pytest.fixture
def frozen_now(monkeypatch):
    """One instant for every timezone.now(): auto_now fields give the same value twice."""
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)
    return now


def test_every_row_of_a_purchase_gets_the_orms_values(client, frozen_now, monkeypatch):
    place_with_wallet(client, 2)  # warms up
    user, address, cart = buyer_with_cart([(v, 2) for v in variants(2)])
    wallet_top_up(user=user, amount=Decimal("1000.00"), reference="top-up-p16")
    seen = []
    values = inserts._values

    def checked(objs, model, fields, conn, keyed, pending=None):
        params, refs = values(objs, model, fields, conn, keyed, pending)
        if not refs:  # a row referring to one of the same statement: its key is in the SQL
            _same(params, _the_orms(objs, fields))
        seen.append(model.__name__)
        return params, refs

    monkeypatch.setattr(inserts, "_values", checked)
    order = place(user, address, cart, payment_method="wallet")

    assert order.status == Order.Status.PAID
    assert set(seen) >= {"Order", "OrderLine", "OrderEvent", "Notification", "Payment", "Shipment", "ShipmentLine"}


def test_a_purchase_prepares_most_values_without_the_orms_calls(client, monkeypatch):
    place_with_wallet(client, 2)  # warms up
    user, address, cart = buyer_with_cart([(v, 2) for v in variants(2)])
    wallet_top_up(user=user, amount=Decimal("1000.00"), reference="top-up-p16")
    calls = []
    prep = models.Field.get_db_prep_save
    monkeypatch.setattr(models.Field, "get_db_prep_save", lambda *a, **k: calls.append(a[0]) or prep(*a, **k))
    place(user, address, cart, payment_method="wallet")
    monkeypatch.undo()
    # Every field of every row took the ORM's path (over 100 calls): now only the timestamps
    # set by the ORM (auto_now), the mail's JSON, the keyed order's key and the like.
    assert len(calls) < 30, sorted({f"{f.model.__name__}.{f.name}" for f in calls})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("note", "备注"),
        ("note", None),
        ("total", Decimal("12.30")),
        ("total", Decimal("NaN")),  # refused by the field, as before
        ("total", 12),  # another type: the ORM's path
        ("insured", True),
        ("placed_at", datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)),
        ("placed_at", datetime.datetime(2026, 1, 2, 3, 4, 5)),  # naive: made aware with a warning
        ("paid_at", None),
        ("customer_id", 5),
        ("customer_id", None),
        ("customer_id", "5"),
    ],
)
def test_a_value_is_prepared_as_the_orm_prepares_it(field, value, frozen_now):
    order = Order(id=7, number="n", customer_id=1, subtotal=1, total=1, placed_at=frozen_now, pay_by=frozen_now)
    setattr(order, field, value)
    fields = inserts._fields(Order, True)
    with warnings.catch_warnings():  # a naive datetime: the field warns, either way
        warnings.simplefilter("ignore")
        try:
            orms = _the_orms([order], fields)
        except Exception as exc:  # the same error either way
            with pytest.raises(type(exc)):
                inserts._values([order], Order, fields, connection, True)
            return
        ours, _refs = inserts._values([order], Order, fields, connection, True)
    _same(ours, orms)


def test_integer_fields_keep_psycopgs_integer_types_and_booleans_take_the_orms_path():
    line = OrderLine(order_id=3, variant_id=4, quantity=True, unit_price=Decimal("1.00"), line_total=Decimal("1.00"))
    event = OrderEvent(order_id=3, to_status="paid")
    for obj, model in ((line, OrderLine), (event, OrderEvent)):
        fields = inserts._fields(model, False)
        ours, _refs = inserts._values([obj], model, fields, connection, False)
        _same(ours, _the_orms([obj], fields))
