"""Receivers of signals from lower apps: one line each, calling a service."""

from fulfillment import services


def release_stock(sender, order, **kwargs) -> None:
    services.stock_release(order=order)
