"""Receivers of signals from lower apps: one line each, calling a service."""

from fulfillment import services


def release_stock(sender, order, **kwargs) -> None:
    services.stock_release(order=order)


def create_shipments(sender, order, **kwargs) -> None:
    services.shipments_create(order=order)


def stop_collecting_cash(sender, order, **kwargs) -> None:
    services.shipments_cod_withdraw(order=order)


def ensure_staff_groups(sender, **kwargs) -> None:
    services.staff_groups_ensure()
