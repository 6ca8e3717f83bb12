from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AftersalesConfig(AppConfig):
    name = "aftersales"
    verbose_name = _("After-sales")

    def ready(self) -> None:
        from django.contrib import admin

        from aftersales import receivers
        from aftersales.admin.reports import dashboard_install
        from aftersales.selectors.reviews import refunded_units_since
        from aftersales.services.invoices import invoice_attachments
        from aftersales.services.statement_documents import statement_attachments
        from fulfillment.signals import return_delivered
        from orders.models import Notification
        from orders.recommendations import recommendations_refunded_units_register
        from orders.services import notification_attachments_register
        from orders.signals import order_completed
        from payments.signals import refund_settled

        refund_settled.connect(receivers.refund_settled, dispatch_uid="aftersales-refund-settled")
        return_delivered.connect(receivers.return_delivered, dispatch_uid="aftersales-return-delivered")
        # A requested invoice is issued as its order completes; invoice mails carry the PDF.
        order_completed.connect(receivers.order_completed, dispatch_uid="aftersales-invoice-on-completion")
        notification_attachments_register(Notification.Kind.INVOICE_ISSUED, invoice_attachments)
        notification_attachments_register(Notification.Kind.INVOICE_RED, invoice_attachments)
        # "Bought together" leaves out lines refunded in full (refund notes are ours).
        recommendations_refunded_units_register(refunded_units_since)
        # A confirmed statement goes to the department's contact with its PDF and XLSX.
        notification_attachments_register(Notification.Kind.STATEMENT_CONFIRMED, statement_attachments)
        # After every migrate (the after-sales permissions exist by then): the staff groups.
        post_migrate.connect(receivers.ensure_staff_groups, sender=self, dispatch_uid="aftersales-staff-groups")
        # The sales rollup, built once from the orders when it is empty (its first deployment).
        post_migrate.connect(receivers.fill_daily_sales, sender=self, dispatch_uid="aftersales-daily-sales")
        # The admin's first page is the dashboard (the site's index hook, shop.core.admin_site).
        dashboard_install(admin.site)
