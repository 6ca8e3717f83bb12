"""Password validators: Django's, with a message its Chinese translation still lacks."""

from django.contrib.auth import password_validation
from django.utils.translation import gettext


class MinimumLengthValidator(password_validation.MinimumLengthValidator):
    """Django's minimum length, with its error message translated in our catalogue.

    Django 5.2 reworded the message ("…at least %d character(s)" instead of
    "…%(min_length)d…"), and the zh_Hans catalogue it ships still has only the old wording: the
    registration page showed this one message in English on Chinese pages. Our message id names
    the length (eight here, never one), so it needs no plural form."""

    def get_error_message(self) -> str:
        return gettext("This password is too short. It must contain at least %(min_length)d characters.") % {
            "min_length": self.min_length
        }
