"""The order page shows its parcels through this tag, so orders never imports fulfillment."""

from django import template

from fulfillment.selectors import parcels_of

register = template.Library()


@register.inclusion_tag("fulfillment/partials/parcels.html")
def order_parcels(order, full: bool = False):
    return {"order": order, "parcels": parcels_of(order), "full": full}
