from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ShopConfig(AppConfig):
    name = "shop"
    verbose_name = _("Shop")

    def ready(self) -> None:
        # Register every app's tasks now, so services can queue them by name
        # (shop.core.tasks.enqueue) in any process, not only in a worker.
        from shop.celery import app

        app.autodiscover_tasks(force=True)
