"""Money is Decimal with two places, rounded half-up, built from strings, never floats."""

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

CENT = Decimal("0.01")


def money(value: Decimal | int | str) -> Decimal:
    """Quantize a value to the shop's two decimal places, half-up. Floats are refused."""
    if isinstance(value, float):
        raise TypeError("money() takes Decimal, int or str, never float")
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def currency() -> str:
    return settings.SHOP_CURRENCY


SYMBOLS = {"CNY": "¥", "USD": "$", "EUR": "€"}


def format_money(amount: Decimal | int | str | None) -> str:
    """¥1,234.50: the shop's currency symbol and two places."""
    if amount is None:
        return ""
    return f"{SYMBOLS.get(currency(), currency() + ' ')}{money(amount):,}"
