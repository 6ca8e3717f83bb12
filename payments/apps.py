from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = _("Payments")

    def ready(self) -> None:
        from orders.signals import cod_collected
        from payments import receivers

        cod_collected.connect(receivers.capture_cash_on_delivery, dispatch_uid="payments-capture-cod")
