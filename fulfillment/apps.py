from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class FulfillmentConfig(AppConfig):
    name = "fulfillment"
    verbose_name = _("Fulfillment")

    def ready(self) -> None:
        from fulfillment import receivers
        from orders.signals import cod_withdrawn, order_paid, order_released

        order_released.connect(receivers.release_stock, dispatch_uid="fulfillment-release-stock")
        order_paid.connect(receivers.create_shipments, dispatch_uid="fulfillment-create-shipments")
        cod_withdrawn.connect(receivers.stop_collecting_cash, dispatch_uid="fulfillment-stop-collecting-cash")
        # After every migrate (permissions exist by then): the warehouse staff group.
        post_migrate.connect(receivers.ensure_staff_groups, sender=self, dispatch_uid="fulfillment-staff-groups")
