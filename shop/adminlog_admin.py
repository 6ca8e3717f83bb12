"""The admin log's page (管理员日志): superusers only, read only. Filters by staff member, date,
object type, kind and action; search by the object's name (or id)."""

from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from shop.models import AdminLogEntry


class ActionFilter(admin.SimpleListFilter):
    """The actions the log holds (add, change, ship, approve, adjust…), read from the log."""

    title = _("action")
    parameter_name = "action"

    def lookups(self, request, model_admin):
        names = AdminLogEntry.objects.order_by("action").values_list("action", flat=True).distinct()
        return [(name, name) for name in names]

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() else queryset


@admin.register(AdminLogEntry)
class AdminLogEntryAdmin(admin.ModelAdmin):
    list_display = ("at", "actor_email", "ip", "kind", "action", "content_type", "object_link", "changed_fields")
    list_filter = (
        ("actor", admin.RelatedOnlyFieldListFilter),
        ("at", admin.DateFieldListFilter),
        ("content_type", admin.RelatedOnlyFieldListFilter),
        "kind",
        ActionFilter,
    )
    search_fields = ("object_repr", "=object_pk")
    date_hierarchy = "at"
    list_select_related = ("content_type",)
    show_full_result_count = False
    actions = None
    fields = (
        "at", "actor", "actor_email", "ip", "kind", "action", "content_type", "object_pk", "object_link",
        "changes_table", "note", "path",
    )  # fmt: skip
    readonly_fields = fields

    # Superusers only, and nobody writes: no add, change or delete, whatever permissions say.
    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("object"), ordering="object_repr")
    def object_link(self, obj: AdminLogEntry) -> str:
        ct = obj.content_type
        try:
            url = reverse(f"admin:{ct.app_label}_{ct.model}_change", args=[obj.object_pk])
        except NoReverseMatch:
            return obj.object_repr
        return format_html('<a href="{}">{}</a>', url, obj.object_repr)

    @admin.display(description=_("fields changed"))
    def changed_fields(self, obj: AdminLogEntry) -> str:
        names = list(obj.changes)
        return ", ".join(names[:6]) + (" …" if len(names) > 6 else "")

    @admin.display(description=_("changes"))
    def changes_table(self, obj: AdminLogEntry) -> str:
        if not obj.changes:
            return _("No field changed.")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((name, _shown(values[0]), _shown(values[1])) for name, values in obj.changes.items()),
        )
        return format_html(
            '<table class="adminlog-changes"><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            _("field"),
            _("before"),
            _("after"),
            rows,
        )


def _shown(value) -> str:
    return "—" if value is None else str(value)
