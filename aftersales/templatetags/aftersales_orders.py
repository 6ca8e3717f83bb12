"""The order page shows each line's after-sales requests and what the customer may ask next
through these tags, so orders never imports aftersales (DESIGN.md)."""

from django import template

from aftersales.selectors import requests as selectors
from aftersales.services import requests as request_services
from orders.models import Order

register = template.Library()

# Orders that can have had an after-sales request, and those that can still have a new one (a
# closed order was refunded in full: nothing is left to ask for, so nothing is computed).
AFTER_PAYMENT = (Order.Status.PAID, Order.Status.SHIPPED, Order.Status.COMPLETED, Order.Status.CLOSED)
OPEN_TO_REQUESTS = (Order.Status.PAID, Order.Status.SHIPPED, Order.Status.COMPLETED)


@register.simple_tag
def order_aftersales(order) -> dict:
    """{"states": {order line id: [requests, newest first]}, "eligibility": Eligibility | None},
    computed once per page: `{% order_aftersales order as aftersales %}`."""
    if order.status not in AFTER_PAYMENT:
        return {"order_number": order.number, "states": {}, "eligibility": None, "claims": []}
    return {
        "order_number": order.number,
        "states": selectors.order_line_states(order=order),
        "eligibility": request_services.aftersale_eligibility(order=order)
        if order.status in OPEN_TO_REQUESTS
        else None,
        "claims": selectors.order_claims(order=order) if order.insured else [],
    }


@register.inclusion_tag("aftersales/partials/line_state.html")
def line_aftersales(aftersales: dict, line) -> dict:
    """One line's latest request (status, link) and, when it may be asked for, a link to the form."""
    requests = aftersales["states"].get(line.pk, [])
    eligibility = aftersales["eligibility"]
    line_eligibility = eligibility.line(line.pk) if eligibility else None
    return {
        "order_number": aftersales["order_number"],
        "line": line,
        "latest": requests[0] if requests else None,
        "count": len(requests),
        "can_ask": bool(line_eligibility and line_eligibility.kinds and line_eligibility.available > 0),
    }


@register.inclusion_tag("aftersales/partials/order_actions.html")
def order_aftersales_actions(order, aftersales: dict) -> dict:
    """The order's after-sales buttons: cancel items (paid, nothing shipped) and after-sales."""
    eligibility = aftersales["eligibility"]
    kinds = eligibility.kinds if eligibility else []
    return {
        "order": order,
        "eligibility": eligibility,
        "can_cancel": "cancel" in kinds,
        "can_ask": any(k != "cancel" for k in kinds),
        "whole_order_cancel": bool(eligibility and eligibility.whole_order_cancel),
        "no_reason_until": eligibility.no_reason_until
        if eligibility and any(line.no_reason for line in eligibility.lines)
        else None,
        "has_requests": any(aftersales["states"].values()),
        "claims": aftersales["claims"],
    }
