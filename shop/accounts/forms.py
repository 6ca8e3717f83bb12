"""Account forms: registration, profile, addresses, and password reset through the outbox."""

import secrets

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from orders.services import notification_queue
from shop.core import divisions
from shop.core.phones import phone_normalise
from shop.core.text import parse_digits
from shop.models import Address

User = get_user_model()


def clean_phone(value: str) -> str:
    """An account's phone (optional): a mainland mobile, checked and stored like an address's
    (shop.core.phones: 13800138000, typed +86, spaces and full-width digits accepted). Only a
    mobile: it is the number we would text, and the form asks for one."""
    if not value.strip():
        return ""
    phone = phone_normalise(value)
    # phone_normalise writes a landline with its area code and a hyphen (020-12345678).
    if phone is None or "-" in phone:
        raise forms.ValidationError(_("Enter a mainland China mobile number of 11 digits, e.g. 13800138000."))
    return phone


class RegisterForm(forms.Form):
    email = forms.EmailField(label=_("Email"))
    phone = forms.CharField(label=_("Mobile phone (optional)"), required=False, max_length=20)
    password1 = forms.CharField(label=_("Password"), widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(label=_("Password again"), widget=forms.PasswordInput, strip=False)

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"]).lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(_("An account with this email already exists. Log in instead?"))
        return email

    def clean_phone(self) -> str:
        return clean_phone(self.cleaned_data["phone"])

    def clean(self) -> dict:
        data = super().clean()
        if data.get("password1") and data.get("password1") != data.get("password2"):
            self.add_error("password2", _("The two passwords differ."))
        elif data.get("password1"):
            try:
                password_validation.validate_password(data["password1"], User(email=data.get("email", "")))
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data


class LoginForm(AuthenticationForm):
    username = forms.EmailField(label=_("Email"), widget=forms.EmailInput(attrs={"autofocus": True}))


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ("first_name", "last_name", "phone", "language")
        widgets = {"language": forms.Select(choices=[("", "—"), ("zh-hans", "简体中文"), ("en", "English")])}

    def clean_phone(self) -> str:
        return clean_phone(self.cleaned_data["phone"])


def _place_field(name: str) -> forms.CharField:
    # A <select> whose options follow the level above (set in AddressForm.__init__); the value is
    # a division code, checked in clean() against its parent, so a code of another province or
    # one typed by hand is refused with a message that says which.
    return forms.CharField(
        label=capfirst(Address._meta.get_field(name).verbose_name),
        required=False,  # clean() says which level is missing, in words of the level above
        widget=forms.Select(attrs={"data-division": name}),
    )


class AddressForm(forms.ModelForm):
    """An address of the book. Province, city and district are chosen from the national
    administrative divisions (shop.core.divisions), as dependent selects: the server renders
    the cities of the chosen province and the districts of the chosen city, static/shop/address.js
    refreshes them as the customer chooses, and without JavaScript a submit re-renders them and
    says what is missing. The phone must be a mainland mobile or landline (shop.core.phones)."""

    province = _place_field("province")
    city = _place_field("city")
    district = _place_field("district")

    field_order = ("recipient", "phone", "province", "city", "district", "street", "postcode", "is_default")

    class Meta:
        model = Address
        fields = ("recipient", "phone", "street", "postcode", "is_default")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        address = self.instance
        # An address written before the lists keeps its names, shown to the customer, until the
        # province, city and district are chosen again.
        self.place_was = address.one_line if address.pk and address.needs_place else ""
        if not self.is_bound and address.pk and not address.needs_place:
            self.initial.update(province=address.province_code, city=address.city_code, district=address.district_code)
        province = divisions.division_get(self._chosen("province"))
        cities = divisions.children(province.code) if province and not province.parent else []
        city = next((c for c in cities if c.code == self._chosen("city")), None)
        districts = divisions.children(city.code) if city else []
        self.fields["province"].widget.choices = [
            ("", _("Choose a province")),
            *divisions.choices(divisions.provinces()),
        ]
        self.fields["city"].widget.choices = [
            ("", _("Choose a city") if cities else _("Choose a province first")),
            *divisions.choices(cities),
        ]
        if city and not districts:
            empty = _("No districts in this city")
        else:
            empty = _("Choose a district") if districts else _("Choose a city first")
        self.fields["district"].widget.choices = [("", empty), *divisions.choices(districts)]

    def _chosen(self, name: str) -> str:
        if self.is_bound:
            return str(self.data.get(self.add_prefix(name), "")).strip()
        return str(self.initial.get(name, ""))

    def clean_phone(self) -> str:
        raw = self.cleaned_data["phone"]
        if not raw.strip():
            raise forms.ValidationError(_("The courier needs a phone number."))
        phone = phone_normalise(raw)
        if phone is None:
            raise forms.ValidationError(
                _("Enter a mainland China mobile or landline number, e.g. 13800138000 or 020-12345678.")
            )
        return phone

    def clean_postcode(self) -> str:
        postcode = self.cleaned_data["postcode"].strip()
        if not postcode:
            return postcode
        # Not str.isdigit(): it takes "²" and "٣" too. Full-width digits are stored as ASCII.
        digits = parse_digits(postcode)
        if digits is None:
            raise forms.ValidationError(_("A postcode is digits only."))
        return digits

    def clean(self) -> dict:
        data = super().clean()
        try:
            place = divisions.place_resolve(
                province_code=data.get("province", ""),
                city_code=data.get("city", ""),
                district_code=data.get("district", ""),
            )
        except divisions.DivisionError as exc:
            self.add_error(exc.field, exc.message)
            return data
        # The names go with the codes: orders copy the names, and parcels print them.
        address = self.instance
        address.province, address.province_code = place.province.name, place.province.code
        address.city, address.city_code = place.city.name, place.city.code
        address.district = place.district.name if place.district else ""
        address.district_code = place.district.code if place.district else ""
        return data


class OutboxPasswordResetForm(PasswordResetForm):
    """Django's reset form, but the mail goes through the outbox like every other mail.

    The outbox row holds no link: whoever can read the outbox (staff in the admin, a database
    dump) could otherwise take the account over. The link is made when the mail is sent, from
    the user the row names (orders.services.notification_deliver); Django's tokens derive from
    the password hash and last login, so one made then is as good as one made now."""

    def save(self, domain_override=None, request=None, **kwargs) -> None:
        email = self.cleaned_data["email"]
        for user in self.get_users(email):
            notification_queue(
                kind="password_reset",
                key=f"password_reset:{user.pk}:{secrets.token_hex(8)}",  # each request is one mail
                to=user.email,
                language=user.language,
                context={},
                user=user,
            )
