"""{{ address|address_line }}: an address on one line in the page's language (its province, city
and district in English on English pages). Works for an order's copy of the address too."""

from django import template

from shop.core.divisions import address_line as _address_line

register = template.Library()


@register.filter
def address_line(address) -> str:
    return _address_line(address)
