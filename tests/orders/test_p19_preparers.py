"""shop.core.inserts keeps its value converters for the process (_preparers); they hold no database
connection (P19). Django's connections are one per thread: a kept one would be the first
thread's, used by every other thread's inserts and kept alive after that thread ends. The
converters take the insert's connection as an argument, and give the ORM's values with it."""

import threading
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.operations import BaseDatabaseOperations
from django.utils import timezone

from fulfillment.models import Shipment, ShipmentLine
from orders.models import Notification, Order, OrderEvent, OrderLine
from payments.models import Payment, WalletEntry
from shop.core.inserts import _fields, _preparers

pytestmark = pytest.mark.django_db

_MODELS = (Order, OrderLine, OrderEvent, Notification, Payment, WalletEntry, Shipment, ShipmentLine)


def _reachable(obj, seen=None):
    """Everything a converter keeps: its closure's cells, defaults, bound self, recursively."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    yield obj
    kept = []
    if hasattr(obj, "__self__") and hasattr(obj, "__func__"):  # a bound method
        kept += [obj.__self__, obj.__func__]
    for cell in getattr(obj, "__closure__", None) or ():
        kept.append(cell.cell_contents)
    kept += list(getattr(obj, "__defaults__", None) or ())
    for more in kept:
        if callable(more) or isinstance(more, (BaseDatabaseWrapper, BaseDatabaseOperations)):
            yield from _reachable(more, seen)


def test_the_kept_converters_hold_no_connection():
    if connection.vendor != "postgresql":
        pytest.skip("the quick preparers are PostgreSQL's")
    converters = 0
    for model in _MODELS:
        for how in _preparers(model, False, connection.vendor, connection.alias):
            if how is None or how[2] is None:
                continue
            converters += 1
            held = [o for o in _reachable(how[2]) if isinstance(o, (BaseDatabaseWrapper, BaseDatabaseOperations))]
            assert held == [], (model.__name__, how[0])
    assert converters >= 20  # integers, keys, decimals, datetimes of eight models


def test_another_threads_converters_give_the_orms_values_with_its_own_connection():
    if connection.vendor != "postgresql":
        pytest.skip("the quick preparers are PostgreSQL's")
    now = timezone.now()
    order = Order(pk=7, number="P19", customer_id=3, subtotal=Decimal("12.30"), total=Decimal("12.30"), placed_at=now)
    expected = {}
    got = {}

    def prepare(into, *, close=False):
        on = connections["default"]  # this thread's connection
        for field, how in zip(_fields(Order, False), _preparers(Order, False, on.vendor, on.alias), strict=True):
            value = getattr(order, field.attname)
            if how is not None and how[2] is not None and type(value) in how[1]:
                into[field.attname] = (how[2](value, on), field.get_db_prep_save(value, on))
        if close:  # the thread's own (never opened: preparing needs no round trip)
            on.close()

    prepare(expected)
    thread = threading.Thread(target=prepare, args=(got,), kwargs={"close": True})
    thread.start()
    thread.join()
    assert got.keys() == expected.keys() and {"customer_id", "subtotal", "placed_at"} <= got.keys()
    for name, (quick, orm) in got.items():
        assert quick == orm and type(quick) is type(orm), name
