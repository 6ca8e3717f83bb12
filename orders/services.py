"""The order state machine, coupons and the notification outbox.

Every status change goes through `order_transition`, with the order row locked: it checks
the move against Order.TRANSITIONS, records an OrderEvent and writes the notification the
change owes in the same transaction.
"""

import secrets
from collections.abc import Callable
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.db import IntegrityError, connections, router, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from orders.exceptions import OrderError, OrderErrorCode
from orders.models import Coupon, CouponRedemption, Notification, Order, OrderEvent, OrderLine, system_note
from orders.sales import daily_sales_record_paid
from orders.signals import order_completed, order_paid, order_released
from shop.core.inserts import rows_insert, rows_together, rows_together_open
from shop.core.money import format_money, money
from shop.core.tasks import enqueue

NOTIFY_ON = {
    Order.Status.PENDING_PAYMENT: Notification.Kind.ORDER_PLACED,
    Order.Status.PAID: Notification.Kind.ORDER_PAID,
    Order.Status.CANCELLED: Notification.Kind.ORDER_CANCELLED,
    Order.Status.COMPLETED: Notification.Kind.ORDER_COMPLETED,
}
# Shipping mails are per parcel (fulfillment writes them), so 已发货 itself sends none.


def order_number_new() -> str:
    """A human-readable number: date, then 8 random digits (unique index catches the rare clash)."""
    return timezone.localdate().strftime("%Y%m%d") + f"{secrets.randbelow(10**8):08d}"


def order_line_names(variant, *, options: list | None = None) -> dict[str, str]:
    """What an order line copies of a variant's text, in Chinese and in English: the product's
    name and the options (values in their attributes' order, " / " between). The English label
    takes a value's Chinese where that value has no English (one untranslated value should not
    hide the others), and is empty when none is in English. Expects variant.product and
    variant.options loaded (select_related / prefetch_related) by the caller, or `options` (the
    variant's, in their order) given."""
    options = list(variant.options.all()) if options is None else options
    return {
        "product_name": variant.product.name,
        "variant_label": " / ".join(o.value for o in options),
        "product_name_en": variant.product.name_en,
        "variant_label_en": " / ".join(o.value_en or o.value for o in options)
        if any(o.value_en for o in options)
        else "",
    }


def order_line_discount_shares(order: Order, lines: list[OrderLine]) -> dict[int, Decimal]:
    """The order's discount spread over its lines in proportion to their totals, to the cent,
    the rounding remainder on the largest line: the shares add up to the discount exactly. What
    a refund gives back, what a department is settled and what the sales report counts all start
    from a line's total less this share."""
    return discount_shares(
        discount=order.discount, subtotal=order.subtotal, totals={line.pk: line.line_total for line in lines}
    )


def discount_shares(*, discount: Decimal, subtotal: Decimal, totals: dict[int, Decimal]) -> dict[int, Decimal]:
    """`order_line_discount_shares` from plain figures (line id → line total), for code that
    streams lines as tuples."""
    if not discount or not subtotal:
        return dict.fromkeys(totals, Decimal("0.00"))
    shares = {pk: money(discount * total / subtotal) for pk, total in totals.items()}
    remainder = discount - sum(shares.values())
    if remainder and totals:
        largest = max(totals, key=lambda pk: (totals[pk], -pk))
        shares[largest] += remainder
    return shares


# -- notifications (outbox) -------------------------------------------------------------------


def notification_queue(*, kind: str, key: str, to: str, language: str, context: dict, order=None, user=None):
    """Write a mail to the outbox in the current transaction; queue its sending on commit.

    Idempotent by `key`: the same mail owed twice is written once."""
    notification = Notification(
        key=key,
        kind=kind,
        to=to,
        language=language or settings.LANGUAGE_CODE,
        context=context,
        order=order,
        user=user,
    )
    created = _outbox_insert(notification)
    if created is False:
        return Notification.objects.get(key=key)
    # Inside rows_together (placing's rows, sent as one statement) the row's key is known once
    # the statement is sent, before the commit; a clash with a row already there leaves it none.
    transaction.on_commit(lambda: notification.pk is None or notification_dispatch(notification_id=notification.pk))
    return notification


def _outbox_insert(notification: Notification) -> bool | None:
    """Insert the row unless its key is already there: True (and its pk set) when inserted.
    None inside shop.core.inserts.rows_together: sent with its statement (pk set then, or left
    None on a clash).

    One statement (INSERT … ON CONFLICT (key) DO NOTHING RETURNING id), where get_or_create
    takes four round trips (SELECT, SAVEPOINT, INSERT, RELEASE): placing and paying an order
    writes a mail, on the purchase's hot path. get_or_create where the database cannot."""
    connection = connections[router.db_for_write(Notification)]
    if connection.vendor == "postgresql":  # built once per process (shop.core.inserts)
        rows_insert([notification], conflict="key")
        if rows_together_open(connection.alias):
            return None
        return notification.pk is not None
    features = connection.features
    if not (features.can_return_columns_from_insert and features.supports_ignore_conflicts):
        _row, created = Notification.objects.get_or_create(
            key=notification.key, defaults={f.attname: getattr(notification, f.attname) for f in _OUTBOX_FIELDS}
        )
        notification.pk = _row.pk
        return created
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in _OUTBOX_FIELDS)
    values = [f.get_db_prep_save(f.pre_save(notification, add=True), connection) for f in _OUTBOX_FIELDS]
    sql = (
        f"INSERT INTO {quote(Notification._meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(values))}) "  # noqa: S608 - names from the model
        f"ON CONFLICT ({quote('key')}) DO NOTHING RETURNING {quote(Notification._meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return False
    notification.pk = row[0]
    notification._state.adding = False
    notification._state.db = connection.alias
    return True


# Every column of the outbox but the id, in model order (defaults and created_at filled by pre_save).
_OUTBOX_FIELDS = [f for f in Notification._meta.concrete_fields if not f.primary_key]


# kind → a function of the notification returning [(filename, content bytes, mimetype)]: documents
# (an invoice's PDF, a statement's PDF and XLSX) are made as the mail is sent, never stored in the
# outbox. Apps above orders register theirs in ready().
ATTACHMENTS: dict[str, Callable[[Notification], list[tuple[str, bytes, str]]]] = {}


def notification_attachments_register(kind: str, make: Callable[[Notification], list[tuple[str, bytes, str]]]):
    ATTACHMENTS[kind] = make


def notification_dispatch(*, notification_id: int) -> None:
    """Hand a notification to the broker. A broker outage is logged, not raised: the row stays
    pending and the sweeper queues it again once the broker is back."""
    enqueue("orders.tasks.notification_send", notification_id)


def notification_deliver(*, notification_id: int) -> bool:
    """Send one pending notification and mark it sent. Returns False if it was not ours to send
    (sent, failed, or claimed by a live worker).

    Claim, send, mark: the row is first leased (lease_until, attempts + 1) in a statement of its
    own, committed before the mail goes out, so a redelivered task or the sweeper never sends a
    row another live worker is sending, and no transaction stays open across SMTP. A worker
    killed mid-send leaves its lease to run out (NOTIFICATION_LEASE_SECONDS); the sweeper then
    queues the row again. SMTP has no exactly-once: if the worker dies after the server accepted
    the mail and before the row is marked, the mail is sent again, with the same Message-ID
    (notification_message_id), which mail systems deduplicate. A failed send is counted (and,
    at the last attempt, marked failed) before the error is raised again."""
    now = timezone.now()
    lease = now + timezone.timedelta(seconds=settings.NOTIFICATION_LEASE_SECONDS)
    claimed = (
        Notification.objects.filter(pk=notification_id, state=Notification.State.PENDING)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=lease, attempts=F("attempts") + 1)
    )
    if not claimed:
        return False
    notification = Notification.objects.get(pk=notification_id)
    try:
        notification_message(notification).send()
    except Exception as exc:  # SMTP errors vary (and a template may fail): count it, free the row
        state = Notification.State.PENDING
        if notification.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS:
            state = Notification.State.FAILED
        # Only while the lease is still ours: a worker that took the row over owns it now.
        Notification.objects.filter(pk=notification_id, lease_until=lease).update(
            state=state, last_error=str(exc)[:300], lease_until=None
        )
        raise
    # Marked whatever became of the lease: the mail is out, so nobody should send it again.
    Notification.objects.filter(pk=notification_id, state=Notification.State.PENDING).update(
        state=Notification.State.SENT, sent_at=timezone.now(), last_error="", lease_until=None
    )
    return True


def notification_message(notification: Notification):
    """The mail of a notification, in its language, with its stable Message-ID."""
    from django.core.mail import EmailMultiAlternatives
    from django.template.loader import render_to_string

    with translation.override(notification.language):
        context = {**notification.context, **_context_at_send(notification), "site_url": settings.SITE_URL}
        subject = render_to_string(f"orders/emails/{notification.kind}_subject.txt", context).strip()
        text = render_to_string(f"orders/emails/{notification.kind}.txt", context)
        html = render_to_string(f"orders/emails/{notification.kind}.html", context)
        message = EmailMultiAlternatives(
            subject,
            text,
            settings.DEFAULT_FROM_EMAIL,
            [notification.to],
            headers={"Message-ID": notification_message_id(notification)},
        )
        message.attach_alternative(html, "text/html")
        for filename, content, mimetype in ATTACHMENTS.get(notification.kind, lambda _n: [])(notification):
            message.attach(filename, content, mimetype)
    return message


def notification_message_id(notification: Notification) -> str:
    """The same Message-ID every time the row is sent, so a resend after a crash is the same
    message to the mail systems that deduplicate (email.utils.make_msgid adds the time and a
    random number: a new id each call). From the row's id and key, at the site's domain."""
    from hashlib import sha256
    from urllib.parse import urlsplit

    from django.core.mail.utils import DNS_NAME

    domain = urlsplit(settings.SITE_URL).hostname or str(DNS_NAME)
    digest = sha256(notification.key.encode()).hexdigest()[:16]
    return f"<notification.{notification.pk}.{digest}@{domain}>"


def _context_at_send(notification: Notification) -> dict:
    """What a mail needs that must never sit in the outbox, made as it is sent. A password-reset
    link is a key to the account: the row names the user, and the link is made from the user's
    state now (Django's token is derived from the password hash and last login, so a password
    changed meanwhile still voids it, and a link used once stops working)."""
    if notification.kind == Notification.Kind.PASSWORD_RESET and notification.user_id is not None:
        user = notification.user
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        token = default_token_generator.make_token(user)
        return {"url": reverse("accounts:password_reset_confirm", kwargs={"uidb64": uid, "token": token})}
    return {}


def notification_sweep(*, older_than_seconds: int = 30) -> int:
    """Queue again every notification still pending after a while (after a broker outage, or a
    worker killed before it ran the task), and at once every row whose lease ran out (a worker
    killed while sending it). A row leased by a live worker is left to it."""
    now = timezone.now()
    cutoff = now - timezone.timedelta(seconds=older_than_seconds)
    ids = list(
        Notification.objects.filter(state=Notification.State.PENDING, created_at__lte=cutoff)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .values_list("pk", flat=True)[:500]
    )
    for notification_id in ids:
        notification_dispatch(notification_id=notification_id)
    return len(ids)


def order_context(order: Order, lines: list[OrderLine] | None = None) -> dict:
    """An order's mail context, in the current language: call it inside
    translation.override(<the customer's language>) (order_notify does). `lines`: the order's
    lines when the caller has them (it just wrote them), else read (or taken from a prefetch)."""
    return {
        "number": order.number,
        "total": format_money(order.total),
        "status": str(Order.Status(order.status).label),
        "url": order.get_absolute_url(),
        "recipient": order.recipient,
        "lines": [
            {"name": line.display_name, "options": line.display_options, "quantity": line.quantity}
            for line in (order.lines.all() if lines is None else lines)
        ],
        "reason": system_note(order.cancel_reason),
        "auto_confirmed": order.status == Order.Status.COMPLETED
        and not order.events.filter(to_status=Order.Status.COMPLETED, actor_kind="customer").exists(),
    }


# -- the state machine ----------------------------------------------------------------------


def order_transition(
    order: Order, to: str, *, actor=None, actor_kind: str = "system", note: str = "", mail: dict | None = None
) -> Order:
    """Move a locked order to `to`, record the event and queue its notification (`mail`: more
    context for it).

    Precondition: `order` was loaded with select_for_update in the current transaction.
    Raises OrderError(BAD_TRANSITION) if the move is not allowed."""
    if not order.can_become(to):
        raise OrderError(
            OrderErrorCode.BAD_TRANSITION,
            **{"from": Order.Status(order.status).label, "to": Order.Status(to).label},
        )
    before = order.status
    now = timezone.now()
    order.status = to
    stamp = {
        Order.Status.PAID: "paid_at",
        Order.Status.SHIPPED: "shipped_at",
        Order.Status.COMPLETED: "completed_at",
        Order.Status.CANCELLED: "cancelled_at",
    }.get(to)
    fields = ["status"]
    if stamp:
        setattr(order, stamp, now)
        fields.append(stamp)
    order.save(update_fields=fields)
    OrderEvent.objects.create(
        order=order, from_status=before, to_status=to, actor=actor, actor_kind=actor_kind, note=note[:300]
    )
    order_notify(order, to, extra=mail)
    if to == Order.Status.PAID:
        daily_sales_record_paid(order)  # the sales report's rollup, in this transaction
        order_paid.send(sender=Order, order=order)  # fulfillment routes it into shipments
    elif to == Order.Status.COMPLETED:
        order_completed.send(sender=Order, order=order)  # aftersales issues its invoice
    return order


def order_notify(order: Order, status: str, *, lines: list[OrderLine] | None = None, extra: dict | None = None) -> None:
    kind = NOTIFY_ON.get(status)
    if kind is None:
        return
    customer = order.customer
    # The context is text for the mail (status label, product names): made in the customer's
    # language, not in that of whoever caused the change (staff in Chinese, a task in the default).
    with translation.override(customer.language or settings.LANGUAGE_CODE):
        context = order_context(order, lines)
    if extra:
        context.update(extra)
    notification_queue(
        kind=kind,
        key=f"{kind}:{order.pk}",
        to=customer.email,
        language=customer.language,
        context=context,
        order=order,
        user=customer,
    )


def order_record_placed(
    order: Order, *, actor, lines: list[OrderLine] | None = None, mail: bool = True, paid: str | None = None
) -> None:
    """The first event of a new order (no transition: it is born pending payment). `lines`:
    the lines just written (their mail lists them), to save reading them back. `mail=False`:
    no mail now (the order is to be paid in this transaction by another path).

    `paid`: checkout's one step, an order inserted already paid in the current transaction
    (the wallet's debit made, or nothing to pay: status PAID, paid_at set, its lines known,
    orders.services.order_lines_known) with `paid` its payment's reference. Its two events are
    written as order_transition would have (placed, then pending payment -> paid with the
    reference as note) in one statement, and its one mail says placed and paid; no UPDATE of
    the order. order_record_paid_placed then finishes the payment, last in the transaction."""
    if paid is None:
        OrderEvent.objects.create(order=order, to_status=order.status, actor=actor, actor_kind="customer")
        if mail:
            order_notify(order, order.status, lines=lines)
        return
    if order.status != Order.Status.PAID or order.paid_at is None:
        raise OrderError(
            OrderErrorCode.BAD_TRANSITION, **{"from": Order.Status(order.status).label, "to": Order.Status.PAID.label}
        )
    pending = Order.Status.PENDING_PAYMENT
    rows_insert(
        [
            OrderEvent(order=order, to_status=pending, actor=actor, actor_kind="customer", created_at=order.placed_at),
            OrderEvent(
                order=order,
                from_status=pending,
                to_status=Order.Status.PAID,
                actor_kind="customer",
                note=paid[:300],
                created_at=order.paid_at,
            ),
        ]
    )
    order_notify(order, Order.Status.PAID, lines=lines, extra={"placed": True})


def order_record_paid_placed(order: Order) -> None:
    """What order_transition does after the mail when an order becomes paid, for an order
    order_record_placed(paid=...) recorded: the sales rollup and order_paid (fulfillment makes
    its parcels). Last in the placing transaction: the rollup's rows (per day and variant, per
    day and department) are every paid order's, held from here to the commit.

    On PostgreSQL the rollup's rows and the parcels order_paid's receiver makes are sent as one
    statement (rows_together: the rollup's two INSERTs as data-modifying CTEs of the parcels'):
    a round trip fewer on the purchase's hot path. A receiver's rows_insert rows get their keys
    as the block ends."""
    with rows_together():
        daily_sales_record_paid(order)
        order_paid.send(sender=Order, order=order)


def order_lines_known(order: Order, lines: list[OrderLine]) -> None:
    """Give `order` the lines its caller just wrote, as if prefetched: the paid mail, the sales
    rollup and the parcels (order.lines.all()) then read none back. What Django's
    prefetch_related_objects stores, without its query."""
    queryset = order.lines.all()
    queryset._result_cache = list(lines)
    queryset._prefetch_done = True
    order._prefetched_objects_cache = {**getattr(order, "_prefetched_objects_cache", {}), "lines": queryset}


@transaction.atomic
def order_mark_paid(
    *, order_id: int, amount: Decimal, reference: str, actor_kind: str = "gateway", method: str = ""
) -> Order:
    """Mark an order paid. Idempotent: an order already paid (or further) is returned as is.
    `method` is how it was actually paid (a customer may pay another way than the one chosen
    at checkout); the order records it, so that its parcels know whether to collect cash.

    Raises OrderError(NOT_PAYABLE) for a cancelled or closed order, AMOUNT_MISMATCH if the
    amount differs from the total."""
    order = Order.objects.select_for_update().get(pk=order_id)
    return order_record_paid(order, amount=amount, reference=reference, actor_kind=actor_kind, method=method)


def order_record_paid(
    order: Order,
    *,
    amount: Decimal,
    reference: str,
    actor_kind: str = "gateway",
    method: str = "",
) -> Order:
    """order_mark_paid for an order its caller has already locked (the wallet's payment, which
    locks it first): no second lock, no savepoint. Precondition: `order` was loaded with
    select_for_update in the current transaction, or inserted in it."""
    if order.status in (Order.Status.PAID, Order.Status.SHIPPED, Order.Status.COMPLETED):
        return order
    if order.status != Order.Status.PENDING_PAYMENT:
        raise OrderError(OrderErrorCode.NOT_PAYABLE)
    if money(amount) != order.total:
        raise OrderError(OrderErrorCode.AMOUNT_MISMATCH)
    order_record_method(order, method)
    return order_transition(order, Order.Status.PAID, actor_kind=actor_kind, note=reference)


def order_record_method(order: Order, method: str) -> None:
    """The payment method the order is being paid with. Precondition: order row locked."""
    if method and method != order.payment_method:
        order.payment_method = method
        order.save(update_fields=["payment_method"])


def order_cancel(*, order_id: int, actor=None, actor_kind: str, reason: str) -> Order:
    """Cancel an unpaid order: release its stock (fulfillment answers order_released) and its
    coupon use. Idempotent for an order already cancelled. Raises OrderError otherwise."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status == Order.Status.CANCELLED:
            return order
        order.cancel_reason = reason[:200]
        order.save(update_fields=["cancel_reason"])
        order_transition(order, Order.Status.CANCELLED, actor=actor, actor_kind=actor_kind, note=reason)
        coupon_release(order=order)
        order_released.send(sender=Order, order=order)
    return order


def order_record_shipped(*, order: Order, actor=None) -> Order:
    """Every line has left with a carrier: 待发货 → 已发货. Idempotent.
    Precondition: order row locked (by the shipping workflow)."""
    if order.status == Order.Status.PAID:
        order_transition(order, Order.Status.SHIPPED, actor=actor, actor_kind="staff" if actor else "system")
    return order


def order_record_delivered(*, order: Order, when) -> None:
    """The carriers reported every parcel delivered: start the auto-confirm clock.
    Precondition: order row locked."""
    if order.delivered_at is None:
        order.delivered_at = when
        order.save(update_fields=["delivered_at"])


def order_record_parcel_delivered(*, order: Order, when, parcel: str) -> OrderEvent:
    """A parcel of the order was delivered (the carrier's 已签收, or staff recording their own
    fleet's): an entry in the order's history at the time of delivery, naming the parcel. The
    status does not change. Precondition: order row locked."""
    return OrderEvent.objects.create(
        order=order,
        from_status=order.status,
        to_status=OrderEvent.DELIVERED,
        actor_kind="carrier",
        note=parcel[:300],
        created_at=when or timezone.now(),
    )


@transaction.atomic
def order_confirm_receipt(*, order_id: int, customer=None, actor_kind: str = "customer", note: str = "") -> Order:
    """The customer has the goods: 已发货 → 已完成. With `customer`, only their own order
    (another customer's raises Order.DoesNotExist, which the view turns into a 404).
    Idempotent for a completed order; raises OrderError(NOT_SHIPPED) before shipping."""
    orders = Order.objects.select_for_update()
    order = orders.get(pk=order_id, customer=customer) if customer is not None else orders.get(pk=order_id)
    if order.status == Order.Status.COMPLETED:
        return order
    if order.status != Order.Status.SHIPPED:
        raise OrderError(OrderErrorCode.NOT_SHIPPED)
    return order_transition(order, Order.Status.COMPLETED, actor=customer, actor_kind=actor_kind, note=note)


# Orders whose story is over: the customer may remove them from their list, or buy them again.
FINISHED = (Order.Status.COMPLETED, Order.Status.CANCELLED, Order.Status.CLOSED)


@transaction.atomic
def order_hide(*, order_id: int, customer) -> Order:
    """The customer removes a finished order from their list. The shop keeps it: staff still see
    it, and its page still opens for the customer (mail and after-sales pages link to it).
    Idempotent. Another customer's order raises Order.DoesNotExist; an order still under way, or
    with an after-sales request in progress, raises OrderError (NOT_FINISHED, AFTERSALE_IN_PROGRESS)."""
    order = Order.objects.select_for_update().get(pk=order_id, customer=customer)
    if order.hidden_by_customer:
        return order
    if order.status not in FINISHED:
        raise OrderError(OrderErrorCode.NOT_FINISHED)
    # Through the reverse relation: orders does not import aftersales (it sits above).
    requests = Order._meta.get_field("aftersales").related_model
    # A rejected request may still be appealed, but nothing is happening on it meanwhile.
    over = (requests.Status.COMPLETED, requests.Status.CLOSED, requests.Status.REJECTED)
    if requests.objects.filter(order=order).exclude(status__in=over).exists():
        raise OrderError(OrderErrorCode.AFTERSALE_IN_PROGRESS)
    order.hidden_by_customer = True
    order.save(update_fields=["hidden_by_customer"])
    return order


def order_record_delivery_change(
    order: Order, *, snapshot: dict, shipping_fee: Decimal, actor=None, actor_kind: str = "customer", note: str = ""
) -> OrderEvent:
    """Replace a not yet packed order's delivery address (PostalAddress fields) and shipping fee,
    keeping its total adding up, and record it in the order's history. The status does not
    change, so the event goes from the status to itself: a note in the timeline, not a move of
    the state machine (Order.TRANSITIONS is not consulted). The caller (cart's workflow) decides
    the fee and settles the money. Precondition: order row locked."""
    for name in Order.SNAPSHOT_FIELDS:
        setattr(order, name, snapshot[name])
    order.shipping_fee = money(shipping_fee)
    order.total = money(order.subtotal - order.discount + order.shipping_fee + order.insurance_fee)
    order.save(update_fields=[*Order.SNAPSHOT_FIELDS, "shipping_fee", "total"])
    return OrderEvent.objects.create(
        order=order,
        from_status=order.status,
        to_status=order.status,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_kind=actor_kind,
        note=note[:300],
    )


def orders_auto_confirm(*, now=None, limit: int = 500) -> int:
    """Confirm receipt for the customer (the periodic task): N days after delivery, or M days
    after shipping when the carrier never reported delivery. Returns how many."""
    now = now or timezone.now()
    after_delivery = now - timezone.timedelta(days=settings.ORDER_AUTO_CONFIRM_DAYS_AFTER_DELIVERY)
    after_shipping = now - timezone.timedelta(days=settings.ORDER_AUTO_CONFIRM_DAYS_AFTER_SHIPPING)
    due = Order.objects.filter(status=Order.Status.SHIPPED).filter(
        Q(delivered_at__lte=after_delivery) | Q(delivered_at__isnull=True, shipped_at__lte=after_shipping)
    )
    confirmed = 0
    for order_id, delivered_at in due.order_by("shipped_at").values_list("pk", "delivered_at")[:limit]:
        note = "auto-confirmed after delivery" if delivered_at else "auto-confirmed: no delivery reported"
        order_confirm_receipt(order_id=order_id, actor_kind="system", note=note)
        confirmed += 1
    return confirmed


def orders_cancel_expired(*, now=None, limit: int = 200) -> int:
    """Cancel unpaid orders past their pay-by time (the periodic task). Returns how many."""
    now = now or timezone.now()
    ids = list(
        Order.objects.filter(status=Order.Status.PENDING_PAYMENT, pay_by__lte=now)
        .order_by("pay_by")
        .values_list("pk", flat=True)[:limit]
    )
    cancelled = 0
    for order_id in ids:
        try:
            order_cancel(order_id=order_id, actor_kind="system", reason="payment timeout")
            cancelled += 1
        except OrderError:
            continue  # paid in the meantime: the lock decided, nothing to do
    return cancelled


# -- coupons --------------------------------------------------------------------------------


def coupon_check(*, code: str, subtotal: Decimal, customer=None, now=None) -> tuple[Coupon, Decimal]:
    """Validate a coupon for a basket and return it with the discount it gives.

    Raises OrderError with a COUPON_* code saying what is wrong."""
    now = now or timezone.now()
    code = code.strip().upper()
    coupon = Coupon.objects.filter(code__iexact=code).first()
    if coupon is None:
        raise OrderError(OrderErrorCode.COUPON_UNKNOWN, code=code)
    if not coupon.is_active:
        raise OrderError(OrderErrorCode.COUPON_INACTIVE, code=coupon.code)
    if coupon.starts_at > now:
        raise OrderError(OrderErrorCode.COUPON_NOT_YET, code=coupon.code)
    if coupon.ends_at and coupon.ends_at <= now:
        raise OrderError(OrderErrorCode.COUPON_EXPIRED, code=coupon.code)
    if subtotal < coupon.min_spend:
        raise OrderError(OrderErrorCode.COUPON_MIN_SPEND, code=coupon.code, min=format_money(coupon.min_spend))
    if coupon.usage_limit is not None and coupon.used_count >= coupon.usage_limit:
        raise OrderError(OrderErrorCode.COUPON_USED_UP, code=coupon.code)
    if customer is not None and customer.is_authenticated:
        used = CouponRedemption.objects.filter(coupon=coupon, customer=customer).count()
        if used >= coupon.per_customer_limit:
            raise OrderError(OrderErrorCode.COUPON_CUSTOMER_LIMIT, code=coupon.code)
    if coupon.kind == Coupon.Kind.FIXED:
        discount = min(coupon.value, subtotal)
    else:
        discount = money(subtotal * coupon.value / Decimal(100))
    return coupon, money(discount)


def coupon_redeem(*, coupon: Coupon, order: Order, amount: Decimal) -> None:
    """Take one use of a coupon for an order, atomically.

    One conditional UPDATE decides a race for the last use; the per-customer limit is checked
    under the coupon's row lock. Precondition: inside the order's transaction.
    Raises OrderError(COUPON_USED_UP or COUPON_CUSTOMER_LIMIT)."""
    taken = (
        Coupon.objects.filter(pk=coupon.pk)
        .filter(Q(usage_limit__isnull=True) | Q(used_count__lt=F("usage_limit")))
        .update(used_count=F("used_count") + 1)
    )
    if not taken:
        raise OrderError(OrderErrorCode.COUPON_USED_UP, code=coupon.code)
    # The UPDATE above holds the coupon row lock until commit: per-customer counts are stable.
    used = CouponRedemption.objects.filter(coupon=coupon, customer=order.customer).count()
    if used >= coupon.per_customer_limit:
        raise OrderError(OrderErrorCode.COUPON_CUSTOMER_LIMIT, code=coupon.code)
    try:
        with transaction.atomic():
            CouponRedemption.objects.create(coupon=coupon, order=order, customer=order.customer, amount=amount)
    except IntegrityError as exc:
        raise OrderError(OrderErrorCode.COUPON_USED_UP, code=coupon.code) from exc


def coupon_release(*, order: Order) -> None:
    """Give back the coupon use of a cancelled order. Precondition: order row locked."""
    redemption = CouponRedemption.objects.filter(order=order).first()
    if redemption is None:
        return
    Coupon.objects.filter(pk=redemption.coupon_id, used_count__gt=0).update(used_count=F("used_count") - 1)
    redemption.delete()
