"""Stock: counting, reserving, releasing, shipping, receiving and returning units.

Every change goes through `_move`: one conditional UPDATE that keeps 0 <= reserved <= on_hand
(checked again by PostgreSQL after any concurrent update commits; the table's check
constraints are the last line), and one StockMovement row saying why. So on_hand and reserved
always equal the sums of their movements, and nothing is ever oversold.
"""

from collections.abc import Iterable
from functools import cache

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Sum
from django.utils import timezone

from catalog.models import Product
from catalog.services import product_pages_invalidate
from fulfillment.geo import locate
from fulfillment.models import Reservation, Stock, StockMovement, Warehouse
from fulfillment.services.alerts import stock_alerts_queue_on_commit
from fulfillment.services.routing import Unroutable, plan_route, warehouses_by_distance
from shop.core.pagecache import page_cache_clear

Reason = StockMovement.Reason


class StockRefused(Exception):
    """A stock change would break 0 <= reserved <= on_hand."""


class OutOfStock(Exception):
    """Not enough units of a variant are available. `shortages` maps variant id to
    (wanted, available)."""

    def __init__(self, shortages: dict[int, tuple[int, int]]) -> None:
        self.shortages = shortages
        super().__init__(f"out of stock: {shortages}")


# The table name is ours, not input: the query is built once.
_MOVE_SQL = (
    f"UPDATE {Stock._meta.db_table} SET on_hand = on_hand + %s, reserved = reserved + %s "  # noqa: S608
    "WHERE id = %s AND reserved + %s >= 0 AND reserved + %s <= on_hand + %s "
    "RETURNING on_hand, reserved, warehouse_id, variant_id"
)


def _move(
    stock_id: int, reason: str, *, on_hand: int = 0, reserved: int = 0, reference: str = "", actor=None, note=""
) -> StockMovement | None:
    """Change one stock row by the given deltas if the result keeps 0 <= reserved <= on_hand,
    and record the movement. Returns None (and changes nothing) when it would not."""
    with connection.cursor() as cursor:
        cursor.execute(
            _MOVE_SQL,
            [on_hand, reserved, stock_id, reserved, reserved, on_hand],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    if on_hand - reserved > 0 and row[0] > row[1]:
        # Units became available (received, counted, returned, released): customers waiting
        # for the variant are told once this commits.
        stock_alerts_queue_on_commit(variant_id=row[3])
    return StockMovement.objects.create(
        stock_id=stock_id,
        warehouse_id=row[2],
        variant_id=row[3],
        reason=reason,
        on_hand_delta=on_hand,
        reserved_delta=reserved,
        on_hand_after=row[0],
        reserved_after=row[1],
        reference=reference[:60],
        actor=actor if getattr(actor, "pk", None) else None,
        note=note[:200],
    )


def product_stock_flags_refresh(*, product_ids: Iterable[int] | None = None) -> int:
    """Set Product.in_stock from stock rows: true when any warehouse has one unit available.

    With no ids, refreshes every product whose flag is wrong. Returns rows changed."""
    available = Stock.objects.filter(product_id=OuterRef("pk"), on_hand__gt=F("reserved"), variant__is_active=True)
    products = Product.objects.all()
    if product_ids is not None:
        product_ids = list(product_ids)
        products = products.filter(pk__in=product_ids)
    changed = products.filter(in_stock=True).exclude(Exists(available)).update(in_stock=False)
    changed += products.filter(in_stock=False).filter(Exists(available)).update(in_stock=True)
    if changed and product_ids is None:
        page_cache_clear()
    elif changed:  # the listings' in-stock counts and sold-out cards of these products only
        product_pages_invalidate(product_ids=product_ids)
    return changed


def _refresh_flags_on_commit(stock_ids: Iterable[int]) -> None:
    product_ids = list(Stock.objects.filter(pk__in=list(stock_ids)).values_list("product_id", flat=True))
    if product_ids:
        transaction.on_commit(lambda: product_stock_flags_refresh(product_ids=product_ids))


def _stock_row(warehouse_id: int, variant_id: int) -> Stock:
    """The stock row of a place, created empty if it is the first time the variant comes there."""
    stock = Stock.objects.filter(warehouse_id=warehouse_id, variant_id=variant_id).first()
    if stock is None:
        with transaction.atomic():  # a savepoint: a concurrent creation is not an error
            stock, _created = Stock.objects.get_or_create(warehouse_id=warehouse_id, variant_id=variant_id)
    return stock


@transaction.atomic
def stock_set_on_hand(*, warehouse_id: int, variant_id: int, on_hand: int, actor=None, note: str = "") -> Stock:
    """Count stock: set a variant's on-hand units in a warehouse (stocktake or first listing).
    The difference is recorded as a count movement.

    Raises ValueError when the count is negative or below what is already reserved."""
    if on_hand < 0:
        raise ValueError("on_hand cannot be negative")
    stock = Stock.objects.select_for_update().get(pk=_stock_row(warehouse_id, variant_id).pk)
    if on_hand < stock.reserved:
        raise ValueError(f"on_hand {on_hand} is below the {stock.reserved} units reserved")
    if on_hand != stock.on_hand:
        _move(stock.pk, Reason.COUNT, on_hand=on_hand - stock.on_hand, actor=actor, note=note or "stock count")
        stock.refresh_from_db()
    product_stock_flags_refresh(product_ids=[stock.product_id])
    return stock


def stock_locate(*, warehouse_id: int, variant_id: int, location: str) -> Stock:
    """Say where a variant's units sit in a warehouse (its bin, printed on the pick list)."""
    stock = _stock_row(warehouse_id, variant_id)
    location = location.strip()
    if stock.location != location:
        Stock.objects.filter(pk=stock.pk).update(location=location)  # not a count: on_hand untouched
        stock.location = location
    return stock


@transaction.atomic
def stock_receive(
    *, warehouse_id: int, variant_id: int, quantity: int, reason: str = Reason.RECEIVE, reference: str = "", actor=None
) -> StockMovement:
    """Units come in (a purchase order received, a customer's return restocked): on_hand += n."""
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    stock = _stock_row(warehouse_id, variant_id)
    movement = _move(stock.pk, reason, on_hand=quantity, reference=reference, actor=actor)
    _refresh_flags_on_commit([stock.pk])
    return movement


def stock_lock_for_variants(variant_ids: Iterable[int]) -> dict[tuple[int, int], tuple[int, int]]:
    """Lock every active stock row of the variants, in (variant, row) order so that two orders
    never wait on each other in opposite orders (no deadlock); return (warehouse, variant) ->
    (stock id, units available). Held until the transaction ends, which makes a routing plan
    made from these figures true when it is carried out."""
    locked, _places = _lock_with_places(variant_ids)
    return locked


def _lock_with_places(variant_ids: Iterable[int]) -> tuple[dict, dict[int, tuple[float, float] | None]]:
    """stock_lock_for_variants, and the warehouses' places read in the same statement (the
    join that checks them active is there anyway): placing an order routes from them without
    another round trip while it holds the rows."""
    if connection.vendor == "postgresql":
        # The queryset below, written once: compiling it per placement cost more Python than
        # anything else stock_reserve does.
        ids = sorted(set(variant_ids))
        rows = []
        if ids:
            with connection.cursor() as cursor:
                cursor.execute(_lock_sql(len(ids)), ids)
                rows = cursor.fetchall()
    else:
        rows = (
            Stock.objects.select_for_update(of=("self",))
            .filter(variant_id__in=sorted(set(variant_ids)), warehouse__is_active=True)
            .order_by("variant_id", "pk")
            .values_list(
                "pk", "warehouse_id", "variant_id", "on_hand", "reserved", "warehouse__latitude", "warehouse__longitude"
            )
        )
    locked, places = {}, {}
    for pk, w, v, on_hand, reserved, lat, lng in rows:
        locked[(w, v)] = (pk, on_hand - reserved)
        places[w] = (lat, lng) if lat is not None and lng is not None else None
    return locked, places


@cache
def _lock_sql(n: int) -> str:
    """_lock_with_places's queryset on PostgreSQL for `n` variants (names from the models, not
    input). One text per number of variants, not one array: prepared (the place step binds on
    the server), `variant_id = ANY($1)` got a generic plan costed for an array of unknown length,
    dearer than the custom plan of a cart's few ids, so PostgreSQL planned it again on every
    placement (the purchase's largest planning time, pg_stat_statements); `IN ($1, $2)` keeps its
    generic plan after the first few runs, as the purchase's other statements do."""
    ids = ", ".join(["%s::bigint"] * n)
    return (
        f"SELECT s.id, s.warehouse_id, s.variant_id, s.on_hand, s.reserved, w.latitude, w.longitude "  # noqa: S608
        f"FROM {Stock._meta.db_table} s INNER JOIN {Warehouse._meta.db_table} w ON w.id = s.warehouse_id "
        f"WHERE s.variant_id IN ({ids}) AND w.is_active ORDER BY s.variant_id, s.id FOR UPDATE OF s"
    )


def ranked_warehouses(warehouse_ids: Iterable[int], province: str, city: str) -> list[int]:
    """The warehouses, nearest to a delivery address first."""
    places = {
        pk: (lat, lng) if lat is not None and lng is not None else None
        for pk, lat, lng in Warehouse.objects.filter(pk__in=set(warehouse_ids)).values_list(
            "pk", "latitude", "longitude"
        )
    }
    return warehouses_by_distance(places, locate(province, city))


def stock_reserve(*, order, wanted: dict[int, int], only_warehouse: int | None = None, actor=None) -> list[Reservation]:
    """Reserve `wanted` (variant id -> units) for an order, routed: the nearest warehouse that
    can serve it whole, otherwise the fewest parcels, nearest first (`only_warehouse` forces one).

    Precondition: inside the order's transaction; raises OutOfStock, and the caller's rollback
    undoes every reservation made here.

    A fixed number of statements whatever the number of lines: the lock (with the warehouses'
    places), then on PostgreSQL one statement that updates every row reserved from and inserts
    their movements and the reservations (elsewhere three); the in-stock flags are refreshed
    after commit only for a product one of whose rows has no unit left (a row that still has one
    keeps its product in stock)."""
    locked, places = _lock_with_places(wanted)
    candidates = {w for (w, _v) in locked if only_warehouse is None or w == only_warehouse}
    ranked = warehouses_by_distance({w: places[w] for w in candidates}, locate(order.province, order.city))
    try:
        plan = plan_route(wanted, {key: free for key, (_pk, free) in locked.items()}, ranked)
    except Unroutable as exc:
        raise OutOfStock(exc.shortages) from exc
    # Carried out in lock order; the rows are locked, so every conditional UPDATE succeeds.
    taken = [
        (stock_id, variant_id, units)
        for (warehouse_id, variant_id), (stock_id, _free) in sorted(locked.items(), key=lambda kv: (kv[0][1], kv[1][0]))
        if (units := plan.get(warehouse_id, {}).get(variant_id, 0))
    ]
    if not taken:
        return []
    actor = actor if getattr(actor, "pk", None) else None
    if connection.vendor == "postgresql":
        after, reservations = _reserve_recorded(order, taken, actor_id=actor.pk if actor else None)
    else:
        after, reservations = _reserve_orm(order, taken, actor=actor)
    for reservation in reservations:  # where each is held: shipments_create's parcels, unread
        reservation.warehouse_id = after[reservation.stock_id][2]
    sold_out = {product for on_hand, reserved, _w, product in after.values() if reserved >= on_hand}
    if sold_out:
        transaction.on_commit(lambda: product_stock_flags_refresh(product_ids=sold_out))
    return reservations


def _reserve_orm(order, taken: list[tuple[int, int, int]], *, actor) -> tuple[dict, list[Reservation]]:
    """_reserve_recorded where the database has no data-modifying CTE (SQLite): three statements."""
    after = _reserve_rows(taken)
    StockMovement.objects.bulk_create(
        StockMovement(
            stock_id=stock_id,
            warehouse_id=after[stock_id][2],
            variant_id=variant_id,
            reason=Reason.RESERVE,
            on_hand_delta=0,
            reserved_delta=units,
            on_hand_after=after[stock_id][0],
            reserved_after=after[stock_id][1],
            reference=order.number[:60],
            actor=actor,
        )
        for stock_id, variant_id, units in taken
    )
    reservations = Reservation.objects.bulk_create(
        Reservation(order=order, stock_id=stock_id, variant_id=variant_id, quantity=units)
        for stock_id, variant_id, units in taken
    )
    return after, reservations


def _reserve_recorded(order, taken: list[tuple[int, int, int]], *, actor_id: int | None) -> tuple[dict, list]:
    """reserved += units on each (stock id, variant id, units) row, its movement and the
    order's reservation of it, in one statement on PostgreSQL (the UPDATE's rows feed the two
    INSERTs as data-modifying CTEs: a row the guard refused gets neither). Same rows and values
    as _reserve_orm's three statements, written in lock order. Returns what _reserve_rows does
    and the reservations (unsaved fields as bulk_create leaves them: pk set, in `taken`'s order).
    Precondition: the rows are locked (stock_reserve); a refused row raises StockRefused."""
    now = timezone.now()
    values = ", ".join(["(%s::bigint, %s::integer)"] * len(taken))
    with connection.cursor() as cursor:
        cursor.execute(
            _RESERVE_SQL.format(values=values),
            [
                *(value for stock_id, _variant, units in taken for value in (stock_id, units)),
                Reason.RESERVE.value,
                order.number[:60],
                actor_id,
                now,
                order.pk,
                Reservation.State.HELD.value,
                now,
            ],
        )
        rows = cursor.fetchall()
    after = {row[0]: row[1:5] for row in rows}
    if len(after) != len(taken):  # pragma: no cover - the rows are locked
        raise StockRefused(f"stock rows {[t[0] for t in taken if t[0] not in after]} could not reserve")
    by_stock = {row[0]: row[5] for row in rows}
    reservations = []
    for stock_id, variant_id, units in taken:
        reservation = Reservation(
            pk=by_stock[stock_id], order=order, stock_id=stock_id, variant_id=variant_id, quantity=units, created_at=now
        )
        reservation._state.adding, reservation._state.db = False, connection.alias
        reservations.append(reservation)
    return after, reservations


# _reserve_recorded's statement (names from the models, not input): {values} is one
# (stock id, units) pair per row.
_RESERVE_SQL = (
    "WITH v (id, units) AS (VALUES {values}), "  # noqa: S608
    f"s AS (UPDATE {Stock._meta.db_table} AS s SET reserved = s.reserved + v.units FROM v "
    "WHERE s.id = v.id AND s.reserved + v.units <= s.on_hand "
    "RETURNING s.id, s.on_hand, s.reserved, s.warehouse_id, s.product_id, s.variant_id, v.units), "
    f"m AS (INSERT INTO {StockMovement._meta.db_table} (stock_id, warehouse_id, variant_id, reason, on_hand_delta, "
    "reserved_delta, on_hand_after, reserved_after, reference, actor_id, note, created_at) "
    "SELECT id, warehouse_id, variant_id, %s, 0, units, on_hand, reserved, %s, %s::bigint, '', %s::timestamptz "
    "FROM s ORDER BY variant_id, id), "
    f"r AS (INSERT INTO {Reservation._meta.db_table} (order_id, stock_id, variant_id, quantity, state, created_at) "
    "SELECT %s::bigint, id, variant_id, units, %s, %s::timestamptz FROM s ORDER BY variant_id, id "
    "RETURNING id, stock_id) "
    "SELECT s.id, s.on_hand, s.reserved, s.warehouse_id, s.product_id, r.id FROM s JOIN r ON r.stock_id = s.id"
)


def _reserve_rows(taken: list[tuple[int, int, int]]) -> dict[int, tuple[int, int, int, int]]:
    """reserved += units on each (stock id, variant id, units) row, a statement per row, under
    the same guard as _move (0 <= reserved <= on_hand). Returns stock id -> (on_hand, reserved,
    warehouse id, product id) after. Off PostgreSQL only (the embedded SQLite default): on
    PostgreSQL _reserve_recorded does this with the movements and reservations in one statement.
    Precondition: the rows are locked (stock_reserve), so the guard holds; a row it refused
    would be a broken lock: StockRefused, and the caller's transaction rolls back."""
    table = Stock._meta.db_table
    after = {}
    with connection.cursor() as cursor:
        for stock_id, _variant, units in taken:
            cursor.execute(
                f"UPDATE {table} SET reserved = reserved + %s WHERE id = %s AND reserved + %s <= on_hand "  # noqa: S608
                "RETURNING id, on_hand, reserved, warehouse_id, product_id",
                [units, stock_id, units],
            )
            after.update({row[0]: row[1:] for row in cursor.fetchall()})
    if len(after) != len(taken):  # pragma: no cover - the rows are locked
        raise StockRefused(f"stock rows {[t[0] for t in taken if t[0] not in after]} could not reserve")
    return after


def stock_release(*, order, reservations=None, actor=None, note: str = "") -> int:
    """Give back held reservations of an order (all of them by default: cancelled, or refunded
    before shipping; or those of parcels being re-routed). Idempotent. Returns the units
    released. Precondition: order row locked."""
    held = Reservation.objects.filter(order=order, state=Reservation.State.HELD)
    if reservations is not None:
        held = held.filter(pk__in=[r.pk for r in reservations])
    released = 0
    stock_ids = []
    for reservation in held.order_by("variant_id", "stock_id").select_for_update():
        moved = _move(
            reservation.stock_id,
            Reason.RELEASE,
            reserved=-reservation.quantity,
            reference=order.number,
            actor=actor,
            note=note,
        )
        if moved is None:
            raise StockRefused(f"reservation {reservation.pk} is not covered by its stock row")
        reservation.state = Reservation.State.RELEASED
        reservation.save(update_fields=["state"])
        released += reservation.quantity
        stock_ids.append(reservation.stock_id)
    _refresh_flags_on_commit(stock_ids)
    return released


def stock_release_part(
    *, reservation: Reservation, quantity: int, reference: str, actor=None, note: str = ""
) -> Reservation:
    """Give back `quantity` units of one held reservation (a customer cancels part of a paid,
    unshipped order): all of it, and it becomes released; or part, and it is split: the held
    reservation shrinks and the released part becomes a reservation of its own in the released
    state, so the order's reservations still add up to what it bought and every stock row still
    reserves exactly its held reservations. Returns the released reservation.

    Precondition: order row locked, `reservation` loaded under its lock and held; 0 < quantity
    <= its units. Raises ValueError otherwise, StockRefused if its stock row does not cover it."""
    if reservation.state != Reservation.State.HELD or not 0 < quantity <= reservation.quantity:
        raise ValueError(f"cannot release {quantity} of reservation {reservation.pk} ({reservation.state})")
    if (
        _move(reservation.stock_id, Reason.RELEASE, reserved=-quantity, reference=reference, actor=actor, note=note)
        is None
    ):
        raise StockRefused(f"reservation {reservation.pk} is not covered by its stock row")
    _refresh_flags_on_commit([reservation.stock_id])
    if quantity == reservation.quantity:
        reservation.state = Reservation.State.RELEASED
        reservation.save(update_fields=["state"])
        return reservation
    reservation.quantity -= quantity
    reservation.save(update_fields=["quantity"])
    return Reservation.objects.create(
        order_id=reservation.order_id,
        stock_id=reservation.stock_id,
        variant_id=reservation.variant_id,
        quantity=quantity,
        state=Reservation.State.RELEASED,
    )


@transaction.atomic
def stock_return_receive(
    *, warehouse_id: int, variant_id: int, restock: int, write_off: int, reference: str, actor=None, note: str = ""
) -> list[StockMovement]:
    """Returned units arrive at a warehouse: every unit comes in (a return movement of
    restock + write_off), then the damaged ones go out again (a write-off movement), so on_hand
    ends up by `restock` and the history shows both. Raises ValueError for negative counts.
    Returns the movements written (none when both are 0)."""
    if restock < 0 or write_off < 0:
        raise ValueError("restock and write_off cannot be negative")
    if not restock + write_off:
        return []
    stock = _stock_row(warehouse_id, variant_id)
    moved = [_move(stock.pk, Reason.RETURN, on_hand=restock + write_off, reference=reference, actor=actor, note=note)]
    if write_off:
        # Cannot be refused: the units just came in and nothing reserves them.
        moved.append(_move(stock.pk, Reason.WRITE_OFF, on_hand=-write_off, reference=reference, actor=actor, note=note))
    if None in moved:  # pragma: no cover - see above
        raise StockRefused(f"stock {stock.pk} refused returned units")
    _refresh_flags_on_commit([stock.pk])
    return moved


def stock_commit(*, reservations: Iterable[Reservation], reference: str, actor=None) -> None:
    """Goods leave: for each held reservation on_hand and reserved both drop by its units.
    Precondition: the reservations' order is locked; raises StockRefused if one is not held."""
    for reservation in sorted(reservations, key=lambda r: (r.variant_id, r.stock_id)):
        if reservation.state != Reservation.State.HELD:
            raise StockRefused(f"reservation {reservation.pk} is {reservation.state}")
        n = reservation.quantity
        if _move(reservation.stock_id, Reason.SHIP, on_hand=-n, reserved=-n, reference=reference, actor=actor) is None:
            raise StockRefused(f"stock {reservation.stock_id} cannot ship {n}")
        reservation.state = Reservation.State.SHIPPED
        reservation.save(update_fields=["state"])


def stock_movement_totals() -> dict[int, tuple[int, int]]:
    """Σ deltas per stock row (for checking the invariant)."""
    sums = StockMovement.objects.values("stock_id").annotate(
        on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta")
    )
    return {row["stock_id"]: (row["on_hand"], row["reserved"]) for row in sums}
