"""Reads of payments' records for pages."""

from django.db.models import Exists, OuterRef

from orders.models import Order
from payments.models import Payment, Wallet, WalletEntry


def wallet_of(*, user) -> Wallet | None:
    """The customer's wallet (every account has one; None only for one removed by hand)."""
    return Wallet.objects.filter(user=user).first()


def wallet_recent_entries(*, wallet: Wallet | None, limit: int = 5) -> list[WalletEntry]:
    """The newest entries of the ledger, newest first."""
    if wallet is None:
        return []
    return list(wallet.entries.order_by("-created_at", "-pk")[:limit])


def cod_due_exists() -> Exists:
    """For an Order queryset: whether the order has cash still to collect on delivery (accepted
    for cash on delivery, the courier has not collected yet). An order of 0 has none, and one
    paid online meanwhile has its cash-on-delivery payment withdrawn."""
    return Exists(
        Payment.objects.filter(
            order=OuterRef("pk"),
            provider="cod",
            purpose=Payment.Purpose.ORDER,
            state=Payment.State.AWAITING_COLLECTION,
        )
    )


def cod_due_count(*, customer) -> int:
    """How many of the customer's orders not yet delivered have cash still to collect on
    delivery: those checkout counts (cart.services.checkout_check_unpaid_caps). A delivered one
    whose collection is left for staff (it did not match) no longer risks a refused parcel."""
    return Payment.objects.filter(
        order__customer=customer,
        order__status__in=(Order.Status.PAID, Order.Status.SHIPPED),
        provider="cod",
        purpose=Payment.Purpose.ORDER,
        state=Payment.State.AWAITING_COLLECTION,
    ).count()
