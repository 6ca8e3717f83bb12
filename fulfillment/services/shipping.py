"""Shipments: from a paid order's reservations to parcels, packed, shipped with a carrier,
followed until delivered; re-routed by staff before they leave.

Lock order everywhere: the order row first, then its shipments (as payments do), so two
workflows on one order never wait on each other in opposite orders.
"""

import uuid
from collections import defaultdict
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, DecimalField, Exists, F, Func, Max, QuerySet, Subquery, Sum
from django.utils import timezone, translation

from catalog.models import ProductVariant
from fulfillment import carriers
from fulfillment.exceptions import FulfillmentError, FulfillmentErrorCode
from fulfillment.models import Reservation, Shipment, ShipmentLine, Stock, TrackingEvent, Warehouse
from fulfillment.services.stock import (
    OutOfStock,
    stock_commit,
    stock_lock_for_variants,
    stock_release,
    stock_reserve,
)
from fulfillment.signals import return_delivered
from orders.models import Notification, Order
from orders.services import (
    notification_queue,
    order_line_names,
    order_record_delivered,
    order_record_parcel_delivered,
    order_record_shipped,
)
from orders.signals import cod_collected
from shop.core.inserts import rows_insert, rows_together
from shop.core.money import format_money, money

Status = Shipment.Status
Kind = Shipment.Kind
# Who may record the cash a courier collected on delivery: it captures a payment.
CASH_PERMISSION = "payments.record_cash_collection"
TRACKING_NUMBER_MAX = Shipment._meta.get_field("tracking_number").max_length

# What a tracking event means for the parcel.
STATUS_AFTER = {
    TrackingEvent.Kind.COLLECTED: Status.IN_TRANSIT,
    TrackingEvent.Kind.IN_TRANSIT: Status.IN_TRANSIT,
    TrackingEvent.Kind.OUT_FOR_DELIVERY: Status.IN_TRANSIT,
    TrackingEvent.Kind.EXCEPTION: Status.EXCEPTION,
    TrackingEvent.Kind.DELIVERED: Status.DELIVERED,
}


# -- creating parcels -------------------------------------------------------------------------


def order_reservations_known(order: Order, reservations: list[Reservation]) -> None:
    """Hand an order placed in the current transaction the reservations stock_reserve just made
    for it (each with its `warehouse_id`): paying it in the same transaction (checkout's one
    step) makes its parcels from them, with no statement to read them back.

    Precondition: `order` was inserted in the current transaction and `reservations` are all
    of its reservations (so it has no parcel yet, and none of its units is in one)."""
    order.reservations_known = reservations


def shipments_create(*, order: Order) -> list[Shipment]:
    """One parcel per warehouse holding the order's reserved units (the route chosen when
    they were reserved). Idempotent: units already in a parcel are skipped.
    Precondition: order row locked (called when the order is paid or re-routed)."""
    known = getattr(order, "reservations_known", None)
    if known is not None:  # placed and paid in this transaction: no parcel yet (order_reservations_known)
        order.reservations_known = None  # once: a re-route or a second call reads the rows
        return _parcels_make(order, sorted(known, key=lambda r: (r.warehouse_id, r.variant_id)), count=0, cod_due=True)
    # The order's parcels so far (numbering the new ones) and, for cash on delivery, whether one
    # already collects: read with the reservations, in one statement (paying an order is on the
    # purchase's hot path). COUNT as a plain function: one row, no GROUP BY.
    parcels = Shipment.objects.filter(order_id=order.pk).order_by()
    held = (
        Reservation.objects.filter(order=order, state=Reservation.State.HELD, shipment_line__isnull=True)
        .select_related("stock")
        .annotate(parcels_before=Subquery(parcels.annotate(n=Func(F("pk"), function="COUNT")).values("n")))
        .order_by("stock__warehouse_id", "variant_id")
    )
    cod = order.payment_method == Order.PaymentMethod.COD
    if cod:
        held = held.annotate(
            cod_carried=Exists(parcels.filter(cod_amount__gt=0).exclude(status=Status.CANCELLED)),
        )
    held = list(held)
    for reservation in held:
        reservation.warehouse_id = reservation.stock.warehouse_id
    if not held:
        return []
    return _parcels_make(order, held, count=held[0].parcels_before, cod_due=not (cod and held[0].cod_carried))


def _parcels_make(order: Order, held: list[Reservation], *, count: int, cod_due: bool) -> list[Shipment]:
    """shipments_create's parcels: one per warehouse of `held` (in their order, each with its
    `warehouse_id`), numbered after the order's `count` parcels so far; `cod_due`: no parcel of
    a cash-on-delivery order collects its cash yet."""
    if not held:
        return []
    by_warehouse: dict[int, list[Reservation]] = defaultdict(list)
    for reservation in held:
        by_warehouse[reservation.warehouse_id].append(reservation)
    lines = {line.variant_id: line for line in order.lines.all()}
    cod_due = cod_due and order.payment_method == Order.PaymentMethod.COD
    created = []
    # On paying an order, the purchase's hot path: INSERTs built once (shop.core.inserts), the
    # parcels and their lines sent as one statement (each line's parcel key filled in by it).
    with rows_together():
        for n, (warehouse_id, reservations) in enumerate(by_warehouse.items(), start=count + 1):
            shipment = Shipment(
                order=order,
                warehouse_id=warehouse_id,
                number=f"{order.number}-{n}",
                # Cash on delivery: the first parcel's courier collects the whole order total.
                cod_amount=order.total if cod_due and not created else Decimal("0.00"),
            )
            rows_insert([shipment])
            rows_insert(
                [
                    ShipmentLine(shipment=shipment, order_line=lines[r.variant_id], reservation=r, quantity=r.quantity)
                    for r in reservations
                ]
            )
            created.append(shipment)
    return created


def shipments_cod_withdraw(*, order: Order) -> int:
    """The order got paid online: its parcels no longer collect cash. A parcel already with the
    carrier keeps the amount on its waybill, but the courier's collection will not be captured
    (payments only captures a cash-on-delivery payment still due), so staff see it. Returns the
    parcels changed. Precondition: order row locked."""
    return Shipment.objects.filter(order=order, status__in=Shipment.OPEN, cod_amount__gt=0).update(
        cod_amount=Decimal("0.00")
    )


def shipments_set_cod_due(*, order: Order, amount: Decimal) -> int:
    """The cash the courier collects for the order changed before its parcels left (its delivery
    was re-priced, or units were cancelled): the open parcel that collects it now collects
    `amount` (0: no parcel collects anything). When the parcel that carried the cash was
    cancelled (all its units cancelled), the first open parcel takes it over, as a re-route does.
    Returns the parcels changed (0 when nothing changed: idempotent).

    Precondition: order row locked. Raises FulfillmentError(NOT_OPEN) when the cash is on a
    parcel already with the carrier (its waybill says what to collect) and `amount` differs,
    ValueError for a negative amount or an amount with no open parcel to carry it."""
    amount = money(amount)
    if amount < 0:
        raise ValueError("a cash-on-delivery amount cannot be negative")
    parcels = list(
        Shipment.objects.select_for_update()
        .filter(order=order, kind=Kind.OUTBOUND)
        .exclude(status=Status.CANCELLED)
        .order_by("number")
    )
    carrying = [p for p in parcels if p.cod_amount > 0]
    gone = [p for p in carrying if not p.is_open]
    if gone:
        if gone[0].cod_amount == amount:
            return 0
        raise FulfillmentError(FulfillmentErrorCode.NOT_OPEN, number=gone[0].number)
    open_parcels = [p for p in parcels if p.is_open]
    target = carrying[0] if carrying else (open_parcels[0] if open_parcels and amount else None)
    if amount and target is None:
        raise ValueError(f"order {order.number} has no open parcel to collect {amount}")
    changed = 0
    for parcel in open_parcels:
        due = amount if parcel is target else Decimal("0.00")
        if parcel.cod_amount != due:
            parcel.cod_amount = due
            parcel.save(update_fields=["cod_amount"])
            changed += 1
    return changed


def order_reroute(*, order_id: int, warehouse_id: int | None = None, actor=None) -> list[Shipment]:
    """Route again the parcels of an order that have not left: their units are released and
    reserved afresh, from `warehouse_id` if given (which must hold them all) or by the usual
    rule. The old parcels are cancelled. All or nothing.

    Raises FulfillmentError(NOTHING_TO_REROUTE or CANNOT_SERVE)."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        # Only the order's own parcels: a replacement's lines stand for other variants than
        # their order lines' (see replacement_parcel_create), which shipments_create cannot make.
        parcels = list(
            Shipment.objects.select_for_update().filter(order=order, kind=Kind.OUTBOUND, status__in=Shipment.OPEN)
        )
        if not parcels:
            raise FulfillmentError(FulfillmentErrorCode.NOTHING_TO_REROUTE, number=order.number)
        reservations = [
            line.reservation for line in ShipmentLine.objects.filter(shipment__in=parcels).select_related("reservation")
        ]
        wanted: dict[int, int] = defaultdict(int)
        for reservation in reservations:
            wanted[reservation.variant_id] += reservation.quantity
        # Every stock row of these variants, locked in the global (variant, row) order before
        # releasing anything: releasing first would lock rows out of order and could deadlock
        # with a checkout reserving the same variants.
        stock_lock_for_variants(wanted)
        stock_release(order=order, reservations=reservations, actor=actor, note="re-route")
        try:
            stock_reserve(order=order, wanted=dict(wanted), only_warehouse=warehouse_id, actor=actor)
        except OutOfStock as exc:
            name = Warehouse.objects.get(pk=warehouse_id).name if warehouse_id else "-"
            raise FulfillmentError(FulfillmentErrorCode.CANNOT_SERVE, warehouse=name) from exc
        # Cancelled first, so that the cash to collect (if it was on one of them) moves to the
        # first new parcel: shipments_create gives it to a parcel when no live one carries it.
        Shipment.objects.filter(pk__in=[p.pk for p in parcels]).update(status=Status.CANCELLED, cod_amount=0)
        created = shipments_create(order=order)
    return created


# -- packing and shipping -----------------------------------------------------------------------


def shipment_pack(*, shipment_id: int, actor=None) -> Shipment:
    """Pick and pack done: pending → packed. Idempotent for a packed parcel."""
    with transaction.atomic():
        order_id = Shipment.objects.values_list("order_id", flat=True).get(pk=shipment_id)
        Order.objects.select_for_update().filter(pk=order_id).first()
        shipment = Shipment.objects.select_for_update().get(pk=shipment_id)
        if shipment.status == Status.PACKED:
            return shipment
        if shipment.status != Status.PENDING:
            raise FulfillmentError(FulfillmentErrorCode.NOT_PACKABLE, number=shipment.number)
        shipment.status = Status.PACKED
        shipment.packed_at = timezone.now()
        shipment.save(update_fields=["status", "packed_at"])
    return shipment


def _waybill_request(shipment: Shipment) -> carriers.WaybillRequest:
    order, warehouse = shipment.order, shipment.warehouse
    # A replacement carries other variants than its order lines: weigh those.
    per_unit = "reservation__variant__weight_grams" if shipment.kind == Kind.REPLACEMENT else "order_line__weight_grams"
    weight = shipment.lines.aggregate(grams=Sum(F("quantity") * F(per_unit)))["grams"]
    return carriers.WaybillRequest(
        reference=shipment.number,
        sender=carriers.Place(warehouse.province, warehouse.city, warehouse.address, warehouse.name, warehouse.phone),
        recipient=carriers.Place(
            order.province, order.city, f"{order.district} {order.street}".strip(), order.recipient, order.phone
        ),
        weight_grams=max(int(weight or 0), 1),
        cod_amount=shipment.cod_amount,
        insured_value=shipment_insured_value(shipment),
    )


def goods_value():
    """A parcel's goods value (Σ units × unit price of its lines), as a query expression, so a
    list of parcels can annotate it instead of asking per parcel."""
    return Sum(F("lines__quantity") * F("lines__order_line__unit_price"), output_field=DecimalField())


def shipment_insured_value(shipment: Shipment) -> Decimal:
    """The goods value a parcel is insured for: its lines' value, when the order bought insurance.
    Uses the `goods_value` annotation when the parcel was loaded with it."""
    if not shipment.order.insured:
        return Decimal("0.00")
    value = getattr(shipment, "goods_value", None)
    if value is None:
        value = Shipment.objects.filter(pk=shipment.pk).aggregate(value=goods_value())["value"]
    return money(value or 0)


def shipment_ship(*, shipment_id: int, carrier: str, tracking_number: str = "", actor=None) -> Shipment:
    """Hand a parcel to a carrier: the stock is committed (on_hand and reserved both drop), the
    customer is mailed, and once every line has left the order becomes 已发货.

    Without a tracking number the carrier makes the waybill (the express API, or a number of our
    own fleet). Shipping twice is refused: FulfillmentError(NOT_OPEN); also CARRIER_REFUSED,
    CARRIER_UNAVAILABLE, TRACKING_IN_USE."""
    shipment = Shipment.objects.select_related("order", "warehouse").get(pk=shipment_id)
    if not shipment.is_open:
        raise FulfillmentError(FulfillmentErrorCode.NOT_OPEN, number=shipment.number)
    try:
        courier = carriers.carrier(carrier)
    except carriers.CarrierError as exc:  # unknown, or not configured in this deployment
        raise FulfillmentError(FulfillmentErrorCode.CARRIER_REFUSED, number=shipment.number, reason=str(exc)) from exc
    tracking_number = tracking_number.strip()
    if len(tracking_number) > TRACKING_NUMBER_MAX:
        raise FulfillmentError(FulfillmentErrorCode.TRACKING_TOO_LONG, number=shipment.number, max=TRACKING_NUMBER_MAX)
    if not tracking_number:
        # Outside the transaction: no row stays locked while the carrier answers. A retried
        # request with the same reference gets the same waybill from the carrier.
        try:
            tracking_number = courier.create_waybill(_waybill_request(shipment))
            if not tracking_number or len(tracking_number) > TRACKING_NUMBER_MAX:
                raise carriers.CarrierError(f"unusable tracking number {tracking_number!r}")
        except carriers.CarrierUnavailable as exc:
            raise FulfillmentError(FulfillmentErrorCode.CARRIER_UNAVAILABLE, number=shipment.number) from exc
        except carriers.CarrierError as exc:
            raise FulfillmentError(
                FulfillmentErrorCode.CARRIER_REFUSED, number=shipment.number, reason=str(exc)
            ) from exc
    try:
        with transaction.atomic():
            order = Order.objects.select_for_update().get(pk=shipment.order_id)
            shipment = Shipment.objects.select_for_update().select_related("warehouse").get(pk=shipment_id)
            if not shipment.is_open:
                raise FulfillmentError(FulfillmentErrorCode.NOT_OPEN, number=shipment.number)
            lines = shipment_lines_described(shipment=shipment)
            stock_commit(reservations=[line.reservation for line in lines], reference=shipment.number, actor=actor)
            now = timezone.now()
            shipment.status = Status.SHIPPED
            shipment.carrier = courier.code
            shipment.tracking_number = tracking_number
            shipment.shipped_at = now
            shipment.shipped_by = actor if getattr(actor, "pk", None) else None
            shipment.next_poll_at = now + timezone.timedelta(seconds=settings.CARRIER_POLL_SECONDS)
            shipment.save()
            _mail(Notification.Kind.SHIPMENT_SHIPPED, shipment, order, lines)
            # A replacement never moves the order: it was shipped (or completed) long ago.
            if shipment.kind == Kind.OUTBOUND and not _order_goods_held(order).exists():
                order_record_shipped(order=order, actor=actor)
    except IntegrityError as exc:
        if "tracking_number" not in str(exc):  # the constraint's name (PostgreSQL) or columns (SQLite)
            raise
        raise FulfillmentError(FulfillmentErrorCode.TRACKING_IN_USE, tracking=tracking_number) from exc
    return shipment


# -- tracking ---------------------------------------------------------------------------------


def shipment_record_updates(*, shipment_id: int, updates: list[carriers.TrackingUpdate], actor=None) -> int:
    """Store a parcel's tracking events (each once, however often it is reported) and move the
    parcel on: in transit, a delivery problem, delivered. A delivery mails the customer, hands
    any cash collected to payments and, for the order's last parcel, starts the auto-confirm
    clock. Returns the number of new events. Raises FulfillmentError(NOT_SHIPPED)."""
    with transaction.atomic():
        order_id = Shipment.objects.values_list("order_id", flat=True).get(pk=shipment_id)
        order = Order.objects.select_for_update().get(pk=order_id)
        shipment = Shipment.objects.select_for_update().get(pk=shipment_id)
        if shipment.status not in (*Shipment.TRACKED, Status.DELIVERED):
            raise FulfillmentError(FulfillmentErrorCode.NOT_SHIPPED, number=shipment.number)
        seen = set(shipment.events.values_list("external_id", flat=True))
        new = []
        for update in updates:
            if update.external_id not in seen and update.kind in TrackingEvent.Kind.values:
                seen.add(update.external_id)  # a batch repeating an event still stores it once
                new.append(update)
        TrackingEvent.objects.bulk_create(
            [
                TrackingEvent(
                    shipment=shipment,
                    external_id=u.external_id[:80],
                    kind=u.kind,
                    occurred_at=u.occurred_at,
                    description=u.description[:300],
                    location=u.location[:100],
                    recorded_by=actor if getattr(actor, "pk", None) else None,
                )
                for u in new
            ],
            ignore_conflicts=True,  # a concurrent poll stored it first: still once
        )
        now = timezone.now()
        shipment.next_poll_at = now + timezone.timedelta(seconds=settings.CARRIER_POLL_SECONDS)
        shipment.poll_failures = 0
        shipment.last_poll_error = ""
        delivery = next(
            (u for u in reversed(sorted(updates, key=lambda u: u.occurred_at)) if u.kind == "delivered"), None
        )
        if shipment.status != Status.DELIVERED:
            latest = shipment.events.order_by("-occurred_at", "-pk").first()
            if delivery is not None:
                _deliver(shipment, order, delivery)
            elif latest is not None:
                shipment.status = STATUS_AFTER[latest.kind]
        shipment.save()
    return len(new)


def _deliver(shipment: Shipment, order: Order, delivery: carriers.TrackingUpdate) -> None:
    shipment.status = Status.DELIVERED
    shipment.delivered_at = delivery.occurred_at
    shipment.signed_by = delivery.signed_by[:60]
    if shipment.kind == Kind.RETURN:
        # The shop received the customer's return: nothing to tell the customer "delivered",
        # no cash, and the order's own delivery (its auto-confirm clock) is not this parcel's.
        shipment.save()
        return_delivered.send(sender=Shipment, shipment=shipment)
        return
    if delivery.cod_collected is not None:
        shipment.cod_collected = delivery.cod_collected
    shipment.save()
    _mail(Notification.Kind.SHIPMENT_DELIVERED, shipment, order, shipment_lines_described(shipment=shipment))
    order_record_parcel_delivered(order=order, when=shipment.delivered_at, parcel=shipment.number)
    if shipment.cod_amount and delivery.cod_collected:
        cod_collected.send(sender=Shipment, order=order, amount=delivery.cod_collected, reference=shipment.number)
    if shipment.kind != Kind.OUTBOUND:
        return  # a replacement's delivery does not restart the order's auto-confirm clock
    parcels = Shipment.objects.filter(order=order, kind=Kind.OUTBOUND).exclude(status=Status.CANCELLED)
    if not _order_goods_held(order).exists() and not parcels.exclude(status=Status.DELIVERED).exists():
        order_record_delivered(order=order, when=parcels.aggregate(last=Max("delivered_at"))["last"])


def _order_goods_held(order: Order) -> QuerySet:
    """The order's own units still held (not those of a replacement parcel, which has its own life
    after the order has shipped)."""
    return Reservation.objects.filter(order=order, state=Reservation.State.HELD).exclude(
        shipment_line__shipment__kind=Kind.REPLACEMENT
    )


def shipment_record_event(
    *, shipment_id: int, kind: str, description: str = "", location: str = "", signed_by: str = "",
    cod_collected: Decimal | None = None, occurred_at=None, actor=None,
) -> int:  # fmt: skip
    """Staff record what happened to an own-fleet parcel: the same path as a carrier's events.
    A delivery needs who signed, and for cash on delivery the cash collected, which captures the
    payment: callers let only those allowed to record cash (CASH_PERMISSION) pass it.

    Only the own fleet: any other carrier reports its parcels itself (polled), and an event
    entered by hand could deliver a parcel, or collect its cash, that the carrier still holds.
    Raises FulfillmentError (NOT_OWN_FLEET, SIGNATURE_REQUIRED, CASH_REQUIRED, NOT_SHIPPED)."""
    carrier, number, cash_due = Shipment.objects.values_list("carrier", "number", "cod_amount").get(pk=shipment_id)
    if carrier and carrier != Shipment.Carrier.OWN_FLEET:  # none yet: refused below as not shipped
        raise FulfillmentError(FulfillmentErrorCode.NOT_OWN_FLEET, number=number)
    if kind == TrackingEvent.Kind.DELIVERED and not signed_by.strip():
        raise FulfillmentError(FulfillmentErrorCode.SIGNATURE_REQUIRED)
    if kind == TrackingEvent.Kind.DELIVERED and cod_collected is None and cash_due:
        raise FulfillmentError(FulfillmentErrorCode.CASH_REQUIRED, amount=format_money(cash_due))
    update = carriers.TrackingUpdate(
        external_id=f"staff-{uuid.uuid4().hex}",
        occurred_at=occurred_at or timezone.now(),
        kind=kind,
        description=description,
        location=location,
        signed_by=signed_by.strip(),
        cod_collected=cod_collected,
    )
    return shipment_record_updates(shipment_id=shipment_id, updates=[update], actor=actor)


def shipments_due_for_poll(*, now=None, limit: int = 500) -> list[int]:
    """Parcels with a polled carrier whose next look is due. Each is claimed (its next poll
    pushed back) so that a slow queue does not get the same parcel twice."""
    now = now or timezone.now()
    polled = [code for code in carriers.carriers_available() if carriers.carrier(code).polled]
    with transaction.atomic():
        ids = list(
            Shipment.objects.select_for_update(skip_locked=True)
            .filter(status__in=Shipment.TRACKED, carrier__in=polled, next_poll_at__lte=now)
            .order_by("next_poll_at")
            .values_list("pk", flat=True)[:limit]
        )
        Shipment.objects.filter(pk__in=ids).update(
            next_poll_at=now + timezone.timedelta(seconds=settings.CARRIER_POLL_SECONDS)
        )
    return ids


def shipment_poll(*, shipment_id: int) -> int:
    """Ask the carrier for a parcel's events and record them. Returns the number of new events.

    A carrier that cannot be reached is asked again later and later (the failure is recorded
    and CarrierUnavailable raised, so the task retries with backoff too); a carrier that refuses
    (unknown waybill) is recorded for staff and not retried at once."""
    shipment = Shipment.objects.get(pk=shipment_id)
    if shipment.status not in Shipment.TRACKED:
        return 0
    try:
        updates = carriers.carrier(shipment.carrier).fetch_events(shipment.tracking_number)
    except carriers.CarrierError as exc:
        failures = shipment.poll_failures + 1
        delay = min(settings.CARRIER_POLL_SECONDS * 2**failures, settings.CARRIER_POLL_BACKOFF_MAX_SECONDS)
        Shipment.objects.filter(pk=shipment_id).update(
            poll_failures=failures,
            last_poll_error=str(exc)[:200],
            next_poll_at=timezone.now() + timezone.timedelta(seconds=delay),
        )
        if isinstance(exc, carriers.CarrierUnavailable):
            raise
        return 0
    return shipment_record_updates(shipment_id=shipment_id, updates=updates)


# -- mail and selectors ---------------------------------------------------------------------------


def _mail(kind: str, shipment: Shipment, order: Order, lines: list[ShipmentLine]) -> None:
    customer = order.customer
    # The mail's text (carrier, product names) in the customer's language, not the packer's.
    with translation.override(customer.language or settings.LANGUAGE_CODE):
        english = (translation.get_language() or "").startswith("en")
        context = {
            "number": order.number,
            "shipment": shipment.number,
            "carrier": str(Shipment.Carrier(shipment.carrier).label) if shipment.carrier else "",
            "tracking_number": shipment.tracking_number,
            "signed_by": shipment.signed_by,
            "url": order.get_absolute_url(),
            "cod": format_money(shipment.cod_amount) if shipment.cod_amount else "",
            "lines": [
                {
                    "name": (english and line.product_name_en) or line.product_name,
                    "options": (english and line.options_en) or line.options,
                    "quantity": line.quantity,
                }
                for line in lines
            ],
        }
    notification_queue(
        kind=kind,
        key=f"{kind}:{shipment.pk}",
        to=customer.email,
        language=customer.language,
        order=order,
        user=customer,
        context=context,
    )


def pick_list(*, warehouse_id: int, shipment_ids: list[int] | None = None) -> list[dict]:
    """What to take off the shelves for the parcels waiting to be packed at a warehouse, one row
    per SKU: units in total and in how many parcels."""
    lines = ShipmentLine.objects.filter(shipment__warehouse_id=warehouse_id, shipment__status=Status.PENDING)
    if shipment_ids is not None:
        lines = lines.filter(shipment_id__in=shipment_ids)
    rows = list(
        lines.exclude(shipment__kind=Kind.REPLACEMENT)
        .values("order_line__sku", "order_line__product_name", "order_line__variant_label")
        .annotate(units=Sum("quantity"), parcels=Count("shipment", distinct=True))
    )
    # Replacement parcels carry the variant reserved for them, not their order line's.
    replacements = list(
        lines.filter(shipment__kind=Kind.REPLACEMENT)
        .values("reservation__variant_id")
        .annotate(units=Sum("quantity"), parcels=Count("shipment", distinct=True))
    )
    if replacements:
        described = _variants_described([r["reservation__variant_id"] for r in replacements])
        by_sku = {row["order_line__sku"]: row for row in rows}
        for r in replacements:
            sku, name, options = described[r["reservation__variant_id"]]
            row = by_sku.get(sku)
            if row is None:
                row = by_sku[sku] = {
                    "order_line__sku": sku, "order_line__product_name": name, "order_line__variant_label": options,
                    "units": 0, "parcels": 0,
                }  # fmt: skip
                rows.append(row)
            row["units"] += r["units"]
            row["parcels"] += r["parcels"]  # a parcel is a replacement or not: no parcel counted twice
    # Each row's bin in this warehouse; the list runs in bin order (one walk down the aisles),
    # rows without a bin last.
    bins = dict(
        Stock.objects.filter(
            warehouse_id=warehouse_id, variant__sku__in=[row["order_line__sku"] for row in rows]
        ).values_list("variant__sku", "location")
    )
    for row in rows:
        row["location"] = bins.get(row["order_line__sku"], "")
    return sorted(rows, key=lambda row: (not row["location"], row["location"], row["order_line__sku"]))


def _variants_described(variant_ids) -> dict[int, tuple[str, str, str]]:
    """variant id -> (SKU, product name, options), options spelled as checkout copies them."""
    variants = ProductVariant.objects.filter(pk__in=set(variant_ids)).select_related("product")
    return {
        v.pk: (v.sku, v.product.name, " / ".join(o.value for o in v.options.all()))
        for v in variants.prefetch_related("options")
    }


def shipment_lines_described(*, shipment: Shipment) -> list[ShipmentLine]:
    """The parcel's lines (with their reservations and order lines), each with `sku`,
    `product_name` and `options`: what is actually in the box. A replacement's line points at the
    order line it replaces but carries the variant reserved for it; any other line is its order
    line's copy as bought. `product_name_en` and `options_en` are the English ones (empty when
    none) for the customer's mail; the warehouse's documents read the Chinese."""
    lines = list(shipment.lines.select_related("reservation", "order_line"))
    other = [line.reservation.variant_id for line in lines if line.reservation.variant_id != line.order_line.variant_id]
    described = _variants_described(other) if other else {}
    english = _variants_described_en(other) if other else {}
    for line in lines:
        ordered = line.order_line
        line.sku, line.product_name, line.options = described.get(
            line.reservation.variant_id, (ordered.sku, ordered.product_name, ordered.variant_label)
        )
        line.product_name_en, line.options_en = english.get(
            line.reservation.variant_id, (ordered.product_name_en, ordered.variant_label_en)
        )
    return lines


def _variants_described_en(variant_ids) -> dict[int, tuple[str, str]]:
    """variant id -> (English product name, English options) as an order line copies them."""
    variants = ProductVariant.objects.filter(pk__in=set(variant_ids)).select_related("product")
    names = {v.pk: order_line_names(v) for v in variants.prefetch_related("options")}
    return {pk: (n["product_name_en"], n["variant_label_en"]) for pk, n in names.items()}
