from axes.admin import AccessAttemptAdmin
from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _

from shop.core.admin_site import contribute
from shop.models import User


@admin.register(User)
class CustomerAdmin(UserAdmin):
    """用户信息管理, and staff accounts. Orders, payments and after-sales add their inlines and
    the links staff follow from a customer's page (``contribute(User, …)`` in their admin
    modules; shop.core.admin_site composes the class that runs)."""

    ordering = ("-date_joined",)
    list_display = ("email", "first_name", "last_name", "phone", "is_staff", "date_joined")
    search_fields = ("email", "first_name", "last_name", "phone")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "phone", "language")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


class LoginAttemptFixes:
    """Contributed to django-axes' list of failed logins (axes registers it): its clean-up
    action fixed and held to the delete permission (the library offers it to anyone who may
    view the list)."""

    actions = ["cleanup_expired_attempts"]

    @admin.action(description=AccessAttemptAdmin.cleanup_expired_attempts.short_description, permissions=["delete"])
    def cleanup_expired_attempts(self, request, queryset):
        # django-axes 8.3 reads the time from attributes its handler sets on a login request only;
        # without them the action answers 500.
        AxesProxyHandler.update_request(request)
        return super().cleanup_expired_attempts(request, queryset)


contribute(AccessAttempt, mixins=[LoginAttemptFixes])
