"""Receivers of signals from lower apps: one line each, calling a service."""

from payments import services


def capture_cash_on_delivery(sender, order, amount, reference, **kwargs) -> None:
    services.cod_collect(order_id=order.pk, amount=amount, reference=reference)


def cancel_open_payments(sender, order, **kwargs) -> None:
    services.payments_cancel_open(order_id=order.pk)


def close_open_trades(sender, order, **kwargs) -> None:
    services.payment_trades_close_after_commit(order_id=order.pk)


def open_wallet(sender, instance, created, raw=False, **kwargs) -> None:
    if created and not raw:  # not while loading fixtures: their wallets come with them
        services.wallet_open(user_id=instance.pk)
