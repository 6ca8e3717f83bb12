"""Taking money: starting payments, accepting gateway notifications, the wallet, cash on delivery.

Rules (DESIGN.md): a notification is accepted only if its signature, merchant id, payment,
amount and currency all match; accepting is idempotent (one capture, one transition, one mail
however often or however concurrently it arrives) and safe out of order (a late "failed" never
undoes "paid"); the browser's return never marks an order paid. Locks are taken order first,
then payment or wallet, everywhere, so concurrent paths cannot deadlock.

Money the gateway took that the order does not need (a second payment of an order already
paid, a payment for an order cancelled meanwhile) is never an error answered to the gateway:
it is recorded (Payment TO_REFUND, a Refund) and sent back to where it came from; a refund
that keeps failing stays in front of finance in the admin.
"""

import logging
import secrets
from datetime import timedelta
from decimal import Decimal
from time import monotonic

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, Sum, prefetch_related_objects
from django.utils import timezone

from orders.exceptions import OrderError
from orders.models import Order
from orders.services import order_mark_paid, order_record_method, order_record_paid, order_transition
from orders.signals import cod_withdrawn
from payments.exceptions import PaymentError, PaymentErrorCode
from payments.models import GatewayNotification, Payment, Refund, Wallet, WalletEntry
from payments.providers import (
    REFUSED_FIELD_MAX_CHARS,
    REFUSED_FIELDS,
    GatewayResult,
    gateway,
    notification_excerpt,
)
from payments.selectors import cod_due_count
from payments.signals import refund_settled
from shop.core.inserts import rows_insert
from shop.core.money import format_money, money
from shop.core.tasks import enqueue

log = logging.getLogger(__name__)


def payment_reference_new() -> str:
    return "P" + timezone.localdate().strftime("%Y%m%d") + secrets.token_hex(6).upper()


def payment_start(*, order: Order, provider: str, return_url: str, notify_url: str) -> str:
    """Open a payment at a hosted gateway and return the URL to send the browser to.

    Raises PaymentError(NOT_PAYABLE) unless the order awaits payment."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if not order.is_payable:
            raise PaymentError(PaymentErrorCode.NOT_PAYABLE)
        payment = Payment.objects.create(
            order=order,
            provider=provider,
            reference=payment_reference_new(),
            amount=order.total,
            currency=order.currency,
        )
    # Outside the transaction: a gateway call (Alipay builds a URL; others may call out).
    return gateway(provider).start(
        payment=payment, subject=f"Order {order.number}", return_url=return_url, notify_url=notify_url
    )


# A notification refused for these reasons may come from anyone: only a bounded excerpt is kept.
UNAUTHENTICATED = (PaymentErrorCode.BAD_SIGNATURE, PaymentErrorCode.BAD_SIGN_TYPE)


def notification_accept(*, provider: str, data: dict[str, str]) -> Payment:
    """Verify and apply a gateway's notification. Returns the payment.

    The signature is checked before anything is stored: a notification that fails it keeps
    only a bounded excerpt (REFUSED_FIELDS, each cut short) with the reason ("refused: …"); a
    verified one keeps the provider's known fields in full (refused after verification:
    "rejected: …"). Raises PaymentError (or OrderError) when anything does
    not match; nothing changes then but the audit row."""
    provider_gateway = gateway(provider)
    try:
        result = provider_gateway.verify(data)
    except PaymentError as exc:
        if exc.code in UNAUTHENTICATED:
            payload = notification_excerpt(data, fields=REFUSED_FIELDS, max_chars=REFUSED_FIELD_MAX_CHARS)
            outcome = f"refused: {exc.code}"
        else:  # signed by the gateway, but not for us or not understood
            payload, outcome = notification_excerpt(data, fields=provider_gateway.fields), f"rejected: {exc.code}"
        GatewayNotification.objects.create(provider=provider, payload=payload, outcome=outcome)
        log.warning("%s notification %s", provider, outcome)
        raise
    record = GatewayNotification.objects.create(
        provider=provider, payload=notification_excerpt(data, fields=provider_gateway.fields)
    )
    try:
        payment = _check(provider, result)
        payment = payment_apply(payment_id=payment.pk, result=result)
    except (PaymentError, OrderError) as exc:
        record.outcome = f"rejected: {exc.code}"
        record.save(update_fields=["outcome"])
        log.warning("%s notification for %s rejected: %s", provider, result.reference[:40], exc.code)
        raise
    record.accepted = True
    record.outcome = f"{payment.reference}: {payment.state}"
    record.save(update_fields=["accepted", "outcome"])
    return payment


def _check(provider: str, result: GatewayResult) -> Payment:
    merchant = settings.ALIPAY["APP_ID"] if provider == "alipay" else settings.SANDBOX_GATEWAY["MERCHANT_ID"]
    if result.merchant_id != merchant:
        raise PaymentError(PaymentErrorCode.WRONG_MERCHANT)
    payment = Payment.objects.filter(provider=provider, reference=result.reference).first()
    if payment is None:
        raise PaymentError(PaymentErrorCode.UNKNOWN_PAYMENT)
    # Exact: the provider parsed an amount in the two-decimal form; nothing is rounded.
    if result.amount != payment.amount:
        raise PaymentError(PaymentErrorCode.AMOUNT_MISMATCH)
    if result.currency != payment.currency:
        raise PaymentError(PaymentErrorCode.CURRENCY_MISMATCH)
    return payment


def payment_apply(*, payment_id: int, result: GatewayResult) -> Payment:
    """Record a verified gateway outcome for one payment. Idempotent and safe out of order:
    a payment is captured at most once, a failure after a capture is ignored, and a status
    that is not final (the buyer has not paid yet) changes nothing.

    A success for an order that no longer needs the money (another payment captured it first,
    or the order was cancelled or closed meanwhile) is not an error: the gateway has the money,
    so the payment becomes TO_REFUND and its refund is sent to the gateway after commit.
    Otherwise the payment is captured and the order marked paid in the same transaction.

    Locks the order, then the payment. Raises PaymentError(TRANSACTION_REUSED) when another
    of our payments already holds the gateway's transaction id; OrderError(AMOUNT_MISMATCH)
    if the payment does not match the order's total."""
    with transaction.atomic():
        order_id = Payment.objects.values_list("order_id", flat=True).get(pk=payment_id)
        order = Order.objects.select_for_update().get(pk=order_id)  # order first, then payment
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.state in TAKEN or not result.final:
            return payment
        if not result.succeeded:
            if payment.state == Payment.State.PENDING:
                payment.state = Payment.State.FAILED
                payment.save(update_fields=["state"])
            return payment
        # Under the order lock every other capture of this order is visible: the first one
        # wins, any later one goes back.
        paid_already = Payment.objects.filter(order_id=order_id, state=Payment.State.CAPTURED).exists()
        closed = order.status in (Order.Status.CANCELLED, Order.Status.CLOSED)
        # The order was re-priced after this payment was started (its delivery address changed):
        # the money paid is not the total owed, so it goes back and the order stays unpaid.
        stale = payment.amount != order.total
        closed = closed or stale
        payment.state = Payment.State.TO_REFUND if paid_already or closed else Payment.State.CAPTURED
        payment.transaction_id = result.transaction_id
        payment.captured_at = timezone.now()
        _payment_save_capture(payment)
        if payment.state == Payment.State.TO_REFUND:
            reason = Refund.Reason.PAID_TWICE if paid_already else Refund.Reason.ORDER_NOT_PAYABLE
            _refund_open(order=order, payment=payment, amount=payment.amount, reason=reason)
            log.warning("payment %s for order %s is not needed (%s): refunding", payment, order.number, reason)
            return payment
        cod_withdraw(order_id=order_id, paid_by=payment)
        payments_supersede_open(order_id=order_id, paid_by=payment)
        order_mark_paid(order_id=order_id, amount=payment.amount, reference=payment.reference, method=payment.provider)
    return payment


# A payment in one of these states holds (or held) the customer's money: a notification
# can no longer change it.
TAKEN = (Payment.State.CAPTURED, Payment.State.TO_REFUND, Payment.State.REFUNDED)


def payments_cancel_open(*, order_id: int) -> int:
    """The order was cancelled (by the customer, staff or the unpaid timeout): its payments
    still open at a gateway (PENDING) become CANCELLED, so the order no longer lists one as
    waiting. Returns how many.

    The gateway may still report one of them paid (the customer paid at the last second):
    payment_apply takes that as money for a cancelled order, TO_REFUND and refunded, as for any
    payment arriving after its order closed; a late failure leaves it CANCELLED.
    Precondition: order row locked (the cancelling transaction), so no notification is being
    applied to these payments meanwhile."""
    open_ = Payment.objects.filter(order_id=order_id, state=Payment.State.PENDING)
    return open_.update(state=Payment.State.CANCELLED)


def payments_supersede_open(*, order_id: int, paid_by: Payment) -> int:
    """The order was paid by `paid_by`: its other payments still open at a gateway (PENDING,
    abandoned there) become CANCELLED, so the order page no longer lists them as waiting.
    Returns how many.

    A success reported for one of them later is money the order does not need: payment_apply
    takes it as a second payment (TO_REFUND, refunded once however often it is told), as for a
    payment cancelled with its order. Cash on delivery still due is cod_withdraw's, not this.
    Precondition: order row locked."""
    open_ = Payment.objects.filter(order_id=order_id, state=Payment.State.PENDING).exclude(pk=paid_by.pk)
    return open_.update(state=Payment.State.CANCELLED)


def _payment_save_capture(payment: Payment) -> None:
    """Save a capture's fields. Raises PaymentError(TRANSACTION_REUSED) if another payment of
    ours already holds the gateway's transaction id (checked, and held by the unique
    constraint against a concurrent notification). Precondition: payment row locked."""
    reused = Payment.objects.filter(provider=payment.provider, transaction_id=payment.transaction_id)
    if reused.exclude(pk=payment.pk).exists():
        raise PaymentError(PaymentErrorCode.TRANSACTION_REUSED)
    try:
        with transaction.atomic():  # a savepoint, so the error can be answered cleanly
            payment.save(update_fields=["state", "transaction_id", "captured_at"])
    except IntegrityError as exc:
        if "payment_one_per_transaction" not in str(exc):
            raise
        raise PaymentError(PaymentErrorCode.TRANSACTION_REUSED) from exc


# -- refunds ----------------------------------------------------------------------------------

# Attempts at the gateway before a refund is left to finance (Refund.State.FAILED).
REFUND_MAX_ATTEMPTS = 8
REFUNDABLE = (Payment.State.CAPTURED, Payment.State.TO_REFUND)


def payment_refund(
    *, payment_id: int, amount: Decimal, reason: str, note: str = "", actor=None, destination: str = ""
) -> Refund:
    """Refund (part of) a payment: back to the method it came from (a gateway payment through the
    gateway after commit, a wallet payment at once by a ledger credit), or into the customer's
    wallet at once when `destination` is WALLET (the customer's choice; always so for cash
    collected on delivery, which has no way back of its own). Returns the Refund.

    Locks the order, then the payment. Raises PaymentError(NOT_REFUNDABLE) for a payment that
    holds no money of the customer's (not captured), REFUND_TOO_LARGE when the refunds would
    exceed the amount taken (held by the payment_refunds_within_amount constraint too)."""
    with transaction.atomic():
        order_id = Payment.objects.values_list("order_id", flat=True).get(pk=payment_id)
        order = Order.objects.select_for_update().get(pk=order_id)
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        return _refund_open(
            order=order, payment=payment, amount=amount, reason=reason, note=note, actor=actor, destination=destination
        )


def payment_refundable(payment: Payment) -> Decimal:
    """What can still go back of a payment: captured less every refund already committed."""
    if payment.state not in REFUNDABLE:
        return Decimal("0.00")
    return payment.amount - payment.refunded


def _refund_open(
    *, order: Order, payment: Payment, amount: Decimal, reason: str, note: str = "", actor=None, destination: str = ""
) -> Refund:
    """Record a refund and have it sent. Precondition: order and payment rows locked, in that
    order. Raises PaymentError(NOT_REFUNDABLE, REFUND_TOO_LARGE)."""
    amount = money(amount)
    if payment.state not in REFUNDABLE or amount <= 0:
        raise PaymentError(PaymentErrorCode.NOT_REFUNDABLE)
    if payment.provider in ("cod", "wallet") or not destination:
        # Cash has no way back but the wallet; a wallet payment goes back to the wallet.
        destination = Refund.Destination.WALLET if payment.provider == "cod" else Refund.Destination.ORIGINAL
    # Failed refunds count too: the gateway may have paid one whose answer was lost, and
    # finance settles it under the same request number. One conditional UPDATE decides: the
    # check constraint (refunded <= amount) is the last line.
    taken = Payment.objects.filter(pk=payment.pk, refunded__lte=F("amount") - amount).update(
        refunded=F("refunded") + amount
    )
    if not taken:
        raise PaymentError(PaymentErrorCode.REFUND_TOO_LARGE)
    payment.refresh_from_db(fields=["refunded"])
    refund = Refund.objects.create(
        payment=payment,
        amount=amount,
        # Derived from the payment and never changed: every retry names the same refund, and
        # the gateway (Alipay's out_request_no) pays it once.
        request_no=f"{payment.reference}R{payment.refunds.count() + 1:02d}",
        reason=reason,
        destination=destination,
        note=note[:200],
        actor=actor,
    )
    if payment.provider == "wallet" or destination == Refund.Destination.WALLET:
        _wallet_post(user=order.customer, amount=amount, reason=WalletEntry.Reason.REFUND, reference=refund.request_no)
        _refund_complete(refund=refund, payment=payment, gateway_reference=refund.request_no)
    else:
        transaction.on_commit(lambda: enqueue("payments.tasks.refund_send", refund.pk))
    return refund


@transaction.atomic
def refund_to_wallet_instead(*, refund_id: int, actor=None) -> Refund:
    """Finance pays a failed gateway refund into the customer's wallet instead (the gateway will
    not take it: the buyer's account closed, the trade too old). Same amount, same record.
    Raises PaymentError(REFUND_NOT_FAILED) unless it failed."""
    payment_id = Refund.objects.values_list("payment_id", flat=True).get(pk=refund_id)
    order_id = Payment.objects.values_list("order_id", flat=True).get(pk=payment_id)
    order = Order.objects.select_for_update().get(pk=order_id)
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    refund = Refund.objects.select_for_update().get(pk=refund_id)
    if refund.state != Refund.State.FAILED:
        raise PaymentError(PaymentErrorCode.REFUND_NOT_FAILED)
    refund.destination = Refund.Destination.WALLET
    refund.save(update_fields=["destination"])
    _wallet_post(
        user=order.customer, amount=refund.amount, reason=WalletEntry.Reason.REFUND, reference=refund.request_no
    )
    _refund_complete(refund=refund, payment=payment, gateway_reference=refund.request_no)
    log.info("refund %s paid to the wallet instead by %s", refund.request_no, actor)
    return refund


def _refund_complete(*, refund: Refund, payment: Payment, gateway_reference: str) -> None:
    """The money went back. Precondition: order, payment and refund rows locked."""
    refund.state = Refund.State.SUCCEEDED
    refund.gateway_reference = gateway_reference[:80]
    refund.completed_at = timezone.now()
    refund.last_error = ""
    refund.save(update_fields=["state", "gateway_reference", "completed_at", "last_error"])
    returned = payment.refunds.filter(state=Refund.State.SUCCEEDED).aggregate(total=Sum("amount"))["total"]
    if returned >= payment.amount:
        payment.state = Payment.State.REFUNDED
        payment.save(update_fields=["state"])
    refund_settled.send(sender=Refund, refund=refund)


def refund_send(*, refund_id: int) -> Refund:
    """Ask the payment's gateway to pay a refund, and record its answer on the refund: done,
    or the error (pending for another attempt; FAILED, for finance, after REFUND_MAX_ATTEMPTS).
    Idempotent: a refund already done is returned unchanged, and sending again repeats the same
    request number, which the gateway pays once. Never raises for a gateway's refusal.

    Precondition: no transaction open. The gateway is called with no lock held (STYLE.md);
    the answer is recorded afterwards, locking order, payment and refund in that order."""
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    if refund.state == Refund.State.SUCCEEDED:
        return refund
    payment = refund.payment
    attempts = refund.attempts + 1
    error, reference = "", None
    Refund.objects.filter(pk=refund_id).update(attempts=F("attempts") + 1, attempted_at=timezone.now())
    try:
        reference: str | None = gateway(payment.provider).refund(
            payment=payment, amount=refund.amount, request_no=refund.request_no
        )
    except PaymentError as exc:
        error = f"{exc.code}: {exc.message}"[:200]
        log.warning("refund %s attempt %d failed: %s", refund.request_no, attempts, exc.code)
    with transaction.atomic():
        Order.objects.select_for_update().filter(pk=payment.order_id).first()
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if refund.state == Refund.State.SUCCEEDED:
            return refund
        if reference is not None:
            _refund_complete(refund=refund, payment=payment, gateway_reference=reference)
            return refund
        refund.last_error = error
        if refund.attempts >= REFUND_MAX_ATTEMPTS:
            refund.state = Refund.State.FAILED
        refund.save(update_fields=["last_error", "state"])
        if refund.state == Refund.State.FAILED:
            refund_settled.send(sender=Refund, refund=refund)
    return refund


@transaction.atomic
def refund_retry(*, refund_id: int, actor=None) -> Refund:
    """Finance sends a failed refund again (same request number, so the gateway still pays it
    at most once). Raises PaymentError(REFUND_NOT_FAILED) unless it failed."""
    refund = Refund.objects.select_for_update().get(pk=refund_id)
    if refund.state != Refund.State.FAILED:
        raise PaymentError(PaymentErrorCode.REFUND_NOT_FAILED)
    refund.state = Refund.State.PENDING
    refund.attempts = 0
    refund.save(update_fields=["state", "attempts"])
    log.info("refund %s sent again by %s", refund.request_no, actor)
    transaction.on_commit(lambda: enqueue("payments.tasks.refund_send", refund.pk))
    return refund


def refunds_sweep(*, older_than_seconds: int = 600, now=None, limit: int = 200) -> int:
    """Queue again the refunds still pending whose last attempt (or creation, when the broker
    was down as it was queued) is older than `older_than_seconds`. Returns how many."""
    cutoff = (now or timezone.now()) - timedelta(seconds=older_than_seconds)
    stale = Refund.objects.filter(state=Refund.State.PENDING, created_at__lt=cutoff).filter(
        Q(attempted_at__isnull=True) | Q(attempted_at__lt=cutoff)
    )
    ids = list(stale.order_by("pk").values_list("pk", flat=True)[:limit])
    for refund_id in ids:
        enqueue("payments.tasks.refund_send", refund_id)
    return len(ids)


# -- wallet ---------------------------------------------------------------------------------


def wallet_open(*, user_id: int) -> Wallet:
    """Give an account its wallet (empty). Idempotent: an account has one wallet, ever.
    Called when an account is created, however it is (registration, the admin, a command)."""
    wallet, _created = Wallet.objects.get_or_create(user_id=user_id)
    return wallet


def wallet_for(user) -> Wallet:
    # Every account has its wallet since it was made; get_or_create still, so that a wallet
    # removed by hand (an empty one may go) comes back on first use rather than failing.
    return wallet_open(user_id=user.pk)


def _wallet_post(
    *, user, amount: Decimal, reason: str, reference: str = "", note: str = "", actor=None, key: str = ""
) -> WalletEntry:
    """Add a ledger entry and move the balance with it. Precondition: in a transaction.

    Raises PaymentError(INSUFFICIENT_BALANCE) when a debit would go below zero,
    ADJUSTMENT_REPEATED when an entry with the same `key` is already in the ledger."""
    wallet = Wallet.objects.select_for_update().filter(user=user).first()
    if wallet is None:  # a wallet removed by hand comes back on first use (wallet_for)
        wallet_for(user)
        wallet = Wallet.objects.select_for_update().get(user=user)
    # Under the wallet lock a concurrent post of the same key has committed or waits: checked
    # here, and held by wallet_entry_once_per_key against anything else.
    if key and wallet.entries.filter(idempotency_key=key).exists():
        raise PaymentError(PaymentErrorCode.ADJUSTMENT_REPEATED)
    new_balance = wallet.balance + amount
    if new_balance < 0:
        raise PaymentError(
            PaymentErrorCode.INSUFFICIENT_BALANCE, balance=format_money(wallet.balance), total=format_money(-amount)
        )
    wallet.balance = new_balance
    wallet.save(update_fields=["balance"])
    return WalletEntry.objects.create(
        wallet=wallet,
        amount=amount,
        balance_after=new_balance,
        reason=reason,
        reference=reference,
        note=note,
        actor=actor,
        idempotency_key=key,
    )


@transaction.atomic
def wallet_adjust(*, user, amount: Decimal, note: str, actor, key: str = "") -> WalletEntry:
    """A staff adjustment (credit or debit), which must give a reason. `key` names the form
    that asked for it: the same key twice moves the wallet once. Raises PaymentError
    (REASON_REQUIRED, ADJUSTMENT_ZERO, INSUFFICIENT_BALANCE for a debit past the balance,
    ADJUSTMENT_REPEATED for a key already recorded)."""
    if not note.strip():
        raise PaymentError(PaymentErrorCode.REASON_REQUIRED)
    if not money(amount):
        raise PaymentError(PaymentErrorCode.ADJUSTMENT_ZERO)
    return _wallet_post(
        user=user,
        amount=money(amount),
        reason=WalletEntry.Reason.ADJUSTMENT,
        note=note.strip(),
        actor=actor,
        key=key[:64],
    )


@transaction.atomic
def wallet_top_up(*, user, amount: Decimal, reference: str) -> WalletEntry:
    return _wallet_post(user=user, amount=money(amount), reason=WalletEntry.Reason.TOP_UP, reference=reference)


def wallet_pay(*, order_id: int, user, first_payment_only: bool = False) -> Payment | None:
    """Pay an order from the customer's wallet, at once. Idempotent for a paid order.
    `first_payment_only` (checkout's one step): pay only an order with no payment of any kind
    yet, else return None, decided under the order's lock.

    Locks the order, then the wallet; the lines are read once (the paid mail, the sales rollup
    and the parcels all list them). Raises PaymentError(INSUFFICIENT_BALANCE or NOT_PAYABLE)."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id, customer=user)
        order.customer = user  # the row just matched customer=user: the mail needs no second read
        payments = list(order.payments.all())
        captured = next((p for p in payments if p.state == Payment.State.CAPTURED), None)
        if first_payment_only and payments:
            return None
        if captured is not None:
            return captured
        if not order.is_payable:
            raise PaymentError(PaymentErrorCode.NOT_PAYABLE)
        prefetch_related_objects([order], "lines")
        reference = payment_reference_new()
        _wallet_post(user=user, amount=-order.total, reason=WalletEntry.Reason.PAYMENT, reference=order.number)
        payment = Payment.objects.create(
            order=order,
            provider="wallet",
            reference=reference,
            transaction_id=reference,
            amount=order.total,
            currency=order.currency,
            state=Payment.State.CAPTURED,
            captured_at=timezone.now(),
        )
        if any(p.state == Payment.State.PENDING for p in payments):
            payments_supersede_open(order_id=order.pk, paid_by=payment)
        order_record_paid(order, amount=order.total, reference=reference, actor_kind="customer", method="wallet")
    return payment


def wallet_debit(*, user, amount: Decimal, reference: str) -> WalletEntry:
    """Take `amount` from the customer's wallet for order `reference`, or raise
    PaymentError(INSUFFICIENT_BALANCE) having written nothing: checkout's one step debits
    the wallet first, and a short wallet leaves the order it is placing awaiting payment.

    One conditional UPDATE (balance >= amount) locks, checks and debits the row: a concurrent
    debit waits for it and is checked again on the balance it left; on PostgreSQL the ledger
    entry is written by the same statement (the UPDATE as a data-modifying CTE: no row, no
    entry). A wallet missing or short goes through _wallet_post, which says what the balance was
    (or brings a removed wallet back). Precondition: in a transaction (the placing one: wallet
    before stock, as paid orders' address changes take them)."""
    amount = money(amount)
    entry = WalletEntry(amount=-amount, reason=WalletEntry.Reason.PAYMENT, reference=reference)
    debit = (
        f"UPDATE {Wallet._meta.db_table} SET balance = balance - %s WHERE user_id = %s AND balance >= %s "  # noqa: S608
        "RETURNING id, balance"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            fields = [f for f in _ENTRY_FIELDS if f.attname not in ("wallet_id", "balance_after")]
            values = [f.get_db_prep_save(f.pre_save(entry, add=True), connection) for f in fields]
            cursor.execute(
                f"WITH debit AS ({debit}) INSERT INTO {WalletEntry._meta.db_table} "  # noqa: S608 - names from the model
                f"(wallet_id, balance_after, {', '.join(f.column for f in fields)}) "
                f"SELECT id, balance, {', '.join(['%s'] * len(values))} FROM debit "
                "RETURNING id, wallet_id, balance_after",
                [amount, user.pk, amount, *values],
            )
            row = cursor.fetchone()
            if row is not None:
                entry.pk, entry.wallet_id, entry.balance_after = row
                entry._state.adding, entry._state.db = False, connection.alias
                return entry
        else:  # the embedded default (SQLite): no data-modifying CTE
            cursor.execute(debit, [amount, user.pk, amount])
            row = cursor.fetchone()
            if row is not None:
                return WalletEntry.objects.create(
                    wallet_id=row[0], amount=-amount, balance_after=row[1], reason=entry.reason, reference=reference
                )
    return _wallet_post(user=user, amount=-amount, reason=WalletEntry.Reason.PAYMENT, reference=reference)


# Every column of the ledger but the id, in model order (defaults and created_at filled by pre_save).
_ENTRY_FIELDS = [f for f in WalletEntry._meta.concrete_fields if not f.primary_key]


def wallet_pay_placed(*, order: Order, debit: WalletEntry, reference: str) -> Payment:
    """Checkout's one step, after wallet_debit took the order's total: the captured payment
    (`reference`, which the order's paid event notes) of an order inserted already paid
    (orders.services.order_record_placed(paid=reference)).

    Precondition: `order` was inserted, paid, in the current transaction (nobody else sees it:
    no lock to take, no payment of it to read); `debit` is this transaction's, of its total."""
    if -debit.amount != order.total or order.status != Order.Status.PAID:
        raise PaymentError(PaymentErrorCode.NOT_PAYABLE)
    payment = Payment(
        order=order,
        provider="wallet",
        reference=reference,
        transaction_id=reference,
        amount=-debit.amount,
        currency=order.currency,
        state=Payment.State.CAPTURED,
        captured_at=order.paid_at,
    )
    rows_insert([payment])  # built once per process (shop.core.inserts)
    return payment


def payment_supplement_from_wallet(*, order: Order, amount: Decimal, note: str = "") -> Payment:
    """Charge a paid order `amount` more, from the customer's wallet, at once: a captured
    supplement payment (Payment.Purpose.SUPPLEMENT) and the wallet debit the ledger records,
    so that what the order's payments hold (captured less refunded) still equals its total.

    Precondition: order row locked, in the caller's transaction (whose rollback undoes both).
    Raises PaymentError(INSUFFICIENT_BALANCE) when the balance does not cover it."""
    amount = money(amount)
    reference = payment_reference_new()
    _wallet_post(
        user=order.customer, amount=-amount, reason=WalletEntry.Reason.PAYMENT, reference=order.number, note=note
    )
    return Payment.objects.create(
        order=order,
        purpose=Payment.Purpose.SUPPLEMENT,
        provider="wallet",
        reference=reference,
        transaction_id=reference,
        amount=amount,
        currency=order.currency,
        state=Payment.State.CAPTURED,
        captured_at=timezone.now(),
    )


def cod_reprice(*, order: Order, difference: Decimal) -> Payment | None:
    """The order's total moved by `difference` before the courier collected (its delivery was
    re-priced): the cash due moves with it. Returns the cash-on-delivery payment still due, if
    any. Precondition: order row locked."""
    due = Payment.objects.select_for_update().filter(
        order=order, provider="cod", state=Payment.State.AWAITING_COLLECTION
    )
    payment = due.first()
    if payment is not None and difference:
        payment.amount = money(payment.amount + difference)
        payment.save(update_fields=["amount"])
    return payment


def cod_accept(*, order_id: int, user) -> Payment:
    """Cash on delivery: the order goes on to 待发货 with the money due on delivery.
    Idempotent. Raises PaymentError(NOT_PAYABLE)."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id, customer=user)
        existing = order.payments.filter(provider="cod").first()
        if existing is not None and order.status != Order.Status.PENDING_PAYMENT:
            return existing
        if not order.is_payable:
            raise PaymentError(PaymentErrorCode.NOT_PAYABLE)
        # The cap checkout holds (checkout_check_unpaid_caps), for an order turned to cash on
        # delivery on its page: under the customer's lock, as checkout counts under it.
        get_user_model().objects.select_for_update(no_key=True).filter(pk=user.pk).values_list("pk").first()
        due = cod_due_count(customer=user)
        if due >= settings.ORDER_MAX_COD_PER_CUSTOMER:
            raise PaymentError(PaymentErrorCode.TOO_MANY_COD, n=due)
        payment = Payment.objects.create(
            order=order,
            provider="cod",
            reference=payment_reference_new(),
            amount=order.total,
            currency=order.currency,
            state=Payment.State.AWAITING_COLLECTION,
        )
        # Chosen on the order page instead of at checkout: the parcels must collect the cash.
        order_record_method(order, Order.PaymentMethod.COD)
        order_transition(order, Order.Status.PAID, actor=user, actor_kind="customer", note="cash on delivery")
    return payment


def cod_withdraw(*, order_id: int, paid_by: Payment) -> bool:
    """The customer accepted cash on delivery, then completed an online payment started before:
    the money is ours, so the courier must not collect as well. The cash-on-delivery payment is
    withdrawn and fulfillment stops the parcels collecting. Returns whether there was one.
    Precondition: order row locked."""
    due = Payment.objects.filter(order_id=order_id, provider="cod", state=Payment.State.AWAITING_COLLECTION)
    cod = due.exclude(pk=paid_by.pk).select_for_update().first()
    if cod is None:
        return False
    cod.state = Payment.State.WITHDRAWN
    cod.save(update_fields=["state"])
    order = Order.objects.get(pk=order_id)
    order_record_method(order, paid_by.provider)
    cod_withdrawn.send(sender=Payment, order=order)
    return True


def cod_lower(*, order_id: int, by: Decimal) -> Payment | None:
    """Units of a cash-on-delivery order were cancelled before it was paid: the courier now
    collects `by` less (fulfillment lowers the parcel's cash due), and so must the payment, or
    the smaller sum collected would not capture it. A payment that would come to nothing is
    left to be cancelled with its order. Precondition: order row locked."""
    payment = (
        Payment.objects.select_for_update()
        .filter(order_id=order_id, provider="cod", state=Payment.State.AWAITING_COLLECTION)
        .first()
    )
    if payment is not None and payment.amount - money(by) > 0:
        payment.amount -= money(by)
        payment.save(update_fields=["amount"])
    return payment


def cod_collect(*, order_id: int, amount: Decimal, reference: str) -> Payment | None:
    """The courier collected cash on delivery: capture the order's cash-on-delivery payment.
    Idempotent. A collection that does not match the amount due is left for staff (the parcel
    shows what was collected) rather than captured. Precondition: order row locked by the
    delivery workflow."""
    payment = (
        Payment.objects.select_for_update()
        .filter(order_id=order_id, provider="cod")
        .exclude(state=Payment.State.FAILED)
        .first()
    )
    if payment is None or payment.state != Payment.State.AWAITING_COLLECTION:
        return payment
    if money(amount) != payment.amount:
        return payment
    payment.state = Payment.State.CAPTURED
    payment.transaction_id = reference
    payment.captured_at = timezone.now()
    payment.save(update_fields=["state", "transaction_id", "captured_at"])
    payments_supersede_open(order_id=order_id, paid_by=payment)
    return payment


# -- closing trades at the gateway ----------------------------------------------------------

# Hosted gateways, whose trades stay open at the gateway until paid, closed or expired.
HOSTED_GATEWAYS = ("sandbox", "alipay")


def payment_trades_close_after_commit(*, order_id: int) -> None:
    """The order is being cancelled unpaid: once that commits, have its trades still open at a
    hosted gateway closed there (payments.tasks.payment_trades_close, retried by Celery), so
    the buyer cannot pay a cancelled order from a page left open. Nothing is read now: the
    task finds the payments the cancellation left CANCELLED."""
    transaction.on_commit(lambda: enqueue("payments.tasks.payment_trades_close", order_id))


def payment_trades_close(*, order_id: int) -> int:
    """Close at their gateways the trades of a cancelled order's payments (CANCELLED, at a
    hosted gateway). Idempotent: closing a closed trade changes nothing at either gateway. A
    trade the buyer paid first is left to the late-payment rule (payment_apply: TO_REFUND, and
    refunded). Returns how many trades could not be closed now (the task tries again).

    Precondition: no transaction open: the gateways are called with no lock held (STYLE.md)."""
    status, pay_by = Order.objects.filter(pk=order_id).values_list("status", "pay_by").first() or (None, None)
    if status != Order.Status.CANCELLED:
        return 0
    payments = Payment.objects.filter(order_id=order_id, state=Payment.State.CANCELLED, provider__in=HOSTED_GATEWAYS)
    left = 0
    for payment in payments.order_by("pk"):
        if payment.provider not in settings.PAYMENT_PROVIDERS:
            # Taken off the shop since: nothing to call, and retrying would fail the same way.
            # Its trade expires at time_expire; a payment that still comes is refunded.
            log.warning(
                "trade %s of cancelled order %s not closed: %s is no longer configured",
                payment.reference, order_id, payment.provider,
            )  # fmt: skip
            continue
        try:
            outcome = gateway(payment.provider).close(payment=payment)
        except PaymentError as exc:
            left += 1
            log.warning("trade %s of cancelled order %s not closed: %s", payment.reference, order_id, exc.code)
        else:
            log.info("trade %s of cancelled order %s at the gateway: %s", payment.reference, order_id, outcome)
    if not left and pay_by is not None:
        # Until the trades would have expired anyway: the sweeper below need not close them again.
        cache.set(TRADES_CLOSED_KEY % order_id, True, max(int((pay_by - timezone.now()).total_seconds()), 0) + 300)
    return left


# Set once a cancelled order's trades are closed (or skipped); lost, a trade is closed again,
# which changes nothing at a gateway.
TRADES_CLOSED_KEY = "payments:trades-closed:%d"
# A trade started for an order is payable until the order's pay_by (Alipay's time_expire), at
# most ORDER_PAYMENT_MINUTES after its payment row was made; this much more, for clocks and a
# setting lowered since.
TRADES_SWEEP_MARGIN = timedelta(minutes=10)
# A sweep starts no close after this long: with a gateway timing out (10 s a call) a batch of 100
# would run for minutes while beat queues a sweep every minute, until they held every worker.
TRADES_SWEEP_SECONDS = 45


def payment_trades_sweep(*, now=None, limit: int = 100) -> dict[str, int]:
    """Close the trades whose close was lost: payment_trades_close_after_commit queues the task
    when a cancellation commits, and a broker down then (enqueue logs it and goes on) left the
    trade payable at its gateway until it expires. Finds cancelled orders still inside their
    payment window with a trade at a hosted gateway not known closed, at most `limit` (the
    oldest window first), and closes them now. Idempotent; run by beat every minute.

    Bounded: it reads only the payments made within the window (a backward walk of the primary
    key to the first older one), never the whole table, and it starts no close after
    TRADES_SWEEP_SECONDS. Precondition: no transaction open.
    Returns {"orders": orders closed, "left": trades that could not be closed now}."""
    now = now or timezone.now()
    since = now - timedelta(minutes=settings.ORDER_PAYMENT_MINUTES) - TRADES_SWEEP_MARGIN
    older = Payment.objects.filter(created_at__lt=since).order_by("-pk").values_list("pk", flat=True).first()
    candidates = list(
        Payment.objects.filter(
            pk__gt=older or 0,
            state=Payment.State.CANCELLED,
            provider__in=HOSTED_GATEWAYS,
            order__status=Order.Status.CANCELLED,
            order__pay_by__gt=now,
        )
        .order_by("order__pay_by", "order_id")
        .values_list("order_id", flat=True)
        .distinct()[: limit * 10]
    )
    done = cache.get_many([TRADES_CLOSED_KEY % order_id for order_id in candidates])
    todo = [order_id for order_id in candidates if TRADES_CLOSED_KEY % order_id not in done][:limit]
    started, tried, left = monotonic(), 0, 0
    for order_id in todo:
        if monotonic() - started > TRADES_SWEEP_SECONDS:
            break  # the rest at the next sweep
        left += payment_trades_close(order_id=order_id)
        tried += 1
    return {"orders": tried, "left": left}
