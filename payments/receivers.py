"""Receivers of signals from lower apps: one line each, calling a service."""

from payments import services


def capture_cash_on_delivery(sender, order, amount, reference, **kwargs) -> None:
    services.cod_collect(order_id=order.pk, amount=amount, reference=reference)
