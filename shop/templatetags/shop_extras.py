"""Template helpers shared by every page: money and query-string building."""

from decimal import Decimal

from django import template
from django.http import QueryDict

from shop.core.money import format_money

register = template.Library()


@register.simple_tag
def price(amount: Decimal | None) -> str:
    return format_money(amount)


@register.simple_tag
def toggle_param(querystring: str, name: str, value) -> str:
    """The query string with `name=value` added, or removed if present; paging reset."""
    params = QueryDict(querystring, mutable=True)
    values = params.getlist(name)
    value = str(value)
    params.setlist(name, [v for v in values if v != value] if value in values else [*values, value])
    params.pop("page", None)
    return params.urlencode()


@register.simple_tag
def with_param(querystring: str, name: str, value) -> str:
    """The query string with `name` set to one value (used for sort and page links)."""
    params = QueryDict(querystring, mutable=True)
    params[name] = str(value)
    if name != "page":
        params.pop("page", None)
    return params.urlencode()
