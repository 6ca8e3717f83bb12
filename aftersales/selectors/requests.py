"""Reads of requests and refund notes for the customer's pages and the staff queue."""

from collections import defaultdict

from django.db.models import Case, IntegerField, Prefetch, QuerySet, Value, When
from django.utils import timezone

from aftersales.models import AfterSale, AfterSaleEvent, AfterSaleLine, InsuranceClaim, RefundNote


def requests_of(*, customer) -> QuerySet[AfterSale]:
    """A customer's requests, newest first, with their order and lines."""
    return (
        AfterSale.objects.filter(customer=customer)
        .select_related("order")
        .prefetch_related(Prefetch("lines", queryset=AfterSaleLine.objects.select_related("order_line")))
    )


def request_of(*, customer, number: str) -> AfterSale:
    """A customer's own request with everything its page shows. Raises AfterSale.DoesNotExist."""
    return (
        AfterSale.objects.filter(customer=customer)
        .select_related("order", "return_shipment", "replacement_shipment", "return_warehouse")
        .prefetch_related(
            Prefetch("lines", queryset=AfterSaleLine.objects.select_related("order_line", "exchange_variant")),
            "photos",
            "messages",
            Prefetch("events", queryset=AfterSaleEvent.objects.order_by("created_at", "pk")),
        )
        .get(number=number)
    )


def refund_note_of(*, customer, number: str) -> RefundNote:
    """A customer's own refund note with its lines. Raises RefundNote.DoesNotExist."""
    return (
        RefundNote.objects.filter(order__customer=customer)
        .select_related("order", "request", "payment_refund")
        .prefetch_related("lines__order_line")
        .get(number=number)
    )


def order_line_states(*, order) -> dict[int, list[AfterSale]]:
    """Per order line, the requests that name it (newest first): one query."""
    states: dict[int, list[AfterSale]] = defaultdict(list)
    lines = (
        AfterSaleLine.objects.filter(request__order=order)
        .select_related("request")
        .order_by("-request__created_at", "-request__pk")
    )
    for line in lines:
        states[line.order_line_id].append(line.request)
    return dict(states)


def staff_queue() -> QuerySet[AfterSale]:
    """Requests for staff: open ones first, the overdue first among them, then by deadline;
    finished ones after, newest first."""
    now = timezone.now()
    return (
        AfterSale.objects.select_related("order", "customer")
        .annotate(
            queue_rank=Case(
                When(status__in=AfterSale.OPEN, due_at__lte=now, then=Value(0)),
                When(status__in=(*AfterSale.OPEN, AfterSale.Status.REJECTED), then=Value(1)),
                When(status__in=(AfterSale.Status.REFUNDING, AfterSale.Status.EXCHANGE_SHIPPING), then=Value(2)),
                default=Value(3),
                output_field=IntegerField(),
            )
        )
        .order_by("queue_rank", "due_at", "-created_at")
    )


def order_claims(*, order) -> list[InsuranceClaim]:
    """The shipping-insurance claims filed for an order's parcels (what the customer was given)."""
    return list(InsuranceClaim.objects.filter(order=order).select_related("shipment").order_by("filed_at", "pk"))
