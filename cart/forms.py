import types
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


# (value, label) of every payment method, labels lazy: built once per process, not per page.
_PAYMENT_CHOICES = tuple(Order.PaymentMethod.choices)


class _Shown:
    """What the confirm page's tags read of its choices, the same for a posted form
    (CheckoutForm) and for the choices offered before anything is posted (CheckoutChoices):
    each radio field's options, the value shown of the others, the errors."""

    def _options(self, name: str, choices, disabled=()) -> list[tuple[str, str, bool, bool]]:
        """(value, label, checked, disabled) of a radio field, for the page's own loop: a
        fraction of what the widget's templates cost to render (the confirm page is hot)."""
        current = str(self.value(name))
        return [(str(value), label, str(value) == current, value in disabled) for value, label in choices]

    @property
    def address_options(self):
        return self._options("address", self.address_choices)

    @property
    def payment_options(self):
        return self._options("payment_method", self.payment_choices, self.payment_disabled)

    @property
    def shipping_value(self):
        return self.value("shipping_method")

    @property
    def note_label(self):
        return CheckoutForm.base_fields["note"].label


class CheckoutChoices(_Shown):
    """The confirm page's choices: the addresses, the shipping methods and the payment methods
    offered (the wallet with its balance, and not to be chosen when the balance is below
    `least_total`: what this cart costs at the least, cheapest shipping `shipping_initial` and no
    insurance), and those chosen beforehand. A GET shows them as they are: nothing was posted,
    so nothing is validated and no form is built (a Django form deep-copies its fields for each
    instance, about half of the confirm page's form cost, only for each field to give its
    initial value). A posted choice is validated by CheckoutForm against these same choices."""

    errors: dict = types.MappingProxyType({})  # nothing posted: nothing refused

    def __init__(
        self, *, addresses, quotes, wallet_balance=None, least_total=None, shipping_initial="standard"
    ) -> None:
        self.address_choices = [(a.pk, f"{a.recipient} {a.phone} · {address_line(a)}") for a in addresses]
        self.address_initial = next((a.pk for a in addresses if a.is_default), None)
        self.shipping_choices = [(q.method, q.label) for q in quotes]
        self.shipping_initial = shipping_initial
        choices = [c for c in _PAYMENT_CHOICES if c[0] in settings.PAYMENT_PROVIDERS]
        self.wallet_balance, self.wallet_short = wallet_balance, False
        if wallet_balance is not None:
            self.wallet_short = least_total is not None and wallet_balance < least_total
            choices = [
                (value, self._wallet_label(least_total) if value == "wallet" else label) for value, label in choices
            ]
        self.payment_choices = choices
        self.payment_disabled = {"wallet"} if self.wallet_short else set()
        usable = [m for m in settings.PAYMENT_PROVIDERS if m not in self.payment_disabled]
        # The wallet first when it covers the least total (it then completes the order with no
        # gateway to visit), else the first method offered.
        if wallet_balance is not None and "wallet" in usable:
            usable.insert(0, "wallet")
        self.payment_initial = usable[0] if usable else settings.PAYMENT_PROVIDERS[0]

    def _wallet_label(self, least_total) -> str:
        balance = format_money(self.wallet_balance)
        if self.wallet_short:
            return _("Wallet balance (%(balance)s): not enough for this order (at least %(total)s)") % {
                "balance": balance,
                "total": format_money(least_total),
            }
        return _("Wallet balance (%(balance)s available)") % {"balance": balance}

    def value(self, name: str):
        """The value an unbound CheckoutForm's field shows: its initial one."""
        return {
            "address": self.address_initial,
            "shipping_method": self.shipping_initial,
            "payment_method": self.payment_initial,
        }.get(name)


class CheckoutForm(_Shown, forms.Form):
    """A choice posted from the confirm page, validated against the choices offered
    (CheckoutChoices: built from the same arguments when not given)."""

    address = forms.TypedChoiceField(label=_("Deliver to"), coerce=int, widget=forms.RadioSelect)
    shipping_method = forms.ChoiceField(label=_("Shipping"), widget=forms.RadioSelect)
    insured = forms.BooleanField(label=_("Insure the parcel"), required=False)
    payment_method = forms.ChoiceField(label=_("Payment"), widget=OptionsRadioSelect)
    note = forms.CharField(label=_("Note to the shop"), required=False, max_length=200)

    def __init__(self, *args, offered: CheckoutChoices | None = None, **kwargs) -> None:
        """`offered`, or CheckoutChoices' arguments (addresses, quotes, wallet_balance,
        least_total, shipping_initial) among `kwargs`."""
        names = ("addresses", "quotes", "wallet_balance", "least_total", "shipping_initial")
        offered_kwargs = {n: kwargs.pop(n) for n in names if n in kwargs}
        super().__init__(*args, **kwargs)
        self.offered = offered = offered or CheckoutChoices(**offered_kwargs)
        self.wallet_balance, self.wallet_short = offered.wallet_balance, offered.wallet_short
        self.fields["address"].choices = offered.address_choices
        self.fields["address"].initial = offered.address_initial
        self.fields["shipping_method"].choices = offered.shipping_choices
        self.fields["shipping_method"].initial = offered.shipping_initial
        field = self.fields["payment_method"]
        field.choices = offered.payment_choices
        field.widget.disabled = offered.payment_disabled
        field.initial = offered.payment_initial

    @property
    def address_choices(self):
        return self.fields["address"].choices

    @property
    def payment_choices(self):
        return self.fields["payment_method"].choices

    @property
    def payment_disabled(self):
        return self.fields["payment_method"].widget.disabled

    def value(self, name: str):
        return self[name].value()

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
