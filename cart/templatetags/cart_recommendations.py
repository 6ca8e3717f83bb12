"""The cart's "bought together": what other customers paid for with the cart's products, from
the recommendations task's lists (the cart page's view stays as it is)."""

from django import template

from catalog.selectors import bought_together_with_any

register = template.Library()

CART_BOUGHT_TOGETHER_SIZE = 4


@register.inclusion_tag("catalog/partials/bought_together.html")
def cart_bought_together(summary) -> dict:
    """One query, whatever the number of lines; none for an empty cart."""
    product_ids = list(dict.fromkeys(line.variant.product_id for line in summary.lines))
    return {"products": bought_together_with_any(product_ids=product_ids, size=CART_BOUGHT_TOGETHER_SIZE)}
