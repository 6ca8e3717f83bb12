"""The stock invariants of DESIGN.md (Stock), as a property: whatever sequence of stock counts,
deliveries, orders, cancellations, payments, shipments, returns and re-routes happens, every
stock row keeps 0 <= reserved <= on_hand, equals the sums of its movements, reserves exactly
its held reservations, and holds the units a simple model of the warehouse says it holds.

Hypothesis drives a state machine; each of its runs is rolled back to a savepoint taken in
the test's transaction, so every run starts with empty shelves in the same warehouses."""

from collections import Counter, defaultdict

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from cart.exceptions import CartError, CartErrorCode
from fulfillment import services
from fulfillment.exceptions import FulfillmentError, FulfillmentErrorCode
from fulfillment.models import Reservation, Shipment, ShipmentLine, Stock, StockMovement
from orders.models import Order
from orders.services import order_cancel, order_mark_paid
from tests.fulfillment.support import placed_order, stock, variant, warehouses

pytestmark = pytest.mark.django_db
Reason = StockMovement.Reason
Status = Order.Status

# Where customers live: near one warehouse or another, far from all, or nowhere we know.
ADDRESSES = [("上海", "上海"), ("广东", "广州"), ("北京", "北京"), ("江苏", "南京"), ("新疆", "乌鲁木齐"), ("火星", "")]


def stock_figures() -> dict[tuple[int, int], tuple[int, int]]:
    """(warehouse, variant) -> (on_hand, reserved), read from the database."""
    return {
        (w, v): (h, r) for w, v, h, r in Stock.objects.values_list("warehouse_id", "variant_id", "on_hand", "reserved")
    }


class StockMachine(RuleBasedStateMachine):
    """The model: units on hand per (warehouse, variant), and per order the units still owed
    (ordered, not cancelled, not yet shipped), which is what its held reservations must add up to."""

    seen: Counter = Counter()  # what the runs did, all together

    def __init__(self, places, variants):
        super().__init__()
        self.places = places
        self.variants = variants
        self.on_hand: dict[tuple[int, int], int] = defaultdict(int)
        self.owed: dict[int, dict[int, int]] = {}  # order id -> variant id -> units
        self.status: dict[int, str] = {}  # order id -> status
        self._savepoint = transaction.atomic()
        self._savepoint.__enter__()

    def teardown(self):
        transaction.set_rollback(True)
        self._savepoint.__exit__(None, None, None)

    # -- helpers ---------------------------------------------------------------------------------

    def free(self, variant_id: int) -> int:
        """Units of a variant that can still be promised, all warehouses together."""
        on_hand = sum(n for (_w, v), n in self.on_hand.items() if v == variant_id)
        return on_hand - sum(owed.get(variant_id, 0) for owed in self.owed.values())

    def orders_in(self, status: str) -> list[int]:
        return sorted(pk for pk, s in self.status.items() if s == status)

    def open_parcels(self) -> list[int]:
        return sorted(
            Shipment.objects.filter(order_id__in=self.orders_in(Status.PAID), status__in=Shipment.OPEN).values_list(
                "pk", flat=True
            )
        )

    # -- rules -----------------------------------------------------------------------------------

    @initialize(data=st.data())
    def first_listing(self, data):
        """Most places list most variants; some get their stock row only on a first delivery."""
        for place in self.places:
            for item in self.variants:
                on_hand = data.draw(st.one_of(st.none(), st.integers(0, 6)), label=f"{place.code} {item.sku}")
                if on_hand is not None:
                    stock(place, item, on_hand)
                    self.on_hand[(place.pk, item.pk)] = on_hand

    @rule(data=st.data(), on_hand=st.integers(0, 8))
    def count_stock(self, data, on_hand):
        place, item = data.draw(st.sampled_from(self.places)), data.draw(st.sampled_from(self.variants))
        reserved = stock_figures().get((place.pk, item.pk), (0, 0))[1]
        movements = StockMovement.objects.count()
        if on_hand < reserved:
            with pytest.raises(ValueError, match="below"):
                services.stock_set_on_hand(warehouse_id=place.pk, variant_id=item.pk, on_hand=on_hand)
            assert StockMovement.objects.count() == movements
            return
        changed = on_hand != self.on_hand[(place.pk, item.pk)]
        services.stock_set_on_hand(warehouse_id=place.pk, variant_id=item.pk, on_hand=on_hand)
        assert StockMovement.objects.count() == movements + changed  # an unchanged count writes nothing
        self.on_hand[(place.pk, item.pk)] = on_hand

    @rule(data=st.data(), quantity=st.integers(1, 5), returned=st.booleans())
    def receive(self, data, quantity, returned):
        """A delivery from a supplier, or units a customer sent back."""
        place, item = data.draw(st.sampled_from(self.places)), data.draw(st.sampled_from(self.variants))
        reason = Reason.RETURN if returned else Reason.RECEIVE
        movement = services.stock_receive(warehouse_id=place.pk, variant_id=item.pk, quantity=quantity, reason=reason)
        assert (movement.reason, movement.on_hand_delta, movement.reserved_delta) == (reason, quantity, 0)
        self.on_hand[(place.pk, item.pk)] += quantity

    @rule(data=st.data(), address=st.sampled_from(ADDRESSES), pay_at_once=st.booleans())
    def place_order(self, data, address, pay_at_once):
        items = data.draw(
            st.dictionaries(st.sampled_from(self.variants), st.integers(1, 3), min_size=1, max_size=len(self.variants))
        )
        movements, figures = StockMovement.objects.count(), stock_figures()
        if any(quantity > self.free(item.pk) for item, quantity in items.items()):
            with pytest.raises(CartError) as refused:
                placed_order(list(items.items()), province=address[0], city=address[1])
            assert refused.value.code == CartErrorCode.OUT_OF_STOCK
            assert (StockMovement.objects.count(), stock_figures()) == (movements, figures)
            self.seen["out of stock"] += 1
            return
        order = placed_order(list(items.items()), province=address[0], city=address[1])
        self.owed[order.pk] = {item.pk: quantity for item, quantity in items.items()}
        self.status[order.pk] = Status.PENDING_PAYMENT
        self.seen["placed"] += 1
        if pay_at_once:
            self.pay(order.pk)

    @precondition(lambda self: self.orders_in(Status.PENDING_PAYMENT))
    @rule(data=st.data())
    def cancel_unpaid(self, data):
        order_id = data.draw(st.sampled_from(self.orders_in(Status.PENDING_PAYMENT)))
        order_cancel(order_id=order_id, actor_kind="system", reason="not paid in time")
        assert not Reservation.objects.filter(order_id=order_id, state=Reservation.State.HELD).exists()
        self.owed[order_id] = {}
        self.status[order_id] = Status.CANCELLED

    @precondition(lambda self: self.orders_in(Status.PENDING_PAYMENT))
    @rule(data=st.data())
    def pay_later(self, data):
        self.pay(data.draw(st.sampled_from(self.orders_in(Status.PENDING_PAYMENT))))

    def pay(self, order_id: int) -> None:
        order = Order.objects.get(pk=order_id)
        movements = StockMovement.objects.count()
        order_mark_paid(order_id=order_id, amount=order.total, reference="state-machine")
        assert StockMovement.objects.count() == movements  # paying makes parcels, it moves no stock
        assert order.shipments.filter(status=Shipment.Status.PENDING).exists()
        self.status[order_id] = Status.PAID

    @precondition(lambda self: self.orders_in(Status.PAID))
    @rule(data=st.data())
    def ship_parcel(self, data):
        parcels = self.open_parcels()
        assert parcels, "a paid order has units left to ship"
        parcel = Shipment.objects.get(pk=data.draw(st.sampled_from(parcels)))
        leaving = list(
            parcel.lines.values_list("reservation__stock__warehouse_id", "reservation__variant_id", "quantity")
        )
        services.shipment_ship(shipment_id=parcel.pk, carrier="own_fleet")
        for warehouse_id, variant_id, quantity in leaving:
            assert warehouse_id == parcel.warehouse_id
            self.on_hand[(warehouse_id, variant_id)] -= quantity
            self.owed[parcel.order_id][variant_id] -= quantity
        if not any(self.owed[parcel.order_id].values()):
            self.status[parcel.order_id] = Status.SHIPPED
        self.seen["shipped"] += 1
        assert Order.objects.get(pk=parcel.order_id).status == self.status[parcel.order_id]

    @precondition(lambda self: self.orders_in(Status.PAID))
    @rule(data=st.data())
    def reroute(self, data):
        order_id = data.draw(st.sampled_from(self.orders_in(Status.PAID)))
        target = data.draw(st.sampled_from([None, *self.places]))
        moving = Reservation.objects.filter(
            order_id=order_id, state=Reservation.State.HELD, shipment_line__shipment__status__in=Shipment.OPEN
        )
        wanted: dict[int, int] = defaultdict(int)
        own: dict[tuple[int, int], int] = defaultdict(int)
        for warehouse_id, variant_id, quantity in moving.values_list("stock__warehouse_id", "variant_id", "quantity"):
            wanted[variant_id] += quantity
            own[(warehouse_id, variant_id)] += quantity
        figures = stock_figures()

        def free_at(place, variant_id) -> int:
            on_hand, reserved = figures.get((place.pk, variant_id), (0, 0))
            return on_hand - reserved + own[(place.pk, variant_id)]

        before = (figures, StockMovement.objects.count(), reservations_of(order_id), parcels_of(order_id))
        if not wanted:
            expected = FulfillmentErrorCode.NOTHING_TO_REROUTE
        elif target is not None and any(free_at(target, v) < n for v, n in wanted.items()):
            expected = FulfillmentErrorCode.CANNOT_SERVE
        else:
            expected = None
        if expected is not None:
            with pytest.raises(FulfillmentError) as refused:
                services.order_reroute(order_id=order_id, warehouse_id=target and target.pk)
            assert refused.value.code == expected
            after = (stock_figures(), StockMovement.objects.count(), reservations_of(order_id), parcels_of(order_id))
            assert after == before
            return
        created = services.order_reroute(order_id=order_id, warehouse_id=target and target.pk)
        assert created
        if target is not None:
            assert {p.warehouse_id for p in created} == {target.pk}
        self.seen["re-routed"] += 1

    # -- invariants ------------------------------------------------------------------------------

    @invariant()
    def reserved_within_on_hand_and_equal_to_the_sums_of_movements(self):
        totals = services.stock_movement_totals()
        held = dict(
            Reservation.objects.filter(state=Reservation.State.HELD)
            .values("stock_id")
            .annotate(units=Sum("quantity"))
            .values_list("stock_id", "units")
        )
        for pk, on_hand, reserved in Stock.objects.values_list("pk", "on_hand", "reserved"):
            assert 0 <= reserved <= on_hand
            assert totals.get(pk, (0, 0)) == (on_hand, reserved)
            assert held.get(pk, 0) == reserved

    @invariant()
    def on_hand_is_what_the_model_says(self):
        actual = {key: on_hand for key, (on_hand, _reserved) in stock_figures().items() if on_hand}
        assert actual == {key: on_hand for key, on_hand in self.on_hand.items() if on_hand}

    @invariant()
    def each_order_holds_what_it_still_owes(self):
        held: dict[int, dict[int, int]] = defaultdict(dict)
        for order_id, variant_id, units in (
            Reservation.objects.filter(state=Reservation.State.HELD)
            .values("order_id", "variant_id")
            .annotate(units=Sum("quantity"))
            .values_list("order_id", "variant_id", "units")
        ):
            held[order_id][variant_id] = units
        for order_id, owed in self.owed.items():
            assert held.get(order_id, {}) == {v: n for v, n in owed.items() if n}

    @invariant()
    def paid_orders_held_units_are_in_open_parcels_of_their_warehouse(self):
        in_parcels = set()
        for reservation_id, state, parcel_place, stock_place, parcel_units, units in ShipmentLine.objects.filter(
            shipment__status__in=Shipment.OPEN
        ).values_list(
            "reservation_id",
            "reservation__state",
            "shipment__warehouse_id",
            "reservation__stock__warehouse_id",
            "quantity",
            "reservation__quantity",
        ):
            assert (state, parcel_place, parcel_units) == (Reservation.State.HELD, stock_place, units)
            in_parcels.add(reservation_id)
        held_paid = set(
            Reservation.objects.filter(state=Reservation.State.HELD, order__status=Status.PAID).values_list(
                "pk", flat=True
            )
        )
        assert in_parcels == held_paid


def reservations_of(order_id: int) -> list[tuple]:
    return sorted(Reservation.objects.filter(order_id=order_id).values_list("pk", "stock_id", "quantity", "state"))


def parcels_of(order_id: int) -> list[tuple]:
    return sorted(Shipment.objects.filter(order_id=order_id).values_list("pk", "warehouse_id", "status"))


def test_stock_invariants_hold_under_any_sequence_of_changes():
    places = list(warehouses().values())[:3]  # Beijing, Shanghai, Guangzhou
    variants = [variant(price="20.00"), variant(price="35.00"), variant(price="60.00")]
    StockMachine.seen.clear()
    # Derandomized: the same 30 runs every time, so the coverage check below cannot fail on a
    # draw that happened not to re-route (it did, now and then, with a random seed).
    run_state_machine_as_test(
        lambda: StockMachine(places, variants),
        settings=hypothesis_settings(max_examples=30, stateful_step_count=25, deadline=None, derandomize=True),
    )
    # Not a vacuous pass: the runs together placed, refused, shipped and re-routed orders.
    assert {"placed", "out of stock", "shipped", "re-routed"} <= set(StockMachine.seen)


# -- refused changes write nothing ----------------------------------------------------------------


@pytest.fixture
def shelf():
    """Shanghai has 5 of a variant, 3 of them reserved by an unpaid order."""
    places = warehouses()
    item = variant()
    stock(places["sh"], item, 5)
    order = placed_order([(item, 3)])
    row = Stock.objects.get(warehouse=places["sh"], variant=item)
    return places, item, order, row


def unchanged(row: Stock) -> tuple:
    row.refresh_from_db()
    return (row.on_hand, row.reserved, StockMovement.objects.count())


def test_counting_below_reserved_or_below_zero_is_refused_and_changes_nothing(shelf):
    places, item, _order, row = shelf
    before = unchanged(row)
    for count in (2, -1):
        with pytest.raises(ValueError):
            services.stock_set_on_hand(warehouse_id=places["sh"].pk, variant_id=item.pk, on_hand=count)
        assert unchanged(row) == before == (5, 3, 2)


def test_committing_a_released_or_shipped_reservation_is_refused_and_changes_nothing(shelf):
    _places, _item, order, row = shelf
    (reservation,) = order.reservations.all()
    assert services.stock_release(order=order) == 3
    assert services.stock_release(order=order) == 0  # again: nothing left to give back
    reservation.refresh_from_db()
    before = unchanged(row)
    assert before == (5, 0, 3)
    with pytest.raises(services.StockRefused):
        services.stock_commit(reservations=[reservation], reference="X-1")
    assert unchanged(row) == before

    Reservation.objects.filter(pk=reservation.pk).update(state=Reservation.State.SHIPPED)
    reservation.refresh_from_db()
    with pytest.raises(services.StockRefused):
        services.stock_commit(reservations=[reservation], reference="X-2")
    assert unchanged(row) == before


def test_reserving_more_than_is_free_is_refused_and_changes_nothing(shelf):
    places, item, order, row = shelf
    stock(places["bj"], item, 1)
    before = unchanged(row), StockMovement.objects.count()
    with pytest.raises(services.OutOfStock) as refused, transaction.atomic():
        services.stock_reserve(order=order, wanted={item.pk: 4})
    assert refused.value.shortages == {item.pk: (4, 3)}  # 2 free in Shanghai, 1 in Beijing
    assert (unchanged(row), StockMovement.objects.count()) == before


def test_a_move_that_would_break_the_rule_is_not_made_and_not_recorded(shelf):
    from fulfillment.services.stock import _move

    _places, _item, _order, row = shelf
    before = unchanged(row)
    assert _move(row.pk, Reason.RESERVE, reserved=3) is None  # 6 reserved of 5
    assert _move(row.pk, Reason.SHIP, on_hand=-3) is None  # 2 on hand, 3 reserved
    assert _move(row.pk, Reason.RELEASE, reserved=-4) is None  # -1 reserved
    assert unchanged(row) == before
    moved = _move(row.pk, Reason.SHIP, on_hand=-2, reserved=-2, reference="X-3")
    assert (moved.on_hand_after, moved.reserved_after) == (3, 1)
    assert unchanged(row) == (3, 1, before[2] + 1)
