"""Customer forms of after-sales: a new request, an appeal, a message, the return's parcel.

They parse and bound the input only; what may be asked (kinds, reasons, units, windows, photos)
is decided by aftersales.services.requests, which re-checks everything on submit.
"""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from aftersales.models import AfterSale, Invoice


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files from one <input type=file multiple> (Django's documented pattern)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/jpeg,image/png,image/webp,image/gif"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [f for f in (single(d, initial) for d in data) if f]
        cleaned = single(data, initial)
        return [cleaned] if cleaned else []


class RequestForm(forms.Form):
    """A new request on an order, shaped by its eligibility: the kinds possible now, a units
    field per line that may still be asked for (at most what is available), the reasons those
    kinds allow and, for an exchange, the option wanted instead."""

    kind = forms.ChoiceField(label=_("What do you need?"), widget=forms.RadioSelect)
    reason = forms.ChoiceField(label=_("Reason"))
    description = forms.CharField(
        label=_("Problem description"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": 1000}),
        help_text=_("What is wrong, in a few words (not needed to cancel, nor for a no-reason return)."),
    )
    photos = MultipleFileField(label=_("Photos"), required=False)
    refund_to = forms.ChoiceField(
        label=_("Refund to"),
        choices=AfterSale.RefundTo.choices,
        initial=AfterSale.RefundTo.ORIGINAL,
        required=False,  # an exchange refunds nothing; unset means the original method
        widget=forms.RadioSelect,
    )

    def __init__(self, eligibility, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.eligibility = eligibility
        self.fields["kind"].choices = [(k, AfterSale.Kind(k).label) for k in eligibility.kinds]
        # Each reason with the kinds it is offered for (the page's script shows the ones that fit
        # the chosen kind; the service refuses any other).
        reason_kinds: dict[str, set[str]] = {}
        for line in eligibility.lines:
            for kind, reasons in line.reasons.items():
                for reason in reasons:
                    reason_kinds.setdefault(reason, set()).add(kind)
        self.reason_options = [
            (value, label, " ".join(sorted(reason_kinds[value])))
            for value, label in AfterSale.Reason.choices
            if value in reason_kinds
        ]
        self.fields["reason"].choices = [(value, label) for value, label, _kinds in self.reason_options]
        self.max_photos = settings.AFTERSALES_MAX_PHOTOS
        self.fields["photos"].help_text = _("Up to %(n)d photos (JPEG, PNG, WebP or GIF).") % {"n": self.max_photos}
        self.fields["photos"].widget.attrs["data-max"] = self.max_photos
        self.line_rows = []
        for line in eligibility.lines:
            row = {"line": line, "quantity": None, "exchange": None}
            if line.available > 0 and line.kinds:
                name = f"qty_{line.line_id}"
                self.fields[name] = forms.IntegerField(
                    label=_("Units"),
                    min_value=0,
                    max_value=line.available,
                    initial=0,
                    required=False,
                    widget=forms.NumberInput(attrs={"class": "qty-input"}),
                )
                row["quantity"] = name
                if AfterSale.Kind.EXCHANGE in line.kinds and line.exchange_options:
                    name = f"exchange_{line.line_id}"
                    self.fields[name] = forms.TypedChoiceField(
                        label=_("Exchange for"),
                        choices=[("", "—"), *((str(v), label) for v, label in line.exchange_options)],
                        coerce=int,
                        empty_value=None,
                        required=False,
                    )
                    row["exchange"] = name
            self.line_rows.append(row)

    def rows(self):
        """(line eligibility, bound units field or None, bound exchange field or None) per line."""
        return [
            (
                row["line"],
                self[row["quantity"]] if row["quantity"] else None,
                self[row["exchange"]] if row["exchange"] else None,
            )
            for row in self.line_rows
        ]

    def quantities(self) -> dict[int, int]:
        return {
            row["line"].line_id: self.cleaned_data[row["quantity"]]
            for row in self.line_rows
            if row["quantity"] and self.cleaned_data.get(row["quantity"])
        }

    def exchange_variants(self) -> dict[int, int]:
        wanted = self.quantities()
        return {
            row["line"].line_id: self.cleaned_data[row["exchange"]]
            for row in self.line_rows
            if row["exchange"] and row["line"].line_id in wanted and self.cleaned_data.get(row["exchange"])
        }


class AppealForm(forms.Form):
    text = forms.CharField(
        label=_("Why should a supervisor look again?"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": 500}),
    )


class MessageForm(forms.Form):
    body = forms.CharField(
        label=_("Message to the shop"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": 1000}),
    )


class ReturnShipmentForm(forms.Form):
    carrier = forms.ChoiceField(label=_("Carrier"))
    tracking_number = forms.CharField(label=_("Tracking number"), max_length=64, required=False)

    def __init__(self, *args, carriers: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["carrier"].choices = carriers
        if any(code == "express" for code, _label in carriers):
            self.fields["tracking_number"].help_text = _(
                "With Express you may leave it empty: the carrier then issues a return waybill for you."
            )


class InvoiceRequestForm(forms.Form):
    """An electronic ordinary invoice's buyer. Parsed here, checked by
    aftersales.services.invoices.invoice_request (taxpayer ID and all), whose errors the view
    puts on their field."""

    title_type = forms.ChoiceField(
        label=_("Invoice for"), choices=Invoice.TitleType.choices, widget=forms.RadioSelect, initial="personal"
    )
    title = forms.CharField(
        label=_("Invoice title"),
        max_length=100,
        help_text=_("Your name, or the organisation's full registered name."),
    )
    taxpayer_id = forms.CharField(
        label=_("Taxpayer ID"),
        max_length=30,
        required=False,
        help_text=_("Organisations only: the 18-character unified social credit code."),
    )
    email = forms.EmailField(label=_("Email the invoice to"), required=False, max_length=254)
