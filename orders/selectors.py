"""Reads of orders for the customer's pages."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from orders.models import Order, OrderEvent

TABS = {
    "unpaid": [Order.Status.PENDING_PAYMENT],
    "to_ship": [Order.Status.PAID],
    "shipped": [Order.Status.SHIPPED],
    "completed": [Order.Status.COMPLETED],
    # 售后: closed orders, and (orders_of) every order with an after-sales request.
    "aftersales": [Order.Status.CLOSED],
}


def _has_aftersales():
    """An order has an after-sales request. Through the reverse relation, so that orders does not
    import aftersales (which sits above it); EXISTS rather than a join, so no order is listed twice."""
    requests = Order._meta.get_field("aftersales").related_model
    return Exists(requests.objects.filter(order=OuterRef("pk")))


def orders_of(*, customer, tab: str | None = None) -> QuerySet[Order]:
    """A customer's orders, newest first, without those they removed from their list."""
    orders = Order.objects.filter(customer=customer, hidden_by_customer=False).prefetch_related("lines")
    if tab == "aftersales":
        orders = orders.filter(Q(status__in=TABS[tab]) | _has_aftersales())
    elif tab in TABS:
        orders = orders.filter(status__in=TABS[tab])
    return orders


def order_of(*, customer, number: str) -> Order:
    """A customer's own order with lines, events and payments, even one they removed from their
    list (mail and after-sales pages link to it). Raises Order.DoesNotExist."""
    return (
        Order.objects.filter(customer=customer)
        .prefetch_related("lines", Prefetch("events", queryset=OrderEvent.objects.order_by("created_at", "pk")))
        .prefetch_related("payments")
        .get(number=number)
    )


def order_auto_confirm_at(order: Order) -> datetime | None:
    """When receipt is confirmed for the customer if they do not confirm it: for a shipped order,
    ORDER_AUTO_CONFIRM_DAYS_AFTER_DELIVERY days after the last parcel's delivery, or
    ORDER_AUTO_CONFIRM_DAYS_AFTER_SHIPPING days after shipping while no delivery is reported
    (orders_auto_confirm, every 30 minutes, confirms it then); for an order the shop confirmed
    that way, when it did. None otherwise. Reads the order's events (prefetched on its page)."""
    if order.status == Order.Status.SHIPPED:
        if order.delivered_at:
            return order.delivered_at + timedelta(days=settings.ORDER_AUTO_CONFIRM_DAYS_AFTER_DELIVERY)
        if order.shipped_at:
            return order.shipped_at + timedelta(days=settings.ORDER_AUTO_CONFIRM_DAYS_AFTER_SHIPPING)
        return None
    if order.status == Order.Status.COMPLETED:
        confirmed = [e for e in order.events.all() if e.to_status == Order.Status.COMPLETED]
        if confirmed and confirmed[-1].actor_kind == "system":
            return confirmed[-1].created_at
    return None
