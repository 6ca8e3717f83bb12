"""Shipping fees and insurance: by weight and region, free over a threshold (settings)."""

import math
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from orders.models import Order
from shop.core.money import money

LABELS = dict(Order.ShippingMethod.choices)


@dataclass(frozen=True)
class ShippingQuote:
    method: str
    label: str
    fee: Decimal
    days: str


def shipping_quote(*, method: str, weight_grams: int, province: str, goods: Decimal) -> ShippingQuote:
    """The fee for one method. Raises KeyError for an unknown method."""
    rule = settings.SHIPPING_METHODS[method]
    extra_kg = max(0, math.ceil(weight_grams / 1000) - 1)
    fee = Decimal(rule["base"]) + Decimal(rule["per_kg"]) * extra_kg
    if province and any(province.startswith(p) for p in settings.SHIPPING_REMOTE_PROVINCES):
        fee += Decimal(settings.SHIPPING_REMOTE_SURCHARGE)
    elif rule["free_over"] is not None and goods >= Decimal(rule["free_over"]):
        fee = Decimal(0)
    return ShippingQuote(method=method, label=str(LABELS.get(method, method)), fee=money(fee), days=rule["days"])


def shipping_quotes(*, weight_grams: int, province: str, goods: Decimal) -> list[ShippingQuote]:
    return [
        shipping_quote(method=m, weight_grams=weight_grams, province=province, goods=goods)
        for m in settings.SHIPPING_METHODS
    ]


def insurance_fee(goods: Decimal) -> Decimal:
    return max(money(goods * Decimal(settings.SHIPPING_INSURANCE_RATE)), Decimal(settings.SHIPPING_INSURANCE_MIN))
