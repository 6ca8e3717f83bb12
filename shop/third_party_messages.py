"""Messages of installed libraries that ship no Simplified Chinese, marked here so that
`make messages` (makemessages --no-obsolete) keeps them in our catalogue, which Django reads
before any app's own: django-axes (8.3) has no zh_Hans, and its login attempts, access logs and
failures are on the admin site. Nothing imports this module; makemessages reads the file.

Django's own zh_Hans catalogue has gaps too: the minimum password length's message since 5.2 is
our validator's own message id (shop/accounts/validators.py); the admin's app list headers (read
by screen readers) are below. Its search icon's alt="Search" is written untranslated in Django's
own template."""

from django.utils.translation import gettext_noop as _

AXES = (
    # The models and their fields (axes/models.py).
    _("access attempt"),
    _("access attempts"),
    _("access attempt expiration"),
    _("access attempt expirations"),
    _("access failure"),
    _("access failures"),
    _("access log"),
    _("access logs"),
    _("Access Attempt"),
    _("Access lock out"),
    _("Attempt Time"),
    _("Expires At"),
    _("The time when access attempt expires and is no longer valid."),
    _("Failed Logins"),
    _("GET Data"),
    _("POST Data"),
    _("HTTP Accept"),
    _("IP Address"),
    _("Logout Time"),
    _("Path"),
    _("Session key hash (sha256)"),
    _("User Agent"),
    _("Username"),
    # Its admin (axes/admin.py).
    _("Attempt Remaining"),
    _("Clean up expired attempts"),
    _("Form Data"),
    _("Locked Out"),
    _("Meta Data"),
    _("Not set"),
    # Its lockout messages (axes/conf.py), should its own response ever be shown.
    _("Account locked: too many login attempts. Please try again later."),
    _("Account locked: too many login attempts. Contact an admin to unlock your account."),
)

DJANGO_ADMIN = (
    # admin/app_list.html (Django 5.1+): the index's and the sidebar's table headers.
    _("Model name"),
    _("Add link"),
    _("Change or view list link"),
)
