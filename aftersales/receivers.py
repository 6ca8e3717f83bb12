"""Receivers of signals from lower apps: one line each, calling a service."""

from aftersales.services import invoices as invoice_services
from aftersales.services import reports as report_services
from aftersales.services import requests as request_services
from aftersales.services.staff import aftersales_groups_ensure


def refund_settled(sender, refund, **kwargs) -> None:
    request_services.refund_note_settled(refund=refund)


def ensure_staff_groups(sender, **kwargs) -> None:
    aftersales_groups_ensure()


def fill_daily_sales(sender, **kwargs) -> None:
    report_services.daily_sales_fill_if_empty()


def return_delivered(sender, shipment, **kwargs) -> None:
    request_services.aftersale_return_arrived(shipment=shipment)


def order_completed(sender, order, **kwargs) -> None:
    invoice_services.invoice_issue_on_completion(order=order)
