"""Forms of the catalogue's back office: a product's specifications edited as rows.

Specifications are stored on the product as a JSON list of {"name", "name_en", "value",
"value_en"} rows (one column, so the product page needs no extra query); staff see them as a
table of four text boxes per row instead of raw JSON.
"""

from django import forms
from django.core.validators import ProhibitNullCharactersValidator
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from catalog.models import SPEC_KEYS, spec_rows

SPEC_MAX_ROWS = 60  # a posted row count is capped: the form never builds more
SPEC_BLANK_ROWS = 3  # empty rows under the filled ones, for new specifications
SPEC_MAX_LENGTH = 200


class SpecificationsWidget(forms.Widget):
    """A table: label and value in Chinese and in English, one row per specification, with a
    few empty rows to add more; "Add a row" (static/shop/admin-specs.js) appends more without a
    save. Without the script, saving gives three new empty rows."""

    class Media:
        js = ("shop/admin-specs.js",)
        css = {"all": ("shop/admin-specs.css",)}

    def format_value(self, value):
        return spec_rows(value)

    def render(self, name, value, attrs=None, renderer=None):
        rows = [*spec_rows(value), *({key: "" for key in SPEC_KEYS} for _ in range(SPEC_BLANK_ROWS))]
        labels = (_("Label"), _("English label"), _("Value"), _("English value"))
        head = format_html_join("", "<th>{}</th>", ((label,) for label in labels))

        def cell(i: int, key: str, text: str, label) -> str:
            return format_html(
                '<td><input type="text" name="{}-{}-{}" value="{}" maxlength="{}" aria-label="{} {}"{}></td>',
                name, i, key, text, SPEC_MAX_LENGTH, label, i + 1, " lang=en" if key.endswith("_en") else "",
            )  # fmt: skip

        columns = list(zip(SPEC_KEYS, labels, strict=True))
        trs = (
            "<tr>" + "".join(cell(i, key, row[key], label) for key, label in columns) + "</tr>"
            for i, row in enumerate(rows)
        )
        body = mark_safe("".join(trs))  # noqa: S308 - every cell is built by format_html
        table_id = (attrs or {}).get("id", f"id_{name}")
        return format_html(
            '<table class="spec-rows" id="{}"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>'
            '<input type="hidden" name="{}-rows" value="{}">'
            '<p><button type="button" class="spec-add" data-table="{}" data-rows="{}-rows" data-max="{}" hidden>'
            "{}</button></p>",
            table_id, head, body, name, len(rows), table_id, name, SPEC_MAX_ROWS, _("Add a row"),
        )  # fmt: skip

    def value_from_datadict(self, data, files, name):
        try:
            count = min(int(data.get(f"{name}-rows", 0)), SPEC_MAX_ROWS)
        except (TypeError, ValueError):
            count = 0
        return [{key: data.get(f"{name}-{i}-{key}", "") for key in SPEC_KEYS} for i in range(max(count, 0))]

    def value_omitted_from_data(self, data, files, name):
        return f"{name}-rows" not in data


class SpecificationsField(forms.Field):
    """Cleans the rows: blank rows dropped, text stripped; a row needs its Chinese label and
    value (the shop's language, shown whenever the English is missing)."""

    widget = SpecificationsWidget

    def to_python(self, value):
        rows = []
        for row in spec_rows(value):
            row = {key: " ".join(text.split()) for key, text in row.items()}
            if any(row.values()):
                rows.append(row)
        return rows

    def validate(self, value) -> None:
        super().validate(value)
        # The admin's posted rows are capped by the widget, an imported cell (catalog.resources)
        # is not: the same rules hold for both.
        if len(value) > SPEC_MAX_ROWS:
            raise forms.ValidationError(
                _("At most %(max)d specification rows."), params={"max": SPEC_MAX_ROWS}, code="rows"
            )
        for n, row in enumerate(value, start=1):
            for text in row.values():
                # PostgreSQL's jsonb refuses a NUL: an import would fail at the database instead.
                ProhibitNullCharactersValidator()(text)
            if not row["name"] or not row["value"]:
                raise forms.ValidationError(
                    _("Specification row %(n)d needs its label and value in Chinese."), params={"n": n}, code="chinese"
                )
            if any(len(text) > SPEC_MAX_LENGTH for text in row.values()):
                raise forms.ValidationError(
                    _("Specification row %(n)d is too long (at most %(max)d characters a box)."),
                    params={"n": n, "max": SPEC_MAX_LENGTH},
                    code="length",
                )

    def has_changed(self, initial, data) -> bool:
        return spec_rows(initial) != self.to_python(data)


class ProductAdminForm(forms.ModelForm):
    specifications = SpecificationsField(label=_("specifications"), required=False)
