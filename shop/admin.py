from axes.admin import AccessAttemptAdmin
from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from aftersales.services.staff import CUSTOMER_SERVICE_GROUP, FINANCE_GROUP, SUPERVISOR_GROUP
from catalog.selectors import DEPARTMENT_STAFF_GROUP
from catalog.services import CATALOGUE_MANAGER_GROUP
from fulfillment.services.staff import WAREHOUSE_GROUP
from shop.core.admin_site import contribute
from shop.models import User


class AccountCreationForm(AdminUserCreationForm):
    """A new account from its email: the email is the login, and the username (kept for
    Django's own pages) is the email too. Left empty, the second account added here would
    have collided with the first on the unique username."""

    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("email",)

    def save(self, commit=True):
        self.instance.email = User.objects.normalize_email(self.cleaned_data["email"])
        self.instance.username = self.instance.email
        return super().save(commit)


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
    add_form = AccountCreationForm
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")
    actions = ("deactivate",)

    # Superusers manage accounts: add and remove staff, assign roles (groups) and departments,
    # reset a password (the password field's link), deactivate. Other staff who may view users
    # (customer service, finance) read customers' pages only: never a staff account, never the
    # permissions, and never a change — a group's change_user would let its members make
    # themselves superusers.
    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.filter(is_staff=False, is_superuser=False)

    def get_inline_instances(self, request, obj=None):
        # A new account has no orders, wallet or requests yet: the add page is email and password.
        return super().get_inline_instances(request, obj) if obj is not None else []

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        # Roles and permissions are stored by name in English (Django writes "Can add <model>"
        # when it migrates; our roles are named in code): shown in the page's language.
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and db_field.name == "groups":
            field.label_from_instance = role_label
        elif field is not None and db_field.name == "user_permissions":
            field.label_from_instance = permission_label
        return field

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            return fieldsets
        return [(name, options) for name, options in fieldsets if name != _("Permissions")]

    def get_list_filter(self, request):
        return self.list_filter if request.user.is_superuser else ()

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    @admin.action(description=_("Deactivate selected accounts (they can no longer sign in)"), permissions=["change"])
    def deactivate(self, request, queryset) -> None:
        n = queryset.exclude(pk=request.user.pk).update(is_active=False)
        self.message_user(request, ngettext("%(n)d account deactivated.", "%(n)d accounts deactivated.", n) % {"n": n})


ROLES = {
    CATALOGUE_MANAGER_GROUP: _("Catalogue managers"),
    DEPARTMENT_STAFF_GROUP: _("Department staff"),
    CUSTOMER_SERVICE_GROUP: _("Customer service"),
    SUPERVISOR_GROUP: _("After-sales supervisors"),
    FINANCE_GROUP: _("Finance"),
    WAREHOUSE_GROUP: _("Warehouse staff"),
}
DEFAULT_PERMISSIONS = {
    "add": _("Can add %(model)s"),
    "change": _("Can change %(model)s"),
    "delete": _("Can delete %(model)s"),
    "view": _("Can view %(model)s"),
}


def role_label(group) -> str:
    return str(ROLES.get(group.name, group.name))


def permission_label(permission) -> str:
    """Django's "app | model | Can add model" with the permission's own words translated: a
    model's four default ones from its verbose name, our own (Meta.permissions) by their text."""
    content_type = permission.content_type
    model = content_type.model_class()
    action = permission.codename.partition("_")[0]
    if model is not None and permission.codename == f"{action}_{content_type.model}" and action in DEFAULT_PERMISSIONS:
        name = DEFAULT_PERMISSIONS[action] % {"model": model._meta.verbose_name}
    else:
        name = gettext(permission.name)
    return f"{content_type} | {name}"


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

    @admin.display(description=_("status"))  # the library's column has no translatable title
    def status(self, obj):
        return super().status(obj)


contribute(AccessAttempt, mixins=[LoginAttemptFixes])
