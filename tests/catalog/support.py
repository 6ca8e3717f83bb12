"""Helpers for the admin, image and import tests: real image bytes, and the data a browser
would post back from an admin change form."""

from html.parser import HTMLParser
from io import BytesIO

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (800, 600)) -> bytes:
    """A real image with some texture (noise), so encoders produce a realistic file."""
    buffer = BytesIO()
    picture = Image.effect_noise(size, 40).convert("RGB")
    picture.save(buffer, fmt)
    return buffer.getvalue()


def upload(name: str, data: bytes, content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


class _FormParser(HTMLParser):
    """Collects what a browser would submit from one <form>: inputs, checked boxes,
    selected options and textareas. Inline "empty form" templates (__prefix__) are kept
    apart so a test can add a row the way the admin's JavaScript does."""

    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.data: list[tuple[str, str]] = []
        self.templates: list[tuple[str, str]] = []
        self._select: str | None = None
        self._select_multiple = False
        self._select_chosen: list[str] = []
        self._textarea: str | None = None
        self._text: list[str] = []

    def _add(self, name: str, value: str) -> None:
        (self.templates if "__prefix__" in name else self.data).append((name, value))

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("id") == self.form_id:
            self.inside = True
            return
        if not self.inside:
            return
        name = attrs.get("name")
        if tag == "input" and name:
            kind = (attrs.get("type") or "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            self._add(name, attrs.get("value") or ("on" if kind == "checkbox" else ""))
        elif tag == "select" and name:
            self._select, self._select_multiple, self._select_chosen = name, "multiple" in attrs, []
            self._first_option: str | None = None
        elif tag == "option" and self._select is not None:
            value = attrs.get("value", "")
            if self._first_option is None:
                self._first_option = value
            if "selected" in attrs:
                self._select_chosen.append(value)
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []

    def handle_data(self, data):
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if not self.inside:
            return
        if tag == "form":
            self.inside = False
        elif tag == "select" and self._select is not None:
            chosen = self._select_chosen
            if not chosen and not self._select_multiple and self._first_option is not None:
                chosen = [self._first_option]
            for value in chosen:
                self._add(self._select, value)
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self._add(self._textarea, "".join(self._text).removeprefix("\n"))
            self._textarea = None


class AdminForm:
    """The post data of an admin change form as rendered, editable like a browser."""

    def __init__(self, html: str, form_id: str) -> None:
        parser = _FormParser(form_id)
        parser.feed(html)
        if not parser.data:
            raise AssertionError(f"no form #{form_id} on the page")
        self.templates = parser.templates
        self.data: dict[str, list[str]] = {}
        for name, value in parser.data:
            self.data.setdefault(name, []).append(value)

    def __getitem__(self, name: str) -> str:
        return self.data[name][0]

    def __setitem__(self, name: str, value) -> None:
        self.data[name] = value if isinstance(value, list) else [value]

    def add_inline_row(self, prefix: str, **values) -> int:
        """Append a new row to an inline (as "Add another" does); returns its index."""
        index = int(self[f"{prefix}-TOTAL_FORMS"])
        for name, value in self.templates:
            if name.startswith(f"{prefix}-__prefix__-"):
                self.data.setdefault(name.replace("__prefix__", str(index)), []).append(value)
        for field, value in values.items():
            self[f"{prefix}-{index}-{field}"] = value
        self[f"{prefix}-TOTAL_FORMS"] = str(index + 1)
        return index

    def post_data(self, **files) -> dict:
        data = {name: values if len(values) > 1 else values[0] for name, values in self.data.items()}
        data.update(files)
        return data
