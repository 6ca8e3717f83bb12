"""Superusers add accounts in the admin: one after another, each with its email as login."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db


def test_a_superuser_adds_two_staff_accounts_one_after_the_other(client):
    """The add form left the username empty: the second account failed on the unique username
    (a 500)."""
    root = factories.UserFactory(is_staff=True, is_superuser=True)
    client.force_login(root)
    User = get_user_model()
    for email in ("staff-one@example.com", "Staff-Two@Example.COM"):
        response = client.post(
            reverse("admin:shop_user_add"),
            {"email": email, "password1": "Pa55-word-for-staff", "password2": "Pa55-word-for-staff",
             "usable_password": "true"},
        )  # fmt: skip
        assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    two = User.objects.get(email__iexact="staff-two@example.com")
    assert two.email == "Staff-Two@example.com" and two.username == two.email
    assert two.check_password("Pa55-word-for-staff")
    # The same email again (in other letters) is refused with a message, and nothing is written.
    response = client.post(
        reverse("admin:shop_user_add"),
        {"email": "STAFF-ONE@example.com", "password1": "Pa55-word-for-staff", "password2": "Pa55-word-for-staff",
         "usable_password": "true"},
    )  # fmt: skip
    assert response.status_code == 200 and User.objects.filter(email__iexact="staff-one@example.com").count() == 1
