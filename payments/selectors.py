"""Reads of payments' records for pages."""

from payments.models import Wallet, WalletEntry


def wallet_of(*, user) -> Wallet | None:
    """The customer's wallet (every account has one; None only for one removed by hand)."""
    return Wallet.objects.filter(user=user).first()


def wallet_recent_entries(*, wallet: Wallet | None, limit: int = 5) -> list[WalletEntry]:
    """The newest entries of the ledger, newest first."""
    if wallet is None:
        return []
    return list(wallet.entries.order_by("-created_at", "-pk")[:limit])
