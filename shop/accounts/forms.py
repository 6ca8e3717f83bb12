"""Account forms: registration, profile, addresses, and password reset through the outbox."""

import re
import secrets

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.utils.translation import gettext_lazy as _

from orders.services import notification_queue
from shop.core.text import fold_digits, parse_digits
from shop.models import Address

User = get_user_model()
PHONE = re.compile(r"^\+?[0-9][0-9 -]{6,18}$")


def clean_phone(value: str) -> str:
    value = fold_digits(value.strip())  # the shop's digit rule (shop.core.text): stored as ASCII
    if value and not PHONE.fullmatch(value):
        raise forms.ValidationError(_("Enter a phone number of digits, e.g. 13800138000."))
    return value


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


class AddressForm(forms.ModelForm):
    class Meta:
        model = Address
        fields = ("recipient", "phone", "province", "city", "district", "street", "postcode", "is_default")

    def clean_phone(self) -> str:
        phone = clean_phone(self.cleaned_data["phone"])
        if not phone:
            raise forms.ValidationError(_("The courier needs a phone number."))
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
