from decimal import Decimal

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from orders.models import Order
from shop.core.divisions import address_line
from shop.core.money import format_money


class OptionsRadioSelect(forms.RadioSelect):
    """Radio buttons of which some are shown but cannot be chosen (`disabled` values)."""

    def __init__(self, *args, disabled=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.disabled = set(disabled)

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        if value in self.disabled:
            option["attrs"]["disabled"] = True
        return option


def wallet_short_message(*, balance: Decimal, total: Decimal) -> str:
    return _("Your wallet balance (%(balance)s) is less than the order total (%(total)s).") % {
        "balance": format_money(balance),
        "total": format_money(total),
    }


class CheckoutForm(forms.Form):
    address = forms.TypedChoiceField(label=_("Deliver to"), coerce=int, widget=forms.RadioSelect)
    shipping_method = forms.ChoiceField(label=_("Shipping"), widget=forms.RadioSelect)
    insured = forms.BooleanField(label=_("Insure the parcel"), required=False)
    payment_method = forms.ChoiceField(label=_("Payment"), widget=OptionsRadioSelect)
    note = forms.CharField(label=_("Note to the shop"), required=False, max_length=200)

    def __init__(
        self, *args, addresses, quotes, wallet_balance=None, least_total=None, shipping_initial="standard", **kwargs
    ) -> None:
        """`wallet_balance`: the customer's; `least_total`: what this cart costs at the least
        (cheapest shipping, `shipping_initial`, no insurance). The wallet option shows the
        balance, and cannot be chosen when the balance is below that (the reason beside it)."""
        super().__init__(*args, **kwargs)
        self.fields["address"].choices = [(a.pk, f"{a.recipient} {a.phone} · {address_line(a)}") for a in addresses]
        default = next((a.pk for a in addresses if a.is_default), None)
        self.fields["address"].initial = default
        self.fields["shipping_method"].choices = [(q.method, q.label) for q in quotes]
        self.fields["shipping_method"].initial = shipping_initial
        choices = [c for c in Order.PaymentMethod.choices if c[0] in settings.PAYMENT_PROVIDERS]
        self.wallet_balance, self.wallet_short = wallet_balance, False
        if wallet_balance is not None:
            self.wallet_short = least_total is not None and wallet_balance < least_total
            choices = [
                (value, self._wallet_label(least_total) if value == "wallet" else label) for value, label in choices
            ]
        field = self.fields["payment_method"]
        field.choices = choices
        field.widget.disabled = {"wallet"} if self.wallet_short else set()
        usable = [m for m in settings.PAYMENT_PROVIDERS if m not in field.widget.disabled]
        # The wallet first when it covers the least total (it then completes the order with no
        # gateway to visit), else the first method offered.
        if wallet_balance is not None and "wallet" in usable:
            usable.insert(0, "wallet")
        field.initial = usable[0] if usable else settings.PAYMENT_PROVIDERS[0]

    def _options(self, name: str) -> list[tuple[str, str, bool, bool]]:
        """(value, label, checked, disabled) of a radio field, for the page's own loop: a
        fraction of what the widget's templates cost to render (the confirm page is hot)."""
        field = self.fields[name]
        current = str(self[name].value())
        disabled = getattr(field.widget, "disabled", set())
        return [(str(value), label, str(value) == current, value in disabled) for value, label in field.choices]

    @property
    def address_options(self):
        return self._options("address")

    @property
    def payment_options(self):
        return self._options("payment_method")

    def _wallet_label(self, least_total) -> str:
        balance = format_money(self.wallet_balance)
        if self.wallet_short:
            return _("Wallet balance (%(balance)s): not enough for this order (at least %(total)s)") % {
                "balance": balance,
                "total": format_money(least_total),
            }
        return _("Wallet balance (%(balance)s available)") % {"balance": balance}

    def clean_payment_method(self) -> str:
        method = self.cleaned_data["payment_method"]
        if method in self.fields["payment_method"].widget.disabled:
            # A disabled radio is not posted by a browser: this is a stale page or a hand-made POST.
            raise forms.ValidationError(_("Your wallet balance is not enough for this order."))
        return method


class AddressChangeForm(forms.Form):
    """Another address of the customer's book for an order not yet packed: the same book, and so
    the same checks of province, city and phone, as checkout's."""

    address = forms.TypedChoiceField(label=_("Deliver to"), coerce=int, widget=forms.RadioSelect)

    def __init__(self, *args, addresses, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["address"].choices = [(a.pk, f"{a.recipient} {a.phone} · {address_line(a)}") for a in addresses]
