from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FulfillmentConfig(AppConfig):
    name = "fulfillment"
    verbose_name = _("Fulfillment")

    def ready(self) -> None:
        from fulfillment import receivers
        from orders.signals import order_released

        order_released.connect(receivers.release_stock, dispatch_uid="fulfillment-release-stock")
