"""The account page's block of open stock alerts, loaded by its own partial so that the
account view needs no change (catalog/partials/account_stock_alerts.html)."""

from django import template

from catalog.selectors import stock_alerts_open

register = template.Library()


@register.simple_tag
def open_stock_alerts(customer) -> list:
    if not getattr(customer, "is_authenticated", False):
        return []
    return stock_alerts_open(customer=customer)
