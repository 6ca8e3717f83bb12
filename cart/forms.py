from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from orders.models import Order
from shop.core.divisions import address_line


class CheckoutForm(forms.Form):
    address = forms.TypedChoiceField(label=_("Deliver to"), coerce=int, widget=forms.RadioSelect)
    shipping_method = forms.ChoiceField(label=_("Shipping"), widget=forms.RadioSelect)
    insured = forms.BooleanField(label=_("Insure the parcel"), required=False)
    payment_method = forms.ChoiceField(label=_("Payment"), widget=forms.RadioSelect)
    note = forms.CharField(label=_("Note to the shop"), required=False, max_length=200)

    def __init__(self, *args, addresses, quotes, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["address"].choices = [(a.pk, f"{a.recipient} {a.phone} · {address_line(a)}") for a in addresses]
        default = next((a.pk for a in addresses if a.is_default), None)
        self.fields["address"].initial = default
        self.fields["shipping_method"].choices = [(q.method, q.label) for q in quotes]
        self.fields["shipping_method"].initial = "standard"
        self.fields["payment_method"].choices = [
            c for c in Order.PaymentMethod.choices if c[0] in settings.PAYMENT_PROVIDERS
        ]
        self.fields["payment_method"].initial = settings.PAYMENT_PROVIDERS[0]


class AddressChangeForm(forms.Form):
    """Another address of the customer's book for an order not yet packed: the same book, and so
    the same checks of province, city and phone, as checkout's."""

    address = forms.TypedChoiceField(label=_("Deliver to"), coerce=int, widget=forms.RadioSelect)

    def __init__(self, *args, addresses, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["address"].choices = [(a.pk, f"{a.recipient} {a.phone} · {address_line(a)}") for a in addresses]
