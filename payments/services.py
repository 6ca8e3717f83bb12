"""Taking money: starting payments, accepting gateway notifications, the wallet, cash on delivery.

Rules (DESIGN.md): a notification is accepted only if its signature, merchant id, payment,
amount and currency all match; accepting is idempotent (one capture, one transition, one mail
however often or however concurrently it arrives) and safe out of order (a late "failed" never
undoes "paid"); the browser's return never marks an order paid. Locks are taken order first,
then payment or wallet, everywhere, so concurrent paths cannot deadlock.
"""

import secrets
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orders.exceptions import OrderError
from orders.models import Order
from orders.services import order_mark_paid, order_record_method, order_transition
from orders.signals import cod_withdrawn
from payments.exceptions import PaymentError, PaymentErrorCode
from payments.models import GatewayNotification, Payment, Wallet, WalletEntry
from payments.providers import GatewayResult, gateway
from shop.core.money import format_money, money


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


def notification_accept(*, provider: str, data: dict[str, str]) -> Payment:
    """Verify and apply a gateway's notification. Returns the payment.

    Raises PaymentError when anything does not match; nothing changes then. Every notification
    is logged (GatewayNotification) whatever the outcome."""
    log = GatewayNotification.objects.create(provider=provider, payload=data)
    try:
        result = gateway(provider).verify(data)
        payment = _check(provider, result)
        payment = payment_apply(payment_id=payment.pk, result=result)
    except (PaymentError, OrderError) as exc:
        log.outcome = f"rejected: {exc.code}"
        log.save(update_fields=["outcome"])
        raise
    log.accepted = True
    log.outcome = f"{payment.reference}: {payment.state}"
    log.save(update_fields=["accepted", "outcome"])
    return payment


def _check(provider: str, result: GatewayResult) -> Payment:
    merchant = settings.ALIPAY["APP_ID"] if provider == "alipay" else settings.SANDBOX_GATEWAY["MERCHANT_ID"]
    if result.merchant_id != merchant:
        raise PaymentError(PaymentErrorCode.WRONG_MERCHANT)
    payment = Payment.objects.filter(provider=provider, reference=result.reference).first()
    if payment is None:
        raise PaymentError(PaymentErrorCode.UNKNOWN_PAYMENT)
    if money(result.amount) != payment.amount:
        raise PaymentError(PaymentErrorCode.AMOUNT_MISMATCH)
    if result.currency != payment.currency:
        raise PaymentError(PaymentErrorCode.CURRENCY_MISMATCH)
    return payment


def payment_apply(*, payment_id: int, result: GatewayResult) -> Payment:
    """Record a verified gateway outcome. Captures at most once; a failure after a capture is
    ignored. Marks the order paid in the same transaction."""
    with transaction.atomic():
        order_id = Payment.objects.values_list("order_id", flat=True).get(pk=payment_id)
        Order.objects.select_for_update().filter(pk=order_id).first()  # order first, then payment
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.state == Payment.State.CAPTURED or not result.succeeded:
            if not result.succeeded and payment.state == Payment.State.PENDING:
                payment.state = Payment.State.FAILED
                payment.save(update_fields=["state"])
            return payment
        payment.state = Payment.State.CAPTURED
        payment.transaction_id = result.transaction_id
        payment.captured_at = timezone.now()
        payment.save(update_fields=["state", "transaction_id", "captured_at"])
        cod_withdraw(order_id=order_id, paid_by=payment)
        # A capture for a cancelled order raises here and rolls the capture back: the gateway
        # keeps retrying, staff see the rejected notification and refund by hand.
        order_mark_paid(order_id=order_id, amount=payment.amount, reference=payment.reference, method=payment.provider)
    return payment


# -- wallet ---------------------------------------------------------------------------------


def wallet_for(user) -> Wallet:
    wallet, _created = Wallet.objects.get_or_create(user=user)
    return wallet


def _wallet_post(*, user, amount: Decimal, reason: str, reference: str = "", note: str = "", actor=None) -> WalletEntry:
    """Add a ledger entry and move the balance with it. Precondition: in a transaction.

    Raises PaymentError(INSUFFICIENT_BALANCE) when a debit would go below zero."""
    wallet_for(user)
    wallet = Wallet.objects.select_for_update().get(user=user)
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
    )


@transaction.atomic
def wallet_adjust(*, user, amount: Decimal, note: str, actor) -> WalletEntry:
    """A staff adjustment (credit or debit), which must give a reason. Raises PaymentError."""
    if not note.strip():
        raise PaymentError(PaymentErrorCode.REASON_REQUIRED)
    return _wallet_post(
        user=user, amount=money(amount), reason=WalletEntry.Reason.ADJUSTMENT, note=note.strip(), actor=actor
    )


@transaction.atomic
def wallet_top_up(*, user, amount: Decimal, reference: str) -> WalletEntry:
    return _wallet_post(user=user, amount=money(amount), reason=WalletEntry.Reason.TOP_UP, reference=reference)


def wallet_pay(*, order_id: int, user) -> Payment:
    """Pay an order from the customer's wallet, at once. Idempotent for a paid order.

    Raises PaymentError(INSUFFICIENT_BALANCE or NOT_PAYABLE)."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id, customer=user)
        captured = order.payments.filter(state=Payment.State.CAPTURED).first()
        if captured is not None:
            return captured
        if not order.is_payable:
            raise PaymentError(PaymentErrorCode.NOT_PAYABLE)
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
        order_mark_paid(
            order_id=order.pk, amount=order.total, reference=reference, actor_kind="customer", method="wallet"
        )
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
    return payment
