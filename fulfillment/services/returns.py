"""What after-sales needs from stock and parcels: cancelling part of an unshipped order, where an
order's units are, the customer's return parcel, returned goods back into stock (or written
off), and the replacement parcel of an exchange.

After-sales calls these (it may import fulfillment; fulfillment never imports it) inside its own
transaction. Lock order as everywhere: the order row, then its shipments, then stock rows.
"""

from collections import defaultdict

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from fulfillment import carriers
from fulfillment.exceptions import FulfillmentError, FulfillmentErrorCode
from fulfillment.models import Reservation, Shipment, ShipmentLine, Warehouse
from fulfillment.services.stock import (
    OutOfStock,
    Reason,
    StockRefused,
    _move,
    _refresh_flags_on_commit,
    ranked_warehouses,
    stock_lock_for_variants,
    stock_release_part,
    stock_return_receive,
)
from orders.models import Order, OrderLine

Status = Shipment.Status
Kind = Shipment.Kind
TRACKING_NUMBER_MAX = Shipment._meta.get_field("tracking_number").max_length
NUMBER_MAX = Shipment._meta.get_field("number").max_length
# A return or replacement parcel is numbered after the document it serves (the request number),
# which makes opening it twice for one request find the first one.
RETURN_SUFFIX, REPLACEMENT_SUFFIX = "-R", "-X"
WAYBILL_WEIGHT_MAX = 100_000  # grams: the express API's ceiling


def _locked_order(order: Order) -> Order:
    # Re-entrant inside the caller's transaction: the caller usually holds it already.
    return Order.objects.select_for_update().get(pk=order.pk)


# -- cancelling units before they ship -----------------------------------------------------------


def stock_release_units(
    *, order: Order, variant_id: int, quantity: int, actor=None, note: str = "", reference: str = ""
) -> int:
    """Release up to `quantity` held units of one variant of an order that are in its open
    parcels (to pack, or packed): a customer cancels part of a paid, unshipped order. Parcels to
    pack give their units first (a packed box has to be opened), the newest parcel first. Each
    reservation touched is released whole or split (see stock_release_part); its parcel line
    shrinks with it, so pick lists and packing slips show what is left. A parcel left with no
    held units is cancelled (its lines stay as its record, as after a re-route) and collects no
    cash; call shipments_set_cod_due for the cash the order still owes.

    Movements reference `reference` (the after-sales request) or else the order number.
    Returns the units released (fewer than asked when fewer were waiting; 0 for nothing).
    Units of a replacement parcel are not touched. Precondition: order row locked by the caller;
    raises ValueError for a negative quantity."""
    if quantity < 0:
        raise ValueError("quantity cannot be negative")
    if not quantity:
        return 0
    order = _locked_order(order)
    parcels = {
        p.pk: p
        for p in Shipment.objects.select_for_update()
        .filter(order=order, kind=Kind.OUTBOUND, status__in=Shipment.OPEN)
        .order_by("pk")
    }
    lines = list(
        ShipmentLine.objects.filter(
            shipment_id__in=parcels, reservation__variant_id=variant_id, reservation__state=Reservation.State.HELD
        ).order_by("pk")
    )
    held = Reservation.objects.select_for_update().filter(pk__in=[line.reservation_id for line in lines])
    reservations = {r.pk: r for r in held.order_by("pk")}
    lines.sort(key=lambda line: (parcels[line.shipment_id].status != Status.PENDING, -line.shipment_id))
    left, touched = quantity, set()
    for line in lines:
        if not left:
            break
        reservation = reservations[line.reservation_id]
        take = min(left, reservation.quantity)
        stock_release_part(
            reservation=reservation, quantity=take, reference=reference or order.number, actor=actor, note=note
        )
        if reservation.state == Reservation.State.HELD:  # split: the line keeps the held part
            line.quantity = reservation.quantity
            line.save(update_fields=["quantity"])
        left -= take
        touched.add(line.shipment_id)
    for shipment_id in sorted(touched):
        parcel_lines = ShipmentLine.objects.filter(shipment_id=shipment_id)
        if parcel_lines.filter(reservation__state=Reservation.State.HELD).exists():
            # Lines whose units were all cancelled leave the parcel: slips list what goes in it.
            parcel_lines.filter(reservation__state=Reservation.State.RELEASED).delete()
        else:
            Shipment.objects.filter(pk=shipment_id).update(status=Status.CANCELLED, cod_amount=0)
    return quantity - left


# -- where the units are --------------------------------------------------------------------------


def order_units_state(*, order: Order) -> dict[int, dict]:
    """Where an order's units are, per variant id: {"pending": held in parcels to pack,
    "packed": held in packed parcels, "shipped": handed to a carrier (shipped, in transit, with a
    delivery problem, or delivered), "delivered": of those, delivered, "warehouses": ids of the
    warehouses that shipped them, most units first}. The order's parcels and its replacement
    parcels (under the variant they carry); not returns, not cancelled parcels. One query."""
    rows = (
        ShipmentLine.objects.filter(shipment__order=order, shipment__kind__in=(Kind.OUTBOUND, Kind.REPLACEMENT))
        .exclude(shipment__status=Status.CANCELLED)
        .values("reservation__variant_id", "shipment__status", "shipment__warehouse_id")
        .annotate(units=Sum("quantity"))
        .order_by("reservation__variant_id", "shipment__warehouse_id", "shipment__status")
    )
    state: dict[int, dict] = {}
    shipped_from: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        variant_id, status, units = row["reservation__variant_id"], row["shipment__status"], row["units"]
        figures = state.setdefault(variant_id, {"pending": 0, "packed": 0, "shipped": 0, "delivered": 0})
        if status == Status.PENDING:
            figures["pending"] += units
        elif status == Status.PACKED:
            figures["packed"] += units
        else:
            figures["shipped"] += units
            shipped_from[variant_id][row["shipment__warehouse_id"]] += units
            if status == Status.DELIVERED:
                figures["delivered"] += units
    for variant_id, figures in state.items():
        places = shipped_from.get(variant_id, {})
        figures["warehouses"] = sorted(places, key=lambda w: (-places[w], w))
    return state


# -- the customer's return parcel ------------------------------------------------------------------


def _parcel_number(reference: str, suffix: str) -> str:
    number = f"{reference}{suffix}"
    if not reference or len(number) > NUMBER_MAX:
        raise ValueError(f"reference {reference!r} cannot number a parcel")
    return number


def _return_waybill(order: Order, warehouse: Warehouse, number: str, courier: carriers.Carrier) -> str:
    """The carrier issues the return waybill: the customer (the order's delivery address) sends,
    the warehouse receives. Keyed by the parcel number, so a retry gets the same waybill."""
    weight = order.lines.aggregate(grams=Sum(F("quantity") * F("weight_grams")))["grams"] or 0
    request = carriers.WaybillRequest(
        reference=number,
        sender=carriers.Place(
            order.province, order.city, f"{order.district} {order.street}".strip(), order.recipient, order.phone
        ),
        recipient=carriers.Place(
            warehouse.province, warehouse.city, warehouse.address, warehouse.name, warehouse.phone
        ),
        weight_grams=min(max(int(weight), 1), WAYBILL_WEIGHT_MAX),
        is_return=True,
    )
    try:
        tracking_number = courier.create_waybill(request)
        if not tracking_number or len(tracking_number) > TRACKING_NUMBER_MAX:
            raise carriers.CarrierError(f"unusable tracking number {tracking_number!r}")
    except carriers.CarrierUnavailable as exc:
        raise FulfillmentError(FulfillmentErrorCode.CARRIER_UNAVAILABLE, number=number) from exc
    except carriers.CarrierError as exc:
        raise FulfillmentError(FulfillmentErrorCode.CARRIER_REFUSED, number=number, reason=str(exc)) from exc
    return tracking_number


def return_parcel_open(
    *, order: Order, warehouse_id: int, carrier: str, tracking_number: str = "", reference: str, actor=None
) -> Shipment:
    """The customer sends goods back to `warehouse_id`: a return parcel (no lines: what is in it
    is the request's business), already with the carrier, followed by the usual tracking (polled
    for the express carrier, recorded by staff for the own fleet). Its delivery mails nobody,
    collects no cash, leaves the order's delivery alone, and sends
    fulfillment.signals.return_delivered.

    `carrier` is one of this deployment's carriers (express, own_fleet). A tracking number the
    customer typed is taken as is; without one the carrier issues the waybill: the express API a
    return waybill (sender the order's delivery address, recipient the warehouse), our own fleet
    a number of its own (its courier collects from the customer). Numbered `<reference>-R`:
    opening it again for the same reference returns the parcel already opened.

    The express carrier is called before any lock is taken here, but the caller's transaction
    (and its locks) is open meanwhile: the call is bounded by CARRIER_EXPRESS_TIMEOUT, and a
    retry after a rollback gets the same waybill (the API keys it by the parcel number).
    Raises FulfillmentError: CARRIER_REFUSED (unknown or unconfigured carrier, refused waybill),
    CARRIER_UNAVAILABLE, TRACKING_TOO_LONG, TRACKING_IN_USE (another parcel has that number)."""
    number = _parcel_number(reference, RETURN_SUFFIX)
    existing = Shipment.objects.filter(number=number, order=order, kind=Kind.RETURN).first()
    if existing is not None:
        return existing
    try:
        courier = carriers.carrier(carrier)
    except carriers.CarrierError as exc:
        raise FulfillmentError(FulfillmentErrorCode.CARRIER_REFUSED, number=number, reason=str(exc)) from exc
    tracking_number = (tracking_number or "").strip()
    if len(tracking_number) > TRACKING_NUMBER_MAX:
        raise FulfillmentError(FulfillmentErrorCode.TRACKING_TOO_LONG, number=number, max=TRACKING_NUMBER_MAX)
    warehouse = Warehouse.objects.get(pk=warehouse_id)
    if not tracking_number:
        tracking_number = _return_waybill(order, warehouse, number, courier)
    order = _locked_order(order)
    existing = Shipment.objects.filter(number=number, order=order, kind=Kind.RETURN).first()
    if existing is not None:  # opened meanwhile (a double click): the first one stands
        return existing
    now = timezone.now()
    try:
        with transaction.atomic():  # a savepoint: a clash leaves the caller's transaction usable
            return Shipment.objects.create(
                number=number,
                order=order,
                warehouse=warehouse,
                kind=Kind.RETURN,
                status=Status.SHIPPED,
                carrier=courier.code,
                tracking_number=tracking_number,
                shipped_at=now,
                shipped_by=actor if getattr(actor, "pk", None) else None,
                next_poll_at=now + timezone.timedelta(seconds=settings.CARRIER_POLL_SECONDS),
            )
    except IntegrityError as exc:
        if "tracking_number" not in str(exc):
            raise
        raise FulfillmentError(FulfillmentErrorCode.TRACKING_IN_USE, tracking=tracking_number) from exc


def return_parcel_received(*, shipment_id: int) -> bool:
    """Staff have the return parcel in hand: it is delivered (if the carrier never said so)
    and no longer polled. Returns whether it changed. Precondition: the order is locked."""
    now = timezone.now()
    return bool(
        Shipment.objects.filter(pk=shipment_id, kind=Kind.RETURN)
        .exclude(status=Status.DELIVERED)
        .update(status=Status.DELIVERED, delivered_at=now, next_poll_at=None)
    )


def return_receive(
    *, warehouse_id: int, variant_id: int, restock: int, write_off: int, reference: str, actor=None, note: str = ""
) -> list:
    """Returned units of one variant arrive at a warehouse and are inspected: `restock` go back on
    the shelf, `write_off` are damaged. Written as a return movement of +(restock + write_off)
    and a write-off movement of -write_off, both referencing `reference` (the request), so on
    hand ends up by `restock`. Products' in-stock flags are refreshed on commit. Not idempotent
    by itself: the caller's request state (received once) is. Raises ValueError for negative
    counts. Returns the movements written."""
    return stock_return_receive(
        warehouse_id=warehouse_id,
        variant_id=variant_id,
        restock=restock,
        write_off=write_off,
        reference=reference,
        actor=actor,
        note=note,
    )


# -- the replacement parcel of an exchange -----------------------------------------------------------


def replacement_parcel_create(
    *, order: Order, items: list[tuple[int, int, int]], reference: str, actor=None
) -> Shipment:
    """An exchange: reserve the wanted variants and make a replacement parcel, to be packed and
    shipped like any parcel (shipment_pack, shipment_ship, the admin's actions, the packing
    slip). `items` are (order line id, variant id, units): each parcel line points at the ORIGINAL
    order line (what is being replaced: its price, its after-sales history) while its reservation
    holds the variant sent, which is what slips, pick lists, mails and waybills show.

    Routed as checkout routes: the nearest active warehouse to the order's address that holds all
    of it; raises OutOfStock (shortages per variant, against the best single warehouse) when
    none does. Shipping it commits the stock and mails the customer, but never moves the order
    (shipped or completed long ago), and its delivery does not restart the auto-confirm clock.
    Numbered `<reference>-X`: a second call for the same reference returns the parcel made first.

    Two items of the same variant (two order lines exchanged for one option) travel as one line,
    under the first order line: a reservation is one per order and stock row. A warehouse where
    the order already holds one of these variants (another open replacement) is skipped for the
    same reason. Precondition: order row locked by the caller. Raises ValueError for an order line
    of another order or a quantity below 1."""
    number = _parcel_number(reference, REPLACEMENT_SUFFIX)
    order = _locked_order(order)
    existing = Shipment.objects.filter(number=number, order=order, kind=Kind.REPLACEMENT).first()
    if existing is not None:
        return existing
    line_ids = set(OrderLine.objects.filter(order=order).values_list("pk", flat=True))
    wanted: dict[int, int] = defaultdict(int)
    line_of: dict[int, int] = {}
    for order_line_id, variant_id, quantity in items:
        if order_line_id not in line_ids or quantity < 1:
            raise ValueError(f"bad replacement item {(order_line_id, variant_id, quantity)} for {order.number}")
        wanted[variant_id] += quantity
        line_of.setdefault(variant_id, order_line_id)
    if not wanted:
        raise ValueError("a replacement parcel needs at least one item")
    locked = stock_lock_for_variants(wanted)
    taken = set(
        Reservation.objects.filter(order=order, state=Reservation.State.HELD, variant_id__in=wanted).values_list(
            "stock__warehouse_id", flat=True
        )
    )
    candidates = {w for (w, _v) in locked if w not in taken}
    warehouse_id = next(
        (
            w
            for w in ranked_warehouses(candidates, order.province, order.city)
            if all(locked.get((w, v), (0, 0))[1] >= n for v, n in wanted.items())
        ),
        None,
    )
    if warehouse_id is None:
        best = {v: max((locked.get((w, v), (0, 0))[1] for w in candidates), default=0) for v in wanted}
        raise OutOfStock({v: (n, best[v]) for v, n in wanted.items()})
    shipment = Shipment.objects.create(order=order, warehouse_id=warehouse_id, number=number, kind=Kind.REPLACEMENT)
    stock_ids = []
    for variant_id in sorted(wanted):  # the global (variant, row) lock order
        stock_id = locked[(warehouse_id, variant_id)][0]
        units = wanted[variant_id]
        if _move(stock_id, Reason.RESERVE, reserved=units, reference=reference, actor=actor, note=number) is None:
            raise StockRefused(f"stock {stock_id} could not reserve {units}")  # pragma: no cover - rows are locked
        reservation = Reservation.objects.create(order=order, stock_id=stock_id, variant_id=variant_id, quantity=units)
        ShipmentLine.objects.create(
            shipment=shipment, order_line_id=line_of[variant_id], reservation=reservation, quantity=units
        )
        stock_ids.append(stock_id)
    _refresh_flags_on_commit(stock_ids)
    return shipment
