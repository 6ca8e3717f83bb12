"""django-axes' app config, named for the admin (INSTALLED_APPS lists this instead of "axes").

Its own config has no verbose name, so the admin's index titled the login attempts "Axes", the
library's name, in both languages. Kept out of shop/apps.py: Django picks an app's config from
its apps module only when there is one candidate class."""

from axes.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LoginAttemptsConfig(AppConfig):
    verbose_name = _("Login attempts")
