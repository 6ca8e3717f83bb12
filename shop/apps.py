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

        # Admin labels for fields other apps declared without a verbose name (no migration).
        from shop.admin_labels import field_labels_apply

        field_labels_apply()

        # The admin log (管理员日志): its page, and its mixin on every ModelAdmin the site composes
        # (the site composes lazily, on first use, so this may come after the apps' admin modules).
        from django.contrib import admin

        from shop import adminlog_admin  # noqa: F401 - registers the log's page
        from shop.adminlog import AdminLogMixin, password_changed

        if AdminLogMixin not in admin.site.model_admin_mixins:
            admin.site.model_admin_mixins.insert(0, AdminLogMixin)
        if password_changed not in admin.site.password_change_listeners:
            admin.site.password_change_listeners.append(password_changed)
