"""After-sales requests: what a customer may ask for, opening it, the shop's decision, returns,
exchanges, appeals and the deadlines the beat job enforces.

Every status change goes through `_transition` with the request row locked (and the order row
before it: lock order is order → request → payment, everywhere), records an AfterSaleEvent and
writes the mail it owes in the same transaction.
"""

import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from aftersales.exceptions import AfterSaleError, AfterSaleErrorCode
from aftersales.models import (
    AfterSale,
    AfterSaleEvent,
    AfterSaleLine,
    AfterSaleMessage,
    AfterSalePhoto,
    RefundNote,
    RefundNoteLine,
)
from aftersales.services.invoices import invoice_red_for_refund
from aftersales.services.photos import photos_clean
from aftersales.services.reports import daily_sales_record_refund
from catalog.models import ProductVariant
from fulfillment.models import Reservation, Shipment, ShipmentLine, Warehouse
from orders.models import Notification, Order
from orders.services import (
    coupon_release,
    notification_queue,
    order_line_discount_shares,
    order_record_shipped,
    order_transition,
)
from payments.models import Payment, Refund
from payments.services import cod_lower, payment_refund, payment_refundable
from shop.core.money import format_money, money
from shop.models import sequence_next


@dataclass
class LineEligibility:
    """What a customer may still ask for one order line."""

    line_id: int
    name: str
    options: str
    bought: int
    requested: int  # units already in live requests (open, refunding, done, or rejected)
    requests: int  # requests on this line so far (all states)
    available: int  # units that may go into a new request
    kinds: list[str] = field(default_factory=list)  # AfterSale.Kind values possible now
    reasons: dict[str, list[str]] = field(default_factory=dict)  # kind -> AfterSale.Reason values
    no_reason: bool = False  # 7-day no-reason return possible for this product now
    why_not: str = ""  # translated: why nothing is possible (shown instead of the form)
    exchange_options: list[tuple[int, str]] = field(default_factory=list)  # (variant id, label)


@dataclass
class Eligibility:
    order_id: int
    kinds: list[str]  # kinds possible for at least one line
    lines: list[LineEligibility]
    whole_order_cancel: bool  # nothing shipped: cancelling every unit closes the order
    no_reason_until: object = None  # datetime or None
    quality_until: object = None  # datetime or None
    why_not: str = ""  # translated, when `kinds` is empty

    def line(self, line_id: int) -> LineEligibility | None:
        return next((x for x in self.lines if x.line_id == line_id), None)


@dataclass
class RefundAmounts:
    """A refund computed on the server: goods less their pro-rata share of the discount, the
    fees only when nothing has shipped and the last units go."""

    lines: dict[int, tuple[int, Decimal]]  # order line id -> (units, amount)
    goods: Decimal
    shipping: Decimal
    insurance: Decimal
    total: Decimal


Kind, Reason, Status = AfterSale.Kind, AfterSale.Reason, AfterSale.Status

# Reasons a customer may give, per kind. No-reason returns only where the law's 7 days apply.
REASONS = {
    Kind.CANCEL: [Reason.CHANGED_MIND, Reason.WRONG_ITEM, Reason.OTHER],
    Kind.REFUND: [Reason.NOT_RECEIVED, Reason.LOST, Reason.DAMAGED, Reason.OTHER],
    Kind.RETURN: [
        Reason.NO_REASON,
        Reason.QUALITY,
        Reason.WRONG_ITEM,
        Reason.DAMAGED,
        Reason.NOT_AS_DESCRIBED,
        Reason.OTHER,
    ],
    Kind.EXCHANGE: [Reason.NO_REASON, Reason.QUALITY, Reason.WRONG_ITEM, Reason.DAMAGED, Reason.NOT_AS_DESCRIBED],
}
# A parcel that has left the warehouse: with the carrier, or delivered.
SHIPPED_STATES = (*Shipment.TRACKED, Shipment.Status.DELIVERED)


def _request_number() -> str:
    return "AS" + timezone.localdate().strftime("%Y%m%d") + f"{secrets.randbelow(10**6):06d}"


def refund_note_number() -> str:
    year = timezone.localdate().year
    return f"RN{year}{sequence_next(f'refund_note:{year}'):06d}"


# -- the units of an order ------------------------------------------------------------------------


@dataclass
class Units:
    """Per order line: where its units are, and what after-sales already holds of them."""

    held_pending: int = 0  # reserved, in a parcel not yet packed
    held_packed: int = 0  # reserved, in a packed parcel
    shipped: int = 0  # handed to a carrier (outbound parcels)
    delivered: int = 0
    warehouses: list[int] = field(default_factory=list)  # where they left from
    in_requests: int = 0  # units in live requests
    cancelling: int = 0  # units of unshipped stock in cancellations not decided yet
    claimed_shipped: int = 0  # units of shipped goods in live refund, return or exchange requests
    requests: int = 0  # requests ever opened on the line

    @property
    def free_unshipped(self) -> int:
        """Units still held for shipping that no cancellation holds (approved ones released theirs)."""
        return max(self.held_pending + self.held_packed - self.cancelling, 0)

    @property
    def free_shipped(self) -> int:
        """Units that left the warehouse that no live request holds."""
        return max(self.shipped - self.claimed_shipped, 0)


def order_units(order: Order) -> dict[int, Units]:
    """Where every order line's units are (parcels) and what requests and refunds hold of them."""
    units: dict[int, Units] = defaultdict(Units)
    rows = (
        ShipmentLine.objects.filter(shipment__order=order, shipment__kind=Shipment.Kind.OUTBOUND)
        .exclude(shipment__status=Shipment.Status.CANCELLED)
        .values("order_line_id", "shipment__status", "shipment__warehouse_id", "reservation__state")
        .annotate(n=Sum("quantity"))
    )
    for row in rows:
        u = units[row["order_line_id"]]
        state, status = row["reservation__state"], row["shipment__status"]
        if state == Reservation.State.HELD:
            if status == Shipment.Status.PACKED:
                u.held_packed += row["n"]
            else:
                u.held_pending += row["n"]
        elif state == Reservation.State.SHIPPED:
            u.shipped += row["n"]
            if status == Shipment.Status.DELIVERED:
                u.delivered += row["n"]
            if row["shipment__warehouse_id"] not in u.warehouses:
                u.warehouses.append(row["shipment__warehouse_id"])
    requested = (
        AfterSaleLine.objects.filter(request__order=order)
        .values("order_line_id")
        .annotate(
            n=Sum("quantity", filter=Q(request__status__in=AfterSale.LIVE)),
            cancelling=Sum(
                "quantity",
                filter=Q(
                    request__kind=Kind.CANCEL,
                    request__status__in=(Status.PENDING, Status.ESCALATED, Status.REJECTED),
                ),
            ),
            claimed_shipped=Sum(
                "quantity", filter=Q(request__status__in=AfterSale.LIVE) & ~Q(request__kind=Kind.CANCEL)
            ),
            requests=Count("request", distinct=True),
        )
    )
    for row in requested:
        u = units[row["order_line_id"]]
        u.in_requests = row["n"] or 0
        u.cancelling = row["cancelling"] or 0
        u.claimed_shipped = row["claimed_shipped"] or 0
        u.requests = row["requests"]
    return units


def _delivered_at(order: Order):
    """When the goods arrived: the carrier's delivery, else the confirmation of receipt."""
    return order.delivered_at or order.completed_at


def _no_reason_allowed(variant: ProductVariant) -> bool:
    product = variant.product
    if product.no_reason_returns is not None:
        return product.no_reason_returns
    return product.category.no_reason_returns


# -- eligibility ----------------------------------------------------------------------------------


def aftersale_eligibility(*, order: Order, now=None, units: dict[int, Units] | None = None) -> Eligibility:
    """What the customer may ask for on each line of an order now, and why not when nothing.
    `units`: order_units(order), when the caller has it already. Precondition: the order is the
    customer's (the caller checked)."""
    now = now or timezone.now()
    units = units if units is not None else order_units(order)
    delivered_at = _delivered_at(order)
    no_reason_until = quality_until = None
    if delivered_at and order.status in (Order.Status.SHIPPED, Order.Status.COMPLETED):
        no_reason_until = delivered_at + timedelta(days=settings.AFTERSALES_NO_REASON_DAYS)
        quality_until = delivered_at + timedelta(days=settings.AFTERSALES_QUALITY_DAYS)
    lines = list(order.lines.select_related("variant__product__category"))
    siblings = _exchange_options([line.variant.product_id for line in lines])
    result = []
    for line in lines:
        u = units[line.pk]
        free = u.free_unshipped + u.free_shipped
        el = LineEligibility(
            line_id=line.pk,
            name=line.display_name,
            options=line.display_options,
            bought=line.quantity,
            requested=u.in_requests,
            requests=u.requests,
            available=free,
        )
        if u.requests >= settings.AFTERSALES_MAX_REQUESTS_PER_LINE:
            el.why_not = _("This item already has the most requests allowed.")
            el.available = 0
            result.append(el)
            continue
        if order.status not in (Order.Status.PAID, Order.Status.SHIPPED, Order.Status.COMPLETED):
            el.why_not = _("After-sales opens once the order is paid.")
            el.available = 0
            result.append(el)
            continue
        free_unshipped, free_shipped = u.free_unshipped, u.free_shipped
        if free_unshipped:
            el.kinds.append(Kind.CANCEL)
            el.reasons[Kind.CANCEL] = list(REASONS[Kind.CANCEL])
        in_window = quality_until is not None and now <= quality_until
        if (free_shipped and order.status != Order.Status.COMPLETED) or (free_shipped and in_window):
            el.kinds.append(Kind.REFUND)
            el.reasons[Kind.REFUND] = list(REASONS[Kind.REFUND])
        if (free_shipped and in_window and u.delivered) or (free_shipped and in_window and order.completed_at):
            el.no_reason = _no_reason_allowed(line.variant) and now <= no_reason_until
            reasons = [r for r in REASONS[Kind.RETURN] if r != Reason.NO_REASON or el.no_reason]
            el.kinds.append(Kind.RETURN)
            el.reasons[Kind.RETURN] = reasons
            el.exchange_options = [o for o in siblings.get(line.variant.product_id, []) if o[0] != line.variant_id]
            if el.exchange_options:
                el.kinds.append(Kind.EXCHANGE)
                el.reasons[Kind.EXCHANGE] = [r for r in REASONS[Kind.EXCHANGE] if r != Reason.NO_REASON or el.no_reason]
        if not el.kinds:
            el.available = 0
            if free == 0:
                el.why_not = _("Every unit of this item is already in a request.")
            elif quality_until is not None and now > quality_until:
                el.why_not = _("The after-sales period of this item has ended.")
            else:
                el.why_not = _("Nothing can be asked for this item now.")
        result.append(el)
    kinds = [k for k in Kind.values if any(k in x.kinds for x in result)]
    nothing_shipped = all(units[line.pk].shipped == 0 for line in lines)
    return Eligibility(
        order_id=order.pk,
        kinds=kinds,
        lines=result,
        whole_order_cancel=order.status == Order.Status.PAID and nothing_shipped,
        no_reason_until=no_reason_until,
        quality_until=quality_until,
        why_not="" if kinds else _("This order has nothing you can ask after-sales for now."),
    )


def _exchange_options(product_ids: list[int]) -> dict[int, list[tuple[int, str]]]:
    """Active variants of the products, with their options as a label, for exchanges."""
    options: dict[int, list[tuple[int, str]]] = defaultdict(list)
    variants = ProductVariant.objects.filter(product_id__in=set(product_ids), is_active=True).prefetch_related(
        "options"
    )
    for v in variants.order_by("position", "pk"):
        label = " / ".join(o.display_value for o in v.options.all()) or v.sku
        options[v.product_id].append((v.pk, label))
    return options


def _units_for_kind(kind: str, units: Units) -> int:
    """How many units of a line a new request of `kind` may take."""
    return units.free_unshipped if kind == Kind.CANCEL else units.free_shipped


# -- refunds: amounts ---------------------------------------------------------------------------


def line_refund_amount(*, net: Decimal, quantity: int, done: int, units: int) -> Decimal:
    """What `units` more of a line give back when `done` were refunded before: the line's net
    total in proportion, counted cumulatively, so the parts always add up to the net total."""
    return money(net * (done + units) / quantity) - money(net * done / quantity)


def refund_amounts(*, order: Order, quantities: dict[int, int], with_fees: bool) -> RefundAmounts:
    """What refunding `quantities` (order line id → units) gives back: for each line, the line's
    net total (less its discount share) in proportion to units, counted cumulatively over the
    units refunded before so that refunding a line in parts gives back exactly its net total.
    Shipping and insurance only `with_fees`. Capped by what the order's payment still holds."""
    lines = {line.pk: line for line in order.lines.all()}
    shares = order_line_discount_shares(order, list(lines.values()))
    before = dict(
        RefundNoteLine.objects.filter(note__order=order)
        .values("order_line_id")
        .annotate(n=Sum("quantity"))
        .values_list("order_line_id", "n")
    )
    result: dict[int, tuple[int, Decimal]] = {}
    for line_id, n in quantities.items():
        line = lines[line_id]
        net = line.line_total - shares[line_id]
        result[line_id] = (n, line_refund_amount(net=net, quantity=line.quantity, done=before.get(line_id, 0), units=n))
    goods = sum((amount for _n, amount in result.values()), Decimal("0.00"))
    shipping = order.shipping_fee if with_fees else Decimal("0.00")
    insurance = order.insurance_fee if with_fees else Decimal("0.00")
    return RefundAmounts(
        lines=result, goods=goods, shipping=shipping, insurance=insurance, total=goods + shipping + insurance
    )


def _order_payment(payments: list[Payment]) -> Payment | None:
    """Of an order's payments, the one holding its money (its captured total), or its
    cash-on-delivery payment still to collect."""
    payments = [p for p in payments if p.purpose == Payment.Purpose.ORDER]
    captured = next((p for p in payments if p.state == Payment.State.CAPTURED), None)
    if captured is not None:
        return captured
    return next((p for p in payments if p.provider == "cod" and p.state == Payment.State.AWAITING_COLLECTION), None)


def _supplements(payments: list[Payment]) -> list[Payment]:
    """Of an order's payments, the later charges on top of its total (a re-priced shipping fee)
    that can still go back."""
    return [
        p
        for p in payments
        if p.purpose == Payment.Purpose.SUPPLEMENT and p.state == Payment.State.CAPTURED and payment_refundable(p) > 0
    ]


# -- transitions and mail ------------------------------------------------------------------------


def _transition(request: AfterSale, to: str, *, actor=None, actor_kind: str = "system", note: str = "", due_at=None):
    """Move a locked request, record the event, set the new state's deadline."""
    if not request.can_become(to):
        raise AfterSaleError(
            AfterSaleErrorCode.BAD_TRANSITION,
            **{"from": AfterSale.Status(request.status).label, "to": AfterSale.Status(to).label},
        )
    before = request.status
    request.status = to
    request.due_at = due_at
    fields = ["status", "due_at"]
    if to in (Status.COMPLETED, Status.CLOSED):
        request.closed_at = timezone.now()
        fields.append("closed_at")
    request.save(update_fields=fields)
    AfterSaleEvent.objects.create(
        request=request,
        from_status=before,
        to_status=to,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_kind=actor_kind,
        note=note[:300],
    )
    return request


def request_context(request: AfterSale, **extra) -> dict:
    note = RefundNote.objects.filter(request=request).first()
    replacement = request.replacement_shipment
    return {
        "number": request.number,
        "order": request.order.number,
        "kind": str(AfterSale.Kind(request.kind).label),
        "status": str(AfterSale.Status(request.status).label),
        "url": request.get_absolute_url(),
        "reason": request.reject_reason if request.status == Status.REJECTED else request.close_reason,
        "amount": format_money(note.amount) if note else "",
        "refund_url": note.get_absolute_url() if note else "",
        "lines": [
            {"name": x.order_line.display_name, "options": x.order_line.display_options, "quantity": x.quantity}
            for x in request.lines.select_related("order_line")
        ],
        "message": "",
        "return_address": request.return_address,
        "deadline": timezone.localtime(request.due_at).strftime("%Y-%m-%d %H:%M") if request.due_at else "",
        "tracking_number": replacement.tracking_number if replacement else "",
        **extra,
    }


def _mail(request: AfterSale, kind: str, key: str | None = None, **extra) -> None:
    customer = request.customer
    with translation.override(customer.language or settings.LANGUAGE_CODE):  # labels in the mail's language
        context = request_context(request, **extra)
    notification_queue(
        kind=kind,
        key=key or f"{kind}:{request.pk}:{request.status}",
        to=customer.email,
        language=customer.language,
        context=context,
        order=request.order,
        user=customer,
    )


# -- opening a request ----------------------------------------------------------------------------


def aftersale_open(
    *,
    order_id: int,
    customer,
    kind: str,
    reason: str,
    quantities: dict[int, int],
    description: str = "",
    photos=(),
    exchange_variants: dict[int, int] | None = None,
    refund_to: str = AfterSale.RefundTo.ORIGINAL,
) -> AfterSale:
    """Open a request on some units of the customer's order. All or nothing: any rule broken
    raises AfterSaleError and nothing is written. A cancellation whose units are not packed yet
    is approved at once. Another customer's order raises Order.DoesNotExist."""
    cleaned_photos = photos_clean(photos)  # before any lock: decoding images takes time
    quantities = {int(k): int(v) for k, v in quantities.items() if int(v) > 0}
    exchange_variants = {int(k): int(v) for k, v in (exchange_variants or {}).items() if v}
    description = description.strip()[:1000]
    if refund_to not in AfterSale.RefundTo.values:
        refund_to = AfterSale.RefundTo.ORIGINAL
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id, customer=customer)
        units = order_units(order)
        eligibility = aftersale_eligibility(order=order, units=units)
        if kind not in eligibility.kinds:
            raise AfterSaleError(AfterSaleErrorCode.KIND_NOT_ALLOWED)
        if not quantities:
            raise AfterSaleError(AfterSaleErrorCode.NO_LINES)
        for line_id, n in quantities.items():
            el = eligibility.line(line_id)
            if el is None or kind not in el.kinds:
                raise AfterSaleError(AfterSaleErrorCode.KIND_NOT_ALLOWED)
            if reason not in el.reasons.get(kind, []):
                if reason == Reason.NO_REASON and kind in (Kind.RETURN, Kind.EXCHANGE):
                    if (
                        not el.no_reason
                        and eligibility.no_reason_until
                        and timezone.now() > eligibility.no_reason_until
                    ):
                        raise AfterSaleError(
                            AfterSaleErrorCode.NO_REASON_WINDOW, days=settings.AFTERSALES_NO_REASON_DAYS
                        )
                    raise AfterSaleError(AfterSaleErrorCode.NO_REASON_EXCLUDED, name=el.name)
                raise AfterSaleError(AfterSaleErrorCode.REASON_NOT_ALLOWED)
            most = _units_for_kind(kind, units[line_id])
            if n > most:
                raise AfterSaleError(AfterSaleErrorCode.TOO_MANY_UNITS, n=most, name=el.name)
            if kind == Kind.EXCHANGE and exchange_variants.get(line_id) not in {v for v, _l in el.exchange_options}:
                raise AfterSaleError(AfterSaleErrorCode.EXCHANGE_VARIANT, name=el.name)
        if kind in (Kind.RETURN, Kind.EXCHANGE, Kind.REFUND) and reason != Reason.NO_REASON and not description:
            raise AfterSaleError(AfterSaleErrorCode.DESCRIPTION_REQUIRED)
        request = AfterSale.objects.create(
            number=_request_number(),
            order=order,
            customer=customer,
            kind=kind,
            reason=reason,
            description=description,
            refund_to=refund_to,
            due_at=timezone.now() + timedelta(hours=settings.AFTERSALES_RESPOND_HOURS),
        )
        AfterSaleLine.objects.bulk_create(
            AfterSaleLine(
                request=request,
                order_line_id=line_id,
                quantity=n,
                exchange_variant_id=exchange_variants.get(line_id) if kind == Kind.EXCHANGE else None,
            )
            for line_id, n in quantities.items()
        )
        for photo in cleaned_photos:
            AfterSalePhoto.objects.create(request=request, image=photo)
        AfterSaleEvent.objects.create(
            request=request, to_status=Status.PENDING, actor=customer, actor_kind="customer", note=reason
        )
        if kind == Kind.CANCEL:
            packed = any(units[line_id].held_packed for line_id in quantities)
            if not packed:
                _approve(order, request, actor=None, actor_kind="system", note="not packed yet: approved at once")
                return request
            request.due_at = timezone.now() + timedelta(hours=settings.AFTERSALES_CANCEL_RESPOND_HOURS)
            request.save(update_fields=["due_at"])
        _mail(request, Notification.Kind.AFTERSALE_RECEIVED)
    return request


# -- the shop's decision --------------------------------------------------------------------------


def _locked(request_id: int) -> tuple[Order, AfterSale]:
    """Lock the request's order, then the request (the lock order everywhere)."""
    order_id = AfterSale.objects.values_list("order_id", flat=True).get(pk=request_id)
    order = Order.objects.select_for_update().get(pk=order_id)
    return order, AfterSale.objects.select_for_update().get(pk=request_id)


def _can_supervise(actor) -> bool:
    return actor is None or actor.has_perm("aftersales.supervise_aftersale")


def aftersale_approve(*, request_id: int, actor, warehouse_id: int | None = None, note: str = "") -> AfterSale:
    """The shop agrees. Refunds are decided (a refund note) and paid out; returns and
    exchanges wait for the goods, sent to `warehouse_id` (default: where they left from).
    Idempotent for a request already past its decision? No: raises BAD_TRANSITION, so that two
    staff approving at once give one refund (the second waits for the lock, then is refused)."""
    with transaction.atomic():
        order, request = _locked(request_id)
        if request.status == Status.ESCALATED and not _can_supervise(actor):
            raise AfterSaleError(AfterSaleErrorCode.NEEDS_SUPERVISOR)
        if request.status not in (Status.PENDING, Status.ESCALATED):
            raise AfterSaleError(AfterSaleErrorCode.NOT_OPEN)
        _approve(
            order, request, actor=actor, actor_kind="staff" if actor else "system", note=note, warehouse_id=warehouse_id
        )
    return request


def _approve(order: Order, request: AfterSale, *, actor, actor_kind: str, note: str = "", warehouse_id=None) -> None:
    """Precondition: order and request locked; the request is pending or escalated."""
    request.decided_at = timezone.now()
    request.decided_by = actor if getattr(actor, "pk", None) else None
    request.save(update_fields=["decided_at", "decided_by"])
    if request.needs_return:
        warehouse = _return_warehouse(order, request, warehouse_id)
        request.return_warehouse = warehouse
        request.return_address = " ".join(
            p for p in (warehouse.province, warehouse.city, warehouse.address, warehouse.name, warehouse.phone) if p
        )
        request.save(update_fields=["return_warehouse", "return_address"])
        _transition(
            request,
            Status.AWAITING_RETURN,
            actor=actor,
            actor_kind=actor_kind,
            note=note,
            due_at=timezone.now() + timedelta(days=settings.AFTERSALES_RETURN_SHIP_DAYS),
        )
        _mail(request, Notification.Kind.AFTERSALE_APPROVED)
        return
    closing = False
    if request.kind == Kind.CANCEL:
        closing = _release_units(order, request, actor=actor)
    _transition(request, Status.REFUNDING, actor=actor, actor_kind=actor_kind, note=note)
    _mail(request, Notification.Kind.AFTERSALE_APPROVED)
    _refund(order, request, with_fees=closing, actor=actor)


def _return_warehouse(order: Order, request: AfterSale, warehouse_id: int | None) -> Warehouse:
    if warehouse_id:
        return Warehouse.objects.get(pk=warehouse_id)
    units = order_units(order)
    for line in request.lines.all():
        if units[line.order_line_id].warehouses:
            return Warehouse.objects.get(pk=units[line.order_line_id].warehouses[0])
    return Warehouse.objects.filter(is_active=True).order_by("code").first()


def _release_units(order: Order, request: AfterSale, *, actor) -> bool:
    """Cancel the request's units before they ship: release their stock, shrink their parcels,
    and move the order on (closed when nothing is left to send and nothing was sent; shipped
    when what is left has all gone). Returns whether the order closed. Raises ALREADY_SHIPPED."""
    from fulfillment.services import stock_release_units

    for line in request.lines.select_related("order_line"):
        released = stock_release_units(
            order=order,
            variant_id=line.order_line.variant_id,
            quantity=line.quantity,
            actor=actor,
            note=f"after-sales {request.number}",
            reference=request.number,
        )
        if released < line.quantity:
            raise AfterSaleError(AfterSaleErrorCode.ALREADY_SHIPPED)
    still_held = Reservation.objects.filter(order=order, state=Reservation.State.HELD).exists()
    if still_held:
        _cod_due_follow(order, request)
        return False
    anything_shipped = Reservation.objects.filter(order=order, state=Reservation.State.SHIPPED).exists()
    if anything_shipped:
        _cod_due_follow(order, request)
        order_record_shipped(order=order, actor=actor if getattr(actor, "pk", None) else None)
        return False
    order.cancel_reason = (_("Refunded before shipping (%(n)s)") % {"n": request.number})[:200]
    order.save(update_fields=["cancel_reason"])
    order_transition(
        order,
        Order.Status.CLOSED,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_kind="staff" if getattr(actor, "pk", None) else "customer",
        note=request.number,
    )
    Payment.objects.filter(order=order, provider="cod", state=Payment.State.AWAITING_COLLECTION).update(
        state=Payment.State.CANCELLED
    )
    # Refunded in full before anything left: the customer gets the coupon's use back, as for an
    # unpaid order cancelled. Once: the redemption row goes with it, and the order never closes twice.
    coupon_release(order=order)
    return True


def _cod_due_follow(order: Order, request: AfterSale) -> None:
    """Cash on delivery not collected yet: the courier collects less by what was cancelled."""
    from fulfillment.services import shipments_set_cod_due

    cod = Payment.objects.filter(order=order, provider="cod", state=Payment.State.AWAITING_COLLECTION).first()
    if cod is None:
        return
    cancelled = RefundNote.objects.filter(order=order).aggregate(total=Sum("amount"))["total"] or Decimal("0")
    amounts = refund_amounts(
        order=order, quantities={x.order_line_id: x.quantity for x in request.lines.all()}, with_fees=False
    )
    shipments_set_cod_due(order=order, amount=max(order.total - cancelled - amounts.total, Decimal("0.00")))


def _refund(order: Order, request: AfterSale, *, with_fees: bool, actor=None) -> RefundNote:
    """Decide the money (a refund note with its lines) and have it paid out. Precondition:
    order and request locked."""
    quantities = {x.order_line_id: x.quantity for x in request.lines.all()}
    amounts = refund_amounts(order=order, quantities=quantities, with_fees=with_fees)
    payments = list(order.payments.all())
    payment = _order_payment(payments)
    supplements = _supplements(payments) if with_fees else []
    refundable = None
    if payment is not None and payment.state == Payment.State.CAPTURED:
        refundable = payment_refundable(payment) + sum(payment_refundable(p) for p in supplements)
    goods, shipping, insurance = _capped(amounts, refundable)
    note = RefundNote.objects.create(
        number=refund_note_number(),
        order=order,
        request=request,
        goods_amount=goods,
        shipping_amount=shipping,
        insurance_amount=insurance,
        amount=goods + shipping + insurance,
        destination=request.refund_to,
        approved_by=actor if getattr(actor, "pk", None) else None,
    )
    RefundNoteLine.objects.bulk_create(
        RefundNoteLine(note=note, order_line_id=line_id, quantity=n, amount=amount)
        for line_id, (n, amount) in amounts.lines.items()
    )
    daily_sales_record_refund(note=note)  # the sales report's rollup, in this transaction
    invoice_red_for_refund(note=note)  # the order's invoice was issued already: a red one
    if payment is None or payment.state != Payment.State.CAPTURED or note.amount <= 0:
        # Cash on delivery not collected (or nothing left to give back): nothing to pay out,
        # and the courier collects that much less.
        if payment is not None and payment.state == Payment.State.AWAITING_COLLECTION and note.amount > 0:
            cod_lower(order_id=order.pk, by=note.amount)
        _note_settle(note, RefundNote.State.NOTHING_DUE)
        return note
    # The order is closing: what was charged on top of its total goes back first (to the
    # wallet it came from, at once); the rest from the order's payment.
    from_main = note.amount
    for supplement in supplements:
        part = min(payment_refundable(supplement), from_main)
        if part > 0:
            payment_refund(
                payment_id=supplement.pk,
                amount=part,
                reason=Refund.Reason.CUSTOMER,
                note=f"{request.number} {note.number}",
            )
            from_main -= part
    if from_main <= 0:
        _note_settle(note, RefundNote.State.PAID)
        return note
    refund = payment_refund(
        payment_id=payment.pk,
        amount=from_main,
        reason=Refund.Reason.CUSTOMER,
        note=f"{request.number} {note.number}",
        actor=actor if getattr(actor, "pk", None) else None,
        destination=Refund.Destination.WALLET if request.refund_to == AfterSale.RefundTo.WALLET else "",
    )
    note.payment_refund = refund
    note.save(update_fields=["payment_refund"])
    if refund.state == Refund.State.SUCCEEDED:  # the wallet's ledger: paid at once
        _note_settle(note, RefundNote.State.PAID)
    return note


def _capped(amounts: RefundAmounts, refundable: Decimal | None) -> tuple[Decimal, Decimal, Decimal]:
    """Goods, shipping and insurance, cut (fees first) to what the payment still holds: money
    may have gone back another way (a shipping fee re-priced down)."""
    goods, shipping, insurance = amounts.goods, amounts.shipping, amounts.insurance
    if refundable is None or amounts.total <= refundable:
        return goods, shipping, insurance
    over = amounts.total - refundable
    cut = min(insurance, over)
    insurance, over = insurance - cut, over - cut
    cut = min(shipping, over)
    shipping, over = shipping - cut, over - cut
    return goods - min(goods, over), shipping, insurance


def _note_settle(note: RefundNote, state: str) -> None:
    """A refund note's payout ended. Precondition: the order is locked."""
    if note.state in (RefundNote.State.PAID, RefundNote.State.NOTHING_DUE):
        return
    note.state = state
    if state in (RefundNote.State.PAID, RefundNote.State.NOTHING_DUE):
        note.paid_at = timezone.now()
    note.save(update_fields=["state", "paid_at"])
    request = note.request
    if request is None or state == RefundNote.State.FAILED:
        return
    request = AfterSale.objects.select_for_update().get(pk=request.pk)
    if request.status == Status.REFUNDING:
        _transition(request, Status.COMPLETED, note=note.number)
        if state == RefundNote.State.PAID:
            _mail(request, Notification.Kind.REFUND_PAID)


def refund_note_settled(*, refund: Refund) -> None:
    """payments paid (or gave up on) a payout: move its refund note and request on."""
    note = RefundNote.objects.filter(payment_refund=refund).first()
    if note is None:
        return  # not ours (a double payment's refund), or still being linked by _refund
    if refund.state == Refund.State.SUCCEEDED:
        _note_settle(note, RefundNote.State.PAID)
    elif refund.state == Refund.State.FAILED:
        _note_settle(note, RefundNote.State.FAILED)


def aftersale_reject(*, request_id: int, actor, reason: str) -> AfterSale:
    """The shop says no, with a reason the customer sees. A first rejection may be appealed
    within AFTERSALES_APPEAL_DAYS; a supervisor's (escalated or appealed) is final."""
    reason = (reason or "").strip()
    if not reason:
        raise AfterSaleError(AfterSaleErrorCode.REASON_REQUIRED)
    with transaction.atomic():
        _order, request = _locked(request_id)
        if request.status == Status.ESCALATED and not _can_supervise(actor):
            raise AfterSaleError(AfterSaleErrorCode.NEEDS_SUPERVISOR)
        if request.status not in (Status.PENDING, Status.ESCALATED):
            raise AfterSaleError(AfterSaleErrorCode.NOT_OPEN)
        request.reject_reason = reason[:300]
        request.decided_at = timezone.now()
        request.decided_by = actor if getattr(actor, "pk", None) else None
        request.save(update_fields=["reject_reason", "decided_at", "decided_by"])
        if request.status == Status.ESCALATED or request.appealed_at:
            request.close_reason = reason[:200]
            request.save(update_fields=["close_reason"])
            _transition(request, Status.CLOSED, actor=actor, actor_kind="staff", note=reason)
            _mail(request, Notification.Kind.AFTERSALE_REJECTED, key=f"aftersale_rejected:{request.pk}:final")
        else:
            _transition(
                request,
                Status.REJECTED,
                actor=actor,
                actor_kind="staff",
                note=reason,
                due_at=timezone.now() + timedelta(days=settings.AFTERSALES_APPEAL_DAYS),
            )
            _mail(request, Notification.Kind.AFTERSALE_REJECTED)
    return request


def aftersale_escalate(*, request_id: int, actor, note: str = "") -> AfterSale:
    """Put a pending request before a supervisor (who has the same deadline to answer)."""
    with transaction.atomic():
        _order, request = _locked(request_id)
        if request.status != Status.PENDING:
            raise AfterSaleError(AfterSaleErrorCode.NOT_OPEN)
        request.escalated = True
        request.save(update_fields=["escalated"])
        _transition(
            request,
            Status.ESCALATED,
            actor=actor,
            actor_kind="staff",
            note=note,
            due_at=timezone.now() + timedelta(hours=settings.AFTERSALES_RESPOND_HOURS),
        )
    return request


# -- the customer's moves -----------------------------------------------------------------------


def _customer_locked(request_id: int, customer) -> tuple[Order, AfterSale]:
    """Lock a customer's own request (another's raises AfterSale.DoesNotExist: a 404)."""
    order_id = AfterSale.objects.values_list("order_id", flat=True).get(pk=request_id, customer=customer)
    order = Order.objects.select_for_update().get(pk=order_id)
    return order, AfterSale.objects.select_for_update().get(pk=request_id, customer=customer)


def aftersale_cancel(*, request_id: int, customer) -> AfterSale:
    """The customer withdraws a request the shop has not acted on (or a rejected one)."""
    with transaction.atomic():
        _order, request = _customer_locked(request_id, customer)
        if request.status not in (Status.PENDING, Status.ESCALATED, Status.REJECTED, Status.AWAITING_RETURN):
            raise AfterSaleError(AfterSaleErrorCode.NOT_OPEN)
        request.close_reason = _("Withdrawn by the customer")
        request.save(update_fields=["close_reason"])
        _transition(request, Status.CLOSED, actor=customer, actor_kind="customer", note="withdrawn")
    return request


def aftersale_appeal(*, request_id: int, customer, text: str) -> AfterSale:
    """A rejected request goes before a supervisor, once, within the appeal window."""
    text = (text or "").strip()
    if not text:
        raise AfterSaleError(AfterSaleErrorCode.DESCRIPTION_REQUIRED)
    with transaction.atomic():
        _order, request = _customer_locked(request_id, customer)
        if request.appealed_at is not None:
            raise AfterSaleError(AfterSaleErrorCode.APPEAL_USED)
        if request.status != Status.REJECTED:
            raise AfterSaleError(AfterSaleErrorCode.NOT_OPEN)
        if request.due_at and request.due_at <= timezone.now():
            raise AfterSaleError(AfterSaleErrorCode.APPEAL_LATE)
        request.appeal_text = text[:500]
        request.appealed_at = timezone.now()
        request.save(update_fields=["appeal_text", "appealed_at"])
        _transition(
            request,
            Status.ESCALATED,
            actor=customer,
            actor_kind="customer",
            note="appeal",
            due_at=timezone.now() + timedelta(hours=settings.AFTERSALES_RESPOND_HOURS),
        )
    return request


def aftersale_message_post(*, request_id: int, author, body: str, from_staff: bool) -> AfterSaleMessage:
    """A message on a request. Staff messages are mailed to the customer."""
    body = (body or "").strip()
    if not body:
        raise AfterSaleError(AfterSaleErrorCode.MESSAGE_EMPTY)
    with transaction.atomic():
        if from_staff:
            request = AfterSale.objects.select_for_update().get(pk=request_id)
        else:
            request = AfterSale.objects.select_for_update().get(pk=request_id, customer=author)
        message = AfterSaleMessage.objects.create(
            request=request, author=author, from_staff=from_staff, body=body[:1000]
        )
        if from_staff:
            _mail(
                request,
                Notification.Kind.AFTERSALE_MESSAGE,
                key=f"aftersale_message:{message.pk}",
                message=message.body,
            )
        elif settings.AFTERSALES_STAFF_EMAIL:
            with translation.override(settings.LANGUAGE_CODE):  # customer service reads the shop's language
                context = request_context(request, message=message.body)
            notification_queue(
                kind=Notification.Kind.AFTERSALE_CUSTOMER_MESSAGE,
                key=f"aftersale_customer_msg:{message.pk}",
                to=settings.AFTERSALES_STAFF_EMAIL,
                language=settings.LANGUAGE_CODE,
                context={**context, "admin_url": reverse("admin:aftersales_aftersale_change", args=[request.pk])},
                order=request.order,
            )
    return message


def aftersale_return_shipped(*, request_id: int, customer, carrier: str, tracking_number: str = "") -> AfterSale:
    """The customer sent the goods back: the return parcel is followed like any parcel. With
    the express carrier and no number, the carrier issues a return waybill first."""
    from fulfillment.exceptions import FulfillmentError, FulfillmentErrorCode
    from fulfillment.services import return_parcel_open

    tracking_number = (tracking_number or "").strip()
    if carrier not in Shipment.Carrier.values or (not tracking_number and carrier != Shipment.Carrier.EXPRESS):
        raise AfterSaleError(AfterSaleErrorCode.TRACKING_REQUIRED)
    with transaction.atomic():
        order, request = _customer_locked(request_id, customer)
        if request.status != Status.AWAITING_RETURN:
            raise AfterSaleError(AfterSaleErrorCode.NOT_OPEN)
        try:
            parcel = return_parcel_open(
                order=order,
                warehouse_id=request.return_warehouse_id,
                carrier=carrier,
                tracking_number=tracking_number,
                reference=request.number,
                actor=customer,
            )
        except FulfillmentError as exc:
            if exc.code == FulfillmentErrorCode.TRACKING_IN_USE:
                raise AfterSaleError(AfterSaleErrorCode.TRACKING_IN_USE, tracking=tracking_number) from exc
            if exc.code == FulfillmentErrorCode.CARRIER_UNAVAILABLE:
                raise AfterSaleError(AfterSaleErrorCode.CARRIER_UNAVAILABLE) from exc
            raise AfterSaleError(AfterSaleErrorCode.TRACKING_REQUIRED) from exc
        request.return_shipment = parcel
        request.save(update_fields=["return_shipment"])
        _transition(
            request,
            Status.RETURN_SHIPPED,
            actor=customer,
            actor_kind="customer",
            note=f"{parcel.carrier} {parcel.tracking_number}",
            due_at=timezone.now() + timedelta(days=settings.AFTERSALES_RETURN_RECEIVE_DAYS),
        )
    return request


def aftersale_return_arrived(*, shipment) -> None:
    """The carrier delivered a return parcel to the warehouse: the request says so (staff still
    inspect and receive it; the receive deadline keeps running). Precondition: the order and the
    parcel are locked by the tracking workflow."""
    request = AfterSale.objects.select_for_update().filter(return_shipment=shipment).first()
    if request is None or request.status != Status.RETURN_SHIPPED:
        return
    AfterSaleEvent.objects.create(
        request=request, from_status=request.status, to_status=request.status, actor_kind="system",
        note="return parcel delivered to the warehouse",
    )  # fmt: skip


# -- receiving a return -------------------------------------------------------------------------


def aftersale_receive(
    *, request_id: int, actor, restock: dict[int, int], write_off: dict[int, int], note: str = ""
) -> AfterSale:
    """The warehouse has the returned goods: each unit back into stock or written off as
    damaged (movements referencing the request). A return is then refunded; an exchange gets
    its replacement parcel (or, when that option is out of stock, a refund)."""
    from fulfillment.services import return_parcel_received, return_receive

    with transaction.atomic():
        order, request = _locked(request_id)
        if request.status != Status.RETURN_SHIPPED:
            raise AfterSaleError(AfterSaleErrorCode.NOT_OPEN)
        lines = list(request.lines.select_related("order_line"))
        for line in lines:
            back, lost = int(restock.get(line.pk, 0) or 0), int(write_off.get(line.pk, 0) or 0)
            if back < 0 or lost < 0 or back + lost != line.quantity:
                raise AfterSaleError(
                    AfterSaleErrorCode.RECEIVE_COUNTS, n=line.quantity, name=line.order_line.product_name
                )
        for line in lines:
            back, lost = int(restock.get(line.pk, 0) or 0), int(write_off.get(line.pk, 0) or 0)
            return_receive(
                warehouse_id=request.return_warehouse_id,
                variant_id=line.order_line.variant_id,
                restock=back,
                write_off=lost,
                reference=request.number,
                actor=actor,
            )
            line.restocked, line.written_off = back, lost
            line.save(update_fields=["restocked", "written_off"])
        request.received_at = timezone.now()
        request.save(update_fields=["received_at"])
        if request.return_shipment_id:
            return_parcel_received(shipment_id=request.return_shipment_id)
        _mail(request, Notification.Kind.RETURN_RECEIVED)
        _after_return(order, request, actor=actor, note=note)
    return request


def _after_return(order: Order, request: AfterSale, *, actor, note: str = "") -> None:
    """Precondition: order and request locked; the return is in (or deemed in)."""
    actor_kind = "staff" if getattr(actor, "pk", None) else "system"
    if request.kind == Kind.EXCHANGE:
        from fulfillment.services import OutOfStock, replacement_parcel_create

        items = [(x.order_line_id, x.exchange_variant_id, x.quantity) for x in request.lines.all()]
        try:
            with transaction.atomic():  # a savepoint: out of stock falls back to a refund
                parcel = replacement_parcel_create(order=order, items=items, reference=request.number, actor=actor)
        except OutOfStock:
            note = _("The option asked for is out of stock: refunded instead.")
        else:
            request.replacement_shipment = parcel
            request.save(update_fields=["replacement_shipment"])
            _transition(request, Status.EXCHANGE_SHIPPING, actor=actor, actor_kind=actor_kind, note=note)
            return
    _transition(request, Status.REFUNDING, actor=actor, actor_kind=actor_kind, note=note)
    _refund(order, request, with_fees=False, actor=actor)


# -- deadlines ------------------------------------------------------------------------------------


def aftersales_enforce_deadlines(*, now=None, limit: int = 200) -> dict[str, int]:
    """The beat job: whatever nobody did in time is done for the customer. Each request is
    handled in its own transaction under its lock, so a run that overlaps another (or staff
    acting at the same moment) acts once. Returns how many of each."""
    now = now or timezone.now()
    done = defaultdict(int)
    due = AfterSale.objects.filter(status__in=(*AfterSale.OPEN, Status.REJECTED), due_at__lte=now)
    for request_id in due.order_by("due_at").values_list("pk", flat=True)[:limit]:
        with transaction.atomic():
            order, request = _locked(request_id)
            if request.due_at is None or request.due_at > now:
                continue  # acted on meanwhile
            if request.status in (Status.PENDING, Status.ESCALATED):
                try:
                    with transaction.atomic():
                        _approve(order, request, actor=None, actor_kind="system", note="shop did not answer in time")
                    done["approved"] += 1
                except AfterSaleError as exc:
                    # e.g. the units shipped meanwhile: it stays with staff, without a deadline.
                    AfterSale.objects.filter(pk=request.pk).update(due_at=None)
                    AfterSaleEvent.objects.create(
                        request=request, from_status=request.status, to_status=request.status,
                        actor_kind="system", note=f"not approved automatically: {exc.code}",
                    )  # fmt: skip
            elif request.status == Status.REJECTED:
                request.close_reason = request.reject_reason
                request.save(update_fields=["close_reason"])
                _transition(request, Status.CLOSED, note="appeal window ended")
                done["closed_after_rejection"] += 1
            elif request.status == Status.AWAITING_RETURN:
                request.close_reason = _("The return was not sent in time.")
                request.save(update_fields=["close_reason"])
                _transition(request, Status.CLOSED, note="return not sent in time")
                _mail(request, Notification.Kind.AFTERSALE_CLOSED)
                done["closed_no_return"] += 1
            elif request.status == Status.RETURN_SHIPPED:
                request.kind = Kind.RETURN  # refunded, whatever was asked: the shop did not answer
                request.save(update_fields=["kind"])
                _after_return(order, request, actor=None, note="shop did not confirm receipt in time")
                done["refunded_unconfirmed_return"] += 1
    # Exchanges whose replacement has left: done.
    shipping = AfterSale.objects.filter(
        status=Status.EXCHANGE_SHIPPING, replacement_shipment__status__in=SHIPPED_STATES
    ).values_list("pk", flat=True)[:limit]
    for request_id in shipping:
        with transaction.atomic():
            _order, request = _locked(request_id)
            if request.status == Status.EXCHANGE_SHIPPING:
                _transition(request, Status.COMPLETED, note="replacement shipped")
                _mail(request, Notification.Kind.EXCHANGE_SHIPPED)
                done["exchanges_shipped"] += 1
    return dict(done)
