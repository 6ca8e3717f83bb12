"""What the order page (orders' template) offers that cart provides: orders cannot import cart,
so the page asks through this tag library."""

from django import template

from cart.services import order_address_changeable

register = template.Library()


@register.simple_tag
def address_changeable(order) -> bool:
    """Whether the customer may still change the order's delivery address (not yet packed)."""
    return order_address_changeable(order=order)
