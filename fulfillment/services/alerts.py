"""Back in stock: a customer asks to be told when an out-of-stock variant returns, and when its
stock becomes available again every waiting customer is mailed once, through the outbox.

The alerts are catalog's model (catalog.StockAlert), but their rules live here: telling a
customer writes to orders' outbox, and catalog sits below orders in the layer contract
(pyproject.toml), so it cannot. Fulfillment sits above both and owns the stock whose changes
make a variant available again (receiving, counting, returns restocked, reservations released
when an order is cancelled), so `_move` in stock.py queues the notifier after those commit.

Races: asking for an alert and notifying both lock the variant's row first. An alert asked for
while stock arrives is therefore either refused ("in stock now", the arrival committed first)
or already committed when the notifier reads the open alerts.
"""

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from catalog.models import ProductVariant, StockAlert
from fulfillment.exceptions import FulfillmentError, FulfillmentErrorCode
from orders.services import notification_queue
from shop.core.tasks import enqueue

# The outbox kind of the mail (templates/orders/emails/stock_back*): orders.Notification.Kind.STOCK_BACK.
STOCK_BACK = "stock_back"
NOTIFY_TASK = "fulfillment.tasks.stock_alerts_notify"


def variant_available(*, variant_id: int) -> int:
    """Units of a variant available to buy, summed over warehouses (as the cart counts them)."""
    return ProductVariant.objects.filter(pk=variant_id).aggregate(
        n=Coalesce(Sum(F("stocks__on_hand") - F("stocks__reserved")), 0)
    )["n"]


def _variant_locked(variant_id: int) -> ProductVariant | None:
    """The variant, its row locked, if it is still sold (active, and its product active)."""
    return (
        ProductVariant.objects.select_for_update(of=("self",))
        .select_related("product")
        .filter(pk=variant_id, is_active=True, product__is_active=True)
        .first()
    )


@transaction.atomic
def stock_alert_create(*, customer, variant_id: int) -> tuple[StockAlert, bool]:
    """Ask to be mailed once when an out-of-stock variant is back. Idempotent: an open alert
    of the customer's for the variant is returned as it is. Returns (alert, created).

    Raises FulfillmentError: ALERT_UNAVAILABLE (not sold), ALERT_IN_STOCK (units available now)."""
    variant = _variant_locked(variant_id)
    if variant is None:
        raise FulfillmentError(FulfillmentErrorCode.ALERT_UNAVAILABLE)
    if variant_available(variant_id=variant.pk) > 0:
        raise FulfillmentError(FulfillmentErrorCode.ALERT_IN_STOCK, name=variant.product.display_name)
    # The variant's row is locked: no parallel request of the same customer can insert between
    # this read and the insert (the partial unique constraint is the last line).
    alert = StockAlert.objects.filter(customer=customer, variant=variant, notified_at__isnull=True).first()
    if alert is not None:
        return alert, False
    return StockAlert.objects.create(customer=customer, variant=variant), True


def stock_alert_cancel(*, customer, alert_id: int) -> bool:
    """Withdraw one of the customer's open alerts. Returns False when there was none to
    withdraw (already notified, another customer's, or gone)."""
    deleted, _rows = StockAlert.objects.filter(pk=alert_id, customer=customer, notified_at__isnull=True).delete()
    return bool(deleted)


def _names(variant: ProductVariant) -> dict:
    """The product and option names in both languages: the mail picks the customer's."""
    options = sorted(variant.options.select_related("attribute"), key=lambda v: (v.attribute.position, v.position))
    return {
        "product_name": variant.product.name,
        "product_name_en": variant.product.name_en or variant.product.name,
        "options": " / ".join(o.value for o in options) or variant.sku,
        "options_en": " / ".join(o.value_en or o.value for o in options) or variant.sku,
        "sku": variant.sku,
        "url": variant.product.get_absolute_url(),
    }


@transaction.atomic
def stock_alerts_notify(*, variant_id: int) -> int:
    """If the variant can be bought now, queue one mail to each customer waiting for it and
    mark their alerts notified. Returns the mails queued.

    Idempotent: a notified alert is never mailed again, and each mail's outbox key is its
    alert's, so a retried task, a second restock or two restocks at once (the variant's row
    lock serialises them; the second finds nothing open) queue nothing twice."""
    variant = _variant_locked(variant_id)
    if variant is None or variant_available(variant_id=variant.pk) <= 0:
        return 0
    alerts = list(
        StockAlert.objects.filter(variant=variant, notified_at__isnull=True)
        .select_related("customer")
        .order_by("pk")
        .select_for_update(of=("self",))
    )
    if not alerts:
        return 0
    names = _names(variant)
    queued = 0
    for alert in alerts:
        customer = alert.customer
        if customer.is_active and customer.email:
            notification_queue(
                kind=STOCK_BACK,
                key=f"{STOCK_BACK}:{alert.pk}",
                to=customer.email,
                language=customer.language or settings.LANGUAGE_CODE,
                context=names,
                user=customer,
            )
            queued += 1
    StockAlert.objects.filter(pk__in=[a.pk for a in alerts]).update(notified_at=timezone.now())
    return queued


def stock_alerts_queue_on_commit(*, variant_id: int) -> None:
    """Stock of a variant became available: once the change commits, have the notifier look
    for customers waiting for it. Checked here first so that the common case (nobody waiting)
    costs one indexed query and no task. A broker outage leaves the alerts open for
    stock_alerts_sweep."""

    def queue() -> None:
        if StockAlert.objects.filter(variant_id=variant_id, notified_at__isnull=True).exists():
            enqueue(NOTIFY_TASK, variant_id)

    transaction.on_commit(queue)


def stock_alerts_sweep() -> int:
    """Safety net (periodic): notify the open alerts of every variant that can be bought now,
    whatever made it so (a task lost to a broker outage, a variant or product sold again).
    Returns the mails queued."""
    waiting = StockAlert.objects.filter(notified_at__isnull=True).values("variant_id")
    ready = (
        ProductVariant.objects.filter(pk__in=waiting, is_active=True, product__is_active=True)
        .annotate(available=Coalesce(Sum(F("stocks__on_hand") - F("stocks__reserved")), 0))
        .filter(available__gt=0)
        .values_list("pk", flat=True)
    )
    return sum(stock_alerts_notify(variant_id=pk) for pk in list(ready))
