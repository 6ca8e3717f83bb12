"""The order page's invoice block (orders never imports aftersales): the invoice asked for or
issued, its red invoices, and the link to ask for one."""

from django import template

from aftersales.models import Invoice
from aftersales.services.invoices import REQUESTABLE

register = template.Library()


@register.inclusion_tag("aftersales/invoices/order_block.html")
def order_invoices(order) -> dict:
    invoices = list(Invoice.objects.filter(order=order).select_related("original").order_by("pk"))
    blue = next((x for x in invoices if x.kind == Invoice.Kind.BLUE), None)
    reds = [x for x in invoices if x.kind == Invoice.Kind.RED]
    for red in reds:
        red.credited = -red.amount  # shown as "-¥12.00"
    return {
        "order": order,
        "blue": blue,
        "reds": reds,
        "can_request": order.status in REQUESTABLE and (blue is None or blue.state == Invoice.State.REQUESTED),
    }
