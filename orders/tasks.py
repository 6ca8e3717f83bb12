"""Background work of orders: sending the outbox, sweeping it, cancelling unpaid orders."""

from smtplib import SMTPException

from celery import shared_task

from orders import services


@shared_task(acks_late=True, autoretry_for=(SMTPException, OSError), retry_backoff=True, max_retries=8)
def notification_send(notification_id: int) -> bool:
    return services.notification_deliver(notification_id=notification_id)  # no-op unless pending


@shared_task(acks_late=True)
def notification_sweep() -> int:
    return services.notification_sweep()


@shared_task(acks_late=True)
def cancel_expired_orders() -> int:
    return services.orders_cancel_expired()


@shared_task(acks_late=True)
def auto_confirm_orders() -> int:
    return services.orders_auto_confirm()


@shared_task(acks_late=True)
def recommendations_refresh() -> dict[str, int]:
    # Imported here: the computation reads the catalogue's and orders' tables, and only the
    # beat (or `manage.py recommendations_refresh`) needs it.
    from orders.recommendations import recommendations_refresh

    return recommendations_refresh()


@shared_task(acks_late=True)
def sales_count_refresh() -> dict[str, int]:
    # The products' 已售 from the sales rollup, away from the payment path (orders.sales_count).
    from orders.sales_count import sales_count_refresh

    return sales_count_refresh()
