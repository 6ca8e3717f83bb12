"""Attacker's view of the sales baselines' admin page and file import (issue 12, third session):
who reaches them, and what a bad file does (nothing, and says why)."""

import pytest
from django.test import Client
from django.urls import reverse

from catalog.services import CATALOGUE_MANAGER_GROUP
from orders.models import SalesBaseline
from tests import factories
from tests.orders.test_m15_sales_baseline_admin import _import, count, staff_in

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"product,units\nteapot,-5\n", "from 0 to 10000000"),
        (b"product,units\nteapot,1e9\n", "from 0 to 10000000"),
        (b"product,units\nteapot,=1+1\n", "from 0 to 10000000"),
        (b"product,units\nnot-a-product,5\n", "not-a-product"),
        (b"product,units\nteapot,5\nteapot,900\n", "teapot"),
        (b"product,units\ntea\x00pot,5\n", "No product with slug “tea\\x00pot”"),
    ],
    ids=["negative", "huge", "formula", "unknown-slug", "duplicate-slug", "nul-in-slug"],
)
def test_a_bad_file_changes_nothing_and_says_why(content, says):
    teapot = factories.ProductFactory(slug="teapot")
    _manager, client = staff_in(CATALOGUE_MANAGER_GROUP)
    response = _import(client, content)
    assert response.status_code == 200
    assert not response.context.get("confirm_form")  # nothing to confirm: the file is refused
    assert says in response.content.decode()
    assert not SalesBaseline.objects.exists() and count(teapot) == 0


def test_customers_and_visitors_never_reach_the_pages():
    customer = Client()
    customer.force_login(factories.UserFactory())
    for name in ("changelist", "add", "import", "export"):
        url = reverse(f"admin:orders_salesbaseline_{name}")
        for client in (Client(), customer):
            response = client.get(url)
            assert response.status_code == 302 and "/login/" in response["Location"], (name, response.status_code)


def test_an_exported_slug_that_a_spreadsheet_would_run_is_text():
    from orders.resources import SalesBaselineResource

    product = factories.ProductFactory(slug="=cmd")
    SalesBaseline.objects.create(product=product, units=3)
    exported = SalesBaselineResource().export().csv
    assert "'=cmd,3" in exported
