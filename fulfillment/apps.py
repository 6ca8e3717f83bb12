from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class FulfillmentConfig(AppConfig):
    name = "fulfillment"
    verbose_name = _("Fulfillment")

    def ready(self) -> None:
        from fulfillment import receivers
        from orders.signals import order_paid, order_released

        order_released.connect(receivers.release_stock, dispatch_uid="fulfillment-release-stock")
        order_paid.connect(receivers.create_shipments, dispatch_uid="fulfillment-create-shipments")
        # After every migrate (permissions exist by then): the warehouse staff group.
        post_migrate.connect(receivers.ensure_staff_groups, sender=self, dispatch_uid="fulfillment-staff-groups")
