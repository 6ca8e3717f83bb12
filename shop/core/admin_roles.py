"""Staff roles are permission groups, each kept by its app's post_migrate receiver."""

from django.contrib.auth.models import Group, Permission


def group_ensure(*, name: str, permissions: list[str]) -> Group:
    """Create the group `name` or correct it to hold exactly `permissions` ("app.codename";
    those not created yet are skipped, so run it again once they are)."""
    group, _created = Group.objects.get_or_create(name=name)
    wanted = []
    for permission in permissions:
        app_label, codename = permission.split(".")
        wanted.extend(Permission.objects.filter(content_type__app_label=app_label, codename=codename))
    group.permissions.set(wanted)
    return group
