"""Shipping insurance (保价) claims: an insured parcel lost or damaged in transit is claimed from
the carrier for its declared value, and the customer is made whole at once (refunded, or sent
the goods again) whatever the carrier later pays: the claim is the shop's business."""

import secrets

from django.db import transaction
from django.utils import timezone

from aftersales.exceptions import AfterSaleError, AfterSaleErrorCode
from aftersales.models import AfterSale, AfterSaleEvent, AfterSaleLine, InsuranceClaim
from aftersales.services.requests import SHIPPED_STATES, _approve, _request_number
from fulfillment.models import Shipment
from fulfillment.services import shipment_insured_value
from orders.models import Order
from shop.core.money import money

# Claims are for parcels with the carrier (lost) or delivered (damaged).
CLAIMABLE = SHIPPED_STATES


def _claim_number() -> str:
    return "IC" + timezone.localdate().strftime("%Y%m%d") + f"{secrets.randbelow(10**6):06d}"


def insurance_claim_file(*, shipment_id: int, actor, loss: str, remedy: str, note: str = "") -> InsuranceClaim:
    """File a claim for an insured parcel and make the customer whole: a refund request for the
    parcel's units, approved at once (remedy "refund"), or a replacement parcel of the same goods
    (remedy "reship"). Raises AfterSaleError(NOT_INSURED, CLAIM_EXISTS, NOTHING_TO_CLAIM)."""
    from fulfillment.services import replacement_parcel_create

    if (
        remedy != InsuranceClaim.Remedy.RESHIP
        and actor is not None
        and not actor.has_perm("aftersales.decide_aftersale")
    ):
        # Refunding is deciding money: the admin's form offers it only to them, and so does this.
        raise AfterSaleError(AfterSaleErrorCode.REFUND_NOT_ALLOWED)
    with transaction.atomic():
        order_id = Shipment.objects.values_list("order_id", flat=True).get(pk=shipment_id)
        order = Order.objects.select_for_update().get(pk=order_id)
        shipment = Shipment.objects.select_for_update().select_related("order").get(pk=shipment_id)
        if not order.insured:
            raise AfterSaleError(AfterSaleErrorCode.NOT_INSURED, number=shipment.number)
        if InsuranceClaim.objects.filter(shipment=shipment).exists():
            raise AfterSaleError(AfterSaleErrorCode.CLAIM_EXISTS, number=shipment.number)
        if shipment.kind == Shipment.Kind.RETURN or shipment.status not in CLAIMABLE:
            raise AfterSaleError(AfterSaleErrorCode.NOTHING_TO_CLAIM)
        value = shipment_insured_value(shipment)
        if value <= 0:
            raise AfterSaleError(AfterSaleErrorCode.NOTHING_TO_CLAIM)
        claim = InsuranceClaim.objects.create(
            number=_claim_number(),
            order=order,
            shipment=shipment,
            loss=loss if loss in ("lost", "damaged") else "lost",
            declared_value=value,
            remedy=remedy,
            note=note[:300],
            filed_by=actor if getattr(actor, "pk", None) else None,
        )
        units = list(shipment.lines.select_related("order_line"))
        if remedy == InsuranceClaim.Remedy.RESHIP:
            replacement_parcel_create(
                order=order,
                items=[(x.order_line_id, x.order_line.variant_id, x.quantity) for x in units],
                reference=claim.number,
                actor=actor,
            )
        else:
            request = AfterSale.objects.create(
                number=_request_number(),
                order=order,
                customer=order.customer,
                kind=AfterSale.Kind.REFUND,
                reason=AfterSale.Reason.LOST if claim.loss == "lost" else AfterSale.Reason.DAMAGED,
                description=note[:1000],
                insurance_claim=claim,
            )
            AfterSaleLine.objects.bulk_create(
                AfterSaleLine(request=request, order_line_id=x.order_line_id, quantity=x.quantity) for x in units
            )
            AfterSaleEvent.objects.create(
                request=request, to_status=AfterSale.Status.PENDING, actor=claim.filed_by, actor_kind="staff",
                note=f"insurance claim {claim.number}",
            )  # fmt: skip
            _approve(order, request, actor=actor, actor_kind="staff", note=f"insurance claim {claim.number}")
    return claim


@transaction.atomic
def insurance_claim_settle(
    *, claim_id: int, actor, paid: bool, amount=None, carrier_reference: str = "", note: str = ""
) -> InsuranceClaim:
    """Record the carrier's answer: paid (how much, at most the declared value) or refused.
    Raises AfterSaleError(CLAIM_NOT_OPEN) for a claim already settled."""
    claim = InsuranceClaim.objects.select_for_update().get(pk=claim_id)
    if claim.status != InsuranceClaim.Status.FILED:
        raise AfterSaleError(AfterSaleErrorCode.CLAIM_NOT_OPEN)
    if paid:
        value = money(amount if amount is not None else claim.declared_value)
        if value < 0 or value > claim.declared_value:
            raise AfterSaleError(AfterSaleErrorCode.REFUND_TOO_LARGE)
        claim.status, claim.paid_amount = InsuranceClaim.Status.PAID, value
    else:
        claim.status = InsuranceClaim.Status.REFUSED
    claim.carrier_reference = carrier_reference.strip()[:60]
    if note:
        claim.note = note[:300]
    claim.settled_at = timezone.now()
    claim.save()
    return claim
