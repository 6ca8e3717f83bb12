"""Base class for domain errors: each app's exceptions.py derives a coded error from it."""

from enum import StrEnum


class ShopError(Exception):
    """A rule was broken. `code` is a member of the app's error-code enum; `message` is
    translated text safe to show to the person who caused it."""

    messages: dict = {}

    # Positional-only, so that a message parameter may itself be called `code` (a coupon's).
    def __init__(self, code: StrEnum, message: str | None = None, /, **params: object) -> None:
        self.code = code
        template = message or self.messages.get(code, str(code))
        self.message = str(template) % params if params else str(template)
        super().__init__(self.message)
