"""Routing: which warehouses an order's units come from (DESIGN.md, Stock: the nearest
warehouse that can serve the order whole, otherwise split), first as the pure planner, then
through placing and paying orders, and staff re-routing parcels that have not left."""

from decimal import Decimal
from itertools import combinations

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from fulfillment import services
from fulfillment.exceptions import FulfillmentError, FulfillmentErrorCode
from fulfillment.geo import locate
from fulfillment.models import Reservation, Shipment, Stock, StockMovement
from fulfillment.services.routing import Unroutable, plan_route, warehouses_by_distance
from tests.fulfillment.support import paid_order, stock, variant, warehouses

A, B, C = 101, 102, 103  # variant ids for the pure cases
BEIJING, SHANGHAI = locate("北京"), locate("上海")


# -- the planner, pure ------------------------------------------------------------------------


def test_whole_from_the_nearest_that_can_serve_it_all_even_when_a_nearer_one_has_part():
    available = {(1, A): 2, (1, B): 0, (2, B): 1, (3, A): 2, (3, B): 1, (4, A): 9, (4, B): 9}
    assert plan_route({A: 2, B: 1}, available, [1, 2, 3, 4]) == {3: {A: 2, B: 1}}
    # Nearest means the ranking, not the id.
    assert plan_route({A: 2, B: 1}, available, [4, 3, 2, 1]) == {4: {A: 2, B: 1}}


def test_split_into_the_fewest_parcels_not_the_nearest_first_fill():
    # Filling from the nearest would take 1, 2 and 3; 1 and 4 make two parcels.
    available = {(1, A): 2, (2, B): 2, (3, C): 1, (4, B): 2, (4, C): 1}
    assert plan_route({A: 2, B: 2, C: 1}, available, [1, 2, 3, 4]) == {1: {A: 2}, 4: {B: 2, C: 1}}


def test_among_equal_counts_the_nearest_warehouses_are_chosen_and_emptied_first():
    available = {(1, A): 1, (2, B): 1, (3, A): 1, (4, B): 1}
    assert plan_route({A: 1, B: 1}, available, [1, 2, 3, 4]) == {1: {A: 1}, 2: {B: 1}}
    assert plan_route({A: 1, B: 1}, available, [4, 3, 2, 1]) == {4: {B: 1}, 3: {A: 1}}
    # One variant from two warehouses: the nearer gives all it has, the other the rest.
    assert plan_route({A: 5}, {(1, A): 3, (2, A): 3, (3, A): 4}, [1, 2, 3]) == {1: {A: 3}, 2: {A: 2}}
    assert plan_route({A: 5}, {(1, A): 3, (2, A): 3, (3, A): 4}, [3, 2, 1]) == {3: {A: 4}, 2: {A: 1}}


def test_warehouses_rank_by_distance_and_an_unknown_address_ranks_them_by_id():
    places = {3: SHANGHAI, 1: BEIJING, 2: None}
    assert warehouses_by_distance(places, locate("江苏", "南京")) == [3, 1, 2]  # a place unknown ranks last
    assert warehouses_by_distance(places, locate("黑龙江", "哈尔滨")) == [1, 3, 2]
    nowhere = locate("火星", "奥林帕斯")
    assert nowhere is None
    assert warehouses_by_distance(places, nowhere) == [1, 2, 3]
    available = {(1, A): 1, (2, A): 5, (3, A): 5}
    assert plan_route({A: 2}, available, warehouses_by_distance(places, nowhere)) == {2: {A: 2}}


def test_unroutable_names_every_shortage_counting_only_the_candidate_warehouses():
    available = {(1, A): 1, (2, A): 1, (1, B): 5, (9, C): 9}  # 9 is not a candidate
    with pytest.raises(Unroutable) as refused:
        plan_route({A: 3, B: 1, C: 2}, available, [1, 2])
    assert refused.value.shortages == {A: (3, 2), C: (2, 0)}


def test_nothing_wanted_needs_no_parcel():
    assert plan_route({A: 0}, {(1, A): 5}, [1]) == {}


def serves(group, wanted, available) -> bool:
    return all(sum(available.get((w, v), 0) for w in group) >= n for v, n in wanted.items())


@st.composite
def routing_problems(draw):
    ranked = draw(st.permutations(range(1, draw(st.integers(1, 6)) + 1)))
    variants = draw(st.lists(st.sampled_from([A, B, C]), min_size=1, max_size=3, unique=True))
    wanted = {v: draw(st.integers(1, 6)) for v in variants}
    available = {(w, v): draw(st.integers(0, 6)) for w in ranked for v in variants}
    return wanted, available, list(ranked)


@hypothesis_settings(max_examples=300, deadline=None)
@given(routing_problems())
def test_any_plan_serves_exactly_what_was_wanted_from_the_fewest_nearest_warehouses(problem):
    wanted, available, ranked = problem
    if not serves(ranked, wanted, available):
        with pytest.raises(Unroutable):
            plan_route(wanted, available, ranked)
        return
    plan = plan_route(wanted, available, ranked)
    for v, n in wanted.items():
        assert sum(units.get(v, 0) for units in plan.values()) == n
    assert all(0 < n <= available[(w, v)] for w, units in plan.items() for v, n in units.items())
    # The oracle: the first group, by size and then by ranking, that can serve it all.
    fewest = next(
        group
        for size in range(1, len(ranked) + 1)
        for group in combinations(ranked, size)
        if serves(group, wanted, available)
    )
    assert set(plan) == set(fewest)


# -- through placing and paying orders ---------------------------------------------------------


@pytest.fixture
def places(db):
    return warehouses()


def levels(warehouse, v) -> tuple[int, int]:
    return tuple(Stock.objects.filter(warehouse=warehouse, variant=v).values_list("on_hand", "reserved").get())


def held(order) -> set[tuple[str, int, int]]:
    """(warehouse code, variant id, units) of an order's held reservations."""
    return set(
        Reservation.objects.filter(order=order, state=Reservation.State.HELD).values_list(
            "stock__warehouse__code", "variant_id", "quantity"
        )
    )


def open_parcels(order) -> list[Shipment]:
    return list(order.shipments.filter(status__in=Shipment.OPEN).order_by("pk"))


def assert_parcels_follow_reservations(order) -> None:
    """Every held reservation is in exactly one open parcel of its own warehouse, one parcel
    per warehouse, with a line of the same units for the same order line."""
    parcels = open_parcels(order)
    assert len({p.warehouse_id for p in parcels}) == len(parcels)
    lines = [(line, parcel) for parcel in parcels for line in parcel.lines.select_related("reservation", "order_line")]
    assert sorted(line.reservation_id for line, _p in lines) == sorted(
        Reservation.objects.filter(order=order, state=Reservation.State.HELD).values_list("pk", flat=True)
    )
    for line, parcel in lines:
        reservation = line.reservation
        assert reservation.stock.warehouse_id == parcel.warehouse_id
        assert line.quantity == reservation.quantity
        assert line.order_line.variant_id == reservation.variant_id


def assert_movements_add_up() -> None:
    totals = services.stock_movement_totals()
    for row in Stock.objects.all():
        assert totals.get(row.pk, (0, 0)) == (row.on_hand, row.reserved)


@pytest.mark.django_db
def test_a_nanjing_customer_is_served_whole_from_shanghai(places):
    a, b = variant(), variant()
    for code in ("sh", "bj", "cd", "gz"):
        stock(places[code], a, 5)
        stock(places[code], b, 5)
    order = paid_order([(a, 2), (b, 1)], province="江苏省", city="南京市")
    assert held(order) == {("sh", a.pk, 2), ("sh", b.pk, 1)}
    (parcel,) = open_parcels(order)
    assert parcel.warehouse.code == "sh"
    assert_parcels_follow_reservations(order)
    assert levels(places["sh"], a) == (5, 2) and levels(places["bj"], a) == (5, 0)


@pytest.mark.django_db
def test_a_guangzhou_basket_only_beijing_and_chengdu_can_serve_together_makes_two_parcels(places):
    a, b = variant(), variant()
    # The nearer two have part of it: with either of them it would take three parcels.
    stock(places["gz"], a, 1)
    stock(places["sh"], a, 1)
    stock(places["bj"], a, 5)
    stock(places["cd"], b, 5)
    order = paid_order([(a, 2), (b, 1)], province="广东", city="广州")
    assert held(order) == {("bj", a.pk, 2), ("cd", b.pk, 1)}
    assert sorted(p.warehouse.code for p in open_parcels(order)) == ["bj", "cd"]
    assert_parcels_follow_reservations(order)
    assert levels(places["gz"], a) == (1, 0) and levels(places["sh"], a) == (1, 0)


@pytest.mark.django_db
def test_a_split_takes_each_variant_from_the_nearest_of_the_parcels_warehouses(places):
    a, b = variant(), variant()
    stock(places["sh"], a, 2)
    stock(places["bj"], a, 2)
    stock(places["bj"], b, 3)
    order = paid_order([(a, 3), (b, 1)], province="上海", city="上海")
    assert held(order) == {("sh", a.pk, 2), ("bj", a.pk, 1), ("bj", b.pk, 1)}
    assert_parcels_follow_reservations(order)
    bj = order.shipments.get(warehouse=places["bj"])
    assert sorted((line.order_line.variant_id, line.quantity) for line in bj.lines.all()) == sorted(
        [(a.pk, 1), (b.pk, 1)]
    )


@pytest.mark.django_db
def test_staff_reroute_to_a_chosen_warehouse_moves_the_reservations(places):
    a, b = variant(), variant()
    for code in ("sh", "bj"):
        stock(places[code], a, 5)
        stock(places[code], b, 5)
    order = paid_order([(a, 2), (b, 1)], province="上海", city="上海")
    (old,) = open_parcels(order)
    old_reservations = list(Reservation.objects.filter(order=order))

    (new,) = services.order_reroute(order_id=order.pk, warehouse_id=places["bj"].pk)

    old.refresh_from_db()
    assert old.status == Shipment.Status.CANCELLED
    assert (new.warehouse.code, new.status) == ("bj", Shipment.Status.PENDING)
    assert new.number == f"{order.number}-2"
    assert open_parcels(order) == [new]
    assert set(Reservation.objects.filter(pk__in=[r.pk for r in old_reservations]).values_list("state", flat=True)) == {
        Reservation.State.RELEASED
    }
    assert held(order) == {("bj", a.pk, 2), ("bj", b.pk, 1)}
    assert_parcels_follow_reservations(order)
    releases = StockMovement.objects.filter(reason=StockMovement.Reason.RELEASE, reference=order.number)
    assert sorted(releases.values_list("warehouse__code", "variant_id", "reserved_delta", "note")) == sorted(
        [("sh", a.pk, -2, "re-route"), ("sh", b.pk, -1, "re-route")]
    )
    assert levels(places["sh"], a) == (5, 0) and levels(places["sh"], b) == (5, 0)
    assert levels(places["bj"], a) == (5, 2) and levels(places["bj"], b) == (5, 1)
    assert_movements_add_up()
    # The new parcel ships like any other.
    services.shipment_ship(shipment_id=new.pk, carrier="own_fleet")
    assert levels(places["bj"], a) == (3, 0) and levels(places["sh"], a) == (5, 0)
    assert_movements_add_up()


@pytest.mark.django_db
def test_reroute_without_a_warehouse_follows_the_usual_rule_again(places):
    v = variant()
    stock(places["bj"], v, 5)
    order = paid_order([(v, 2)], province="广东", city="广州")
    assert held(order) == {("bj", v.pk, 2)}
    services.stock_receive(warehouse_id=places["gz"].pk, variant_id=v.pk, quantity=3)

    (new,) = services.order_reroute(order_id=order.pk)

    assert new.warehouse.code == "gz"
    assert held(order) == {("gz", v.pk, 2)}
    assert levels(places["bj"], v) == (5, 0) and levels(places["gz"], v) == (3, 2)
    assert_movements_add_up()


def snapshot(order) -> dict:
    return {
        "levels": sorted(Stock.objects.values_list("pk", "on_hand", "reserved")),
        "movements": StockMovement.objects.count(),
        "reservations": sorted(Reservation.objects.filter(order=order).values_list("pk", "stock_id", "state")),
        "parcels": sorted(
            Shipment.objects.filter(order=order).values_list("pk", "warehouse_id", "status", "cod_amount")
        ),
    }


@pytest.mark.django_db
def test_reroute_to_a_warehouse_that_cannot_serve_is_refused_and_changes_nothing(places):
    a, b = variant(), variant()
    stock(places["sh"], a, 5)
    stock(places["sh"], b, 5)
    stock(places["bj"], a, 5)
    stock(places["bj"], b, 1)  # one short, however much Shanghai would free
    order = paid_order([(a, 2), (b, 2)], province="上海", city="上海")
    before = snapshot(order)

    with pytest.raises(FulfillmentError) as refused:
        services.order_reroute(order_id=order.pk, warehouse_id=places["bj"].pk)

    assert refused.value.code == FulfillmentErrorCode.CANNOT_SERVE
    assert places["bj"].name in refused.value.message
    assert snapshot(order) == before
    # A warehouse that holds none of the goods cannot serve either.
    with pytest.raises(FulfillmentError) as refused:
        services.order_reroute(order_id=order.pk, warehouse_id=places["cd"].pk)
    assert refused.value.code == FulfillmentErrorCode.CANNOT_SERVE
    assert snapshot(order) == before


@pytest.mark.django_db
def test_reroute_after_shipping_is_refused_and_changes_nothing(places):
    v = variant()
    stock(places["sh"], v, 5)
    stock(places["bj"], v, 5)
    order = paid_order([(v, 2)], province="上海", city="上海")
    services.shipment_ship(shipment_id=order.shipments.get().pk, carrier="own_fleet")
    before = snapshot(order)

    with pytest.raises(FulfillmentError) as refused:
        services.order_reroute(order_id=order.pk, warehouse_id=places["bj"].pk)

    assert refused.value.code == FulfillmentErrorCode.NOTHING_TO_REROUTE
    assert snapshot(order) == before
    assert levels(places["sh"], v) == (3, 0) and levels(places["bj"], v) == (5, 0)


@pytest.mark.django_db
def test_a_cash_on_delivery_orders_cash_to_collect_moves_to_the_new_parcel(places):
    v = variant(price="30.00")
    stock(places["sh"], v, 5)
    stock(places["bj"], v, 5)
    order = paid_order([(v, 2)], province="上海", city="上海", payment_method="cod")
    (old,) = open_parcels(order)
    assert old.cod_amount == order.total > 0

    (new,) = services.order_reroute(order_id=order.pk, warehouse_id=places["bj"].pk)

    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.status, old.cod_amount) == (Shipment.Status.CANCELLED, Decimal("0.00"))
    assert (new.warehouse.code, new.cod_amount) == ("bj", order.total)


@pytest.mark.django_db
def test_cash_on_delivery_stays_with_a_parcel_already_shipped(places):
    a, b = variant(price="30.00"), variant(price="40.00")
    stock(places["bj"], a, 5)
    stock(places["cd"], b, 5)
    order = paid_order([(a, 1), (b, 1)], province="广东", city="广州", payment_method="cod")
    parcels = open_parcels(order)
    assert sorted(p.warehouse.code for p in parcels) == ["bj", "cd"]
    (cash,) = [p for p in parcels if p.cod_amount]
    (other,) = [p for p in parcels if not p.cod_amount]
    assert cash.cod_amount == order.total
    services.shipment_ship(shipment_id=cash.pk, carrier="own_fleet")
    stock(places["sh"], b, 5)

    (new,) = services.order_reroute(order_id=order.pk, warehouse_id=places["sh"].pk)

    assert new.warehouse.code == "sh"
    assert new.cod_amount == 0
    assert sum(Shipment.objects.filter(order=order).values_list("cod_amount", flat=True)) == order.total
    assert Shipment.objects.get(pk=other.pk).status == Shipment.Status.CANCELLED
