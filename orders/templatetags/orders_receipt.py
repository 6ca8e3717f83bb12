"""The order page's receipt box: when receipt is (or was) confirmed automatically."""

from django import template

from orders.selectors import order_auto_confirm_at

register = template.Library()


@register.simple_tag
def auto_confirm_at(order):
    """`{% auto_confirm_at order as when %}`: a datetime, or None."""
    return order_auto_confirm_at(order)
