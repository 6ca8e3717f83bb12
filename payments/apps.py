from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = _("Payments")

    def ready(self) -> None:
        from django.conf import settings
        from django.db.models.signals import post_save

        from orders.signals import cod_collected, order_released
        from payments import receivers

        cod_collected.connect(receivers.capture_cash_on_delivery, dispatch_uid="payments-capture-cod")
        # Sent by orders when an unpaid order is cancelled: its open gateway payments are cancelled.
        order_released.connect(receivers.cancel_open_payments, dispatch_uid="payments-cancel-open")
        # ... and, once that commits, their trades are closed at the gateway too (a task, retried).
        order_released.connect(receivers.close_open_trades, dispatch_uid="payments-close-trades")
        # Every account has a wallet from the start, whichever way it is made (registration,
        # the admin's add page, createsuperuser, the demo): staff find it on the customer's page
        # and can top it up before any payment has tried it.
        post_save.connect(receivers.open_wallet, sender=settings.AUTH_USER_MODEL, dispatch_uid="payments-open-wallet")
