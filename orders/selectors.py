"""Reads of orders for the customer's pages."""

from django.db.models import Prefetch, QuerySet

from orders.models import Order, OrderEvent

TABS = {
    "unpaid": [Order.Status.PENDING_PAYMENT],
    "to_ship": [Order.Status.PAID],
    "shipped": [Order.Status.SHIPPED],
    "completed": [Order.Status.COMPLETED],
    "aftersales": [Order.Status.CLOSED],
}


def orders_of(*, customer, tab: str | None = None) -> QuerySet[Order]:
    orders = Order.objects.filter(customer=customer).prefetch_related("lines")
    if tab in TABS:
        orders = orders.filter(status__in=TABS[tab])
    return orders


def order_of(*, customer, number: str) -> Order:
    """A customer's own order with lines, events and payments. Raises Order.DoesNotExist."""
    return (
        Order.objects.filter(customer=customer)
        .prefetch_related("lines", Prefetch("events", queryset=OrderEvent.objects.order_by("created_at", "pk")))
        .prefetch_related("payments")
        .get(number=number)
    )
