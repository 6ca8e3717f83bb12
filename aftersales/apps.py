from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AftersalesConfig(AppConfig):
    name = "aftersales"
    verbose_name = _("After-sales")

    def ready(self) -> None:
        from aftersales import receivers
        from fulfillment.signals import return_delivered
        from payments.signals import refund_settled

        refund_settled.connect(receivers.refund_settled, dispatch_uid="aftersales-refund-settled")
        return_delivered.connect(receivers.return_delivered, dispatch_uid="aftersales-return-delivered")
        # After every migrate (the after-sales permissions exist by then): the staff groups.
        post_migrate.connect(receivers.ensure_staff_groups, sender=self, dispatch_uid="aftersales-staff-groups")
