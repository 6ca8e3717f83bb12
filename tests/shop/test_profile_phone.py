"""An account's phone (registration and profile) follows the addresses' rule (shop.core.phones):
a mainland mobile, stored in the national form; what is not one is refused in the customer's
language (checked here in Chinese, the shop's default, and in English). A factory's or the demo's
customer is a valid account as it is."""

import pytest
from django.contrib.auth import get_user_model
from django.forms.models import model_to_dict

from shop.accounts.forms import ProfileForm
from tests import factories

pytestmark = pytest.mark.django_db

User = get_user_model()


def register(client, phone: str, *, language: str = "en"):
    data = {"email": "han.meimei@example.com", "phone": phone, "password1": "plum blossom 2024"}
    return client.post("/account/register/", {**data, "password2": data["password1"]}, HTTP_ACCEPT_LANGUAGE=language)


def test_the_refusal_is_in_chinese_on_chinese_pages(client):
    response = register(client, "12345678", language="zh-hans")

    assert response.context["form"].errors["phone"] == ["请输入中国大陆 11 位手机号码，例如 13800138000。"]


@pytest.mark.parametrize(
    "typed",
    [
        "13800138000",
        "138 0013 8000",
        "138-0013-8000",
        "+86 138 0013 8000",
        "0086 13800138000",
        "１３８００１３８０００",
    ],
)
def test_registration_stores_a_mobile_in_the_national_form(client, typed):
    response = register(client, typed)

    assert response.status_code == 302
    assert User.objects.get().phone == "13800138000"


def test_registration_without_a_phone_is_fine(client):
    assert register(client, "  ").status_code == 302
    assert User.objects.get().phone == ""


@pytest.mark.parametrize(
    "typed",
    [
        "12345678",  # the old check took any 7 to 19 digits
        "1380013800",  # one digit short
        "23800138000",  # no mainland mobile starts with 2
        "020-12345678",  # a landline: a real number, but not a mobile
        "4008123123",  # a service number
        "+1 650 253 0000",  # another country's
        "call me",
    ],
)
def test_registration_refuses_what_is_not_a_mainland_mobile(client, typed):
    response = register(client, typed)

    assert response.status_code == 200
    assert response.context["form"].errors["phone"] == [
        "Enter a mainland China mobile number of 11 digits, e.g. 13800138000."
    ]
    assert not User.objects.exists()


def test_profile_stores_the_national_form_and_refuses_a_landline(client):
    customer = factories.UserFactory(language="en")
    client.force_login(customer)

    saved = client.post("/account/profile/", {"first_name": "磊", "phone": "+86 139-0013-9000", "language": "en"})
    assert saved.status_code == 302
    customer.refresh_from_db()
    assert customer.phone == "13900139000"

    refused = client.post("/account/profile/", {"first_name": "磊", "phone": "021-55558888", "language": "en"})
    assert refused.status_code == 200 and refused.context["form"].errors["phone"]
    customer.refresh_from_db()
    assert customer.phone == "13900139000"


def test_a_factory_customer_and_one_with_a_phone_are_valid_accounts():
    for user in (factories.UserFactory(), factories.UserFactory(phone="13800138000")):
        data = model_to_dict(user, fields=ProfileForm.Meta.fields)
        form = ProfileForm(data=data, instance=user)
        assert form.is_valid(), form.errors
        assert form.cleaned_data["phone"] == user.phone
