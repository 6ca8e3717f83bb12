"""Purchase orders: draft → ordered → partly received → received (or cancelled before any
goods came). Receiving raises on_hand through movements that name the purchase order."""

import secrets

from django.db import transaction
from django.utils import timezone

from fulfillment.exceptions import FulfillmentError, FulfillmentErrorCode
from fulfillment.models import PurchaseOrder, StockMovement
from fulfillment.services.stock import stock_receive

Status = PurchaseOrder.Status


def purchase_order_number_new() -> str:
    return "PO" + timezone.localdate().strftime("%Y%m%d") + f"{secrets.randbelow(10**6):06d}"


@transaction.atomic
def purchase_order_place(*, po_id: int, actor=None) -> PurchaseOrder:
    """Send a draft to the supplier: draft → ordered. Raises FulfillmentError."""
    po = PurchaseOrder.objects.select_for_update().get(pk=po_id)
    if po.status != Status.DRAFT:
        raise FulfillmentError(FulfillmentErrorCode.PO_NOT_EDITABLE, number=po.number)
    if not po.lines.exists():
        raise FulfillmentError(FulfillmentErrorCode.PO_EMPTY, number=po.number)
    po.status = Status.ORDERED
    po.ordered_at = timezone.now()
    po.save(update_fields=["status", "ordered_at"])
    return po


@transaction.atomic
def purchase_order_cancel(*, po_id: int, actor=None) -> PurchaseOrder:
    po = PurchaseOrder.objects.select_for_update().get(pk=po_id)
    if po.status not in (Status.DRAFT, Status.ORDERED):
        raise FulfillmentError(FulfillmentErrorCode.PO_NOT_CANCELLABLE, number=po.number)
    po.status = Status.CANCELLED
    po.save(update_fields=["status"])
    return po


@transaction.atomic
def purchase_order_receive(
    *, po_id: int, quantities: dict[int, int], seen: dict[int, int] | None = None, actor=None
) -> list[StockMovement]:
    """Goods arrived: `quantities` maps line id -> units received now. Each raises on_hand in the
    PO's warehouse (a movement referencing the PO); the PO becomes partly received or received.

    `seen` maps line id -> units received as the form showed them: if another receipt was
    booked meanwhile (a double submit, a colleague), nothing is booked (PO_CHANGED), so the same
    delivery is never counted twice. All or nothing; raises FulfillmentError (over-receiving,
    nothing received, wrong state, changed)."""
    po = PurchaseOrder.objects.select_for_update().get(pk=po_id)
    if po.status not in (Status.ORDERED, Status.PARTLY_RECEIVED):
        raise FulfillmentError(FulfillmentErrorCode.PO_NOT_RECEIVABLE, number=po.number)
    lines = {line.pk: line for line in po.lines.select_related("variant").select_for_update(of=("self",))}
    if seen is not None and any(lines[pk].received_quantity != n for pk, n in seen.items() if pk in lines):
        raise FulfillmentError(FulfillmentErrorCode.PO_CHANGED, number=po.number)
    wanted = {line_id: n for line_id, n in quantities.items() if n}
    if not wanted:
        raise FulfillmentError(FulfillmentErrorCode.PO_NOTHING_RECEIVED)
    movements = []
    for line_id, units in sorted(wanted.items()):
        line = lines.get(line_id)
        if line is None or units < 0 or units > line.outstanding:
            sku = line.variant.sku if line else str(line_id)
            raise FulfillmentError(
                FulfillmentErrorCode.PO_OVER_RECEIVED, sku=sku, outstanding=line.outstanding if line else 0
            )
        movements.append(
            stock_receive(
                warehouse_id=po.warehouse_id,
                variant_id=line.variant_id,
                quantity=units,
                reference=po.number,
                actor=actor,
            )
        )
        line.received_quantity += units
        line.save(update_fields=["received_quantity"])
    complete = all(line.outstanding == 0 for line in lines.values())
    po.status = Status.RECEIVED if complete else Status.PARTLY_RECEIVED
    if complete:
        po.received_at = timezone.now()
    po.save(update_fields=["status", "received_at"])
    return movements
