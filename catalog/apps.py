from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = _("Catalogue")

    def ready(self) -> None:
        from catalog import receivers

        receivers.connect()
        # After every migrate (permissions exist by then): catalogue managers, department staff.
        post_migrate.connect(receivers.ensure_staff_groups, sender=self, dispatch_uid="catalog-staff-groups")
