"""The customer's wallet on their pages: {% wallet_summary request.user %} (the account page)."""

from django import template

from payments import selectors
from shop.core.money import format_money

register = template.Library()


@register.inclusion_tag("payments/partials/wallet_summary.html")
def wallet_summary(user, limit: int = 5) -> dict:
    """Balance and the newest entries (two queries)."""
    wallet = selectors.wallet_of(user=user)
    entries = [
        {
            "entry": entry,
            "credit": entry.amount > 0,
            # Signed by hand: format_money(-5) would read ¥-5.00.
            "amount": ("+" if entry.amount > 0 else "−") + format_money(abs(entry.amount)),
        }
        for entry in selectors.wallet_recent_entries(wallet=wallet, limit=limit)
    ]
    return {"balance": wallet.balance if wallet else 0, "entries": entries}
