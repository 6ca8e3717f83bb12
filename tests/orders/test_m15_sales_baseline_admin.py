"""Sales baselines from the admin (issue 12, part M): a product's sales before this shop (added to
its 已售) set by catalogue managers only (never department staff, whose products it would rank),
bounded, recorded in the admin log, and the product's count follows at once (the periodic
refresh reads only products whose sales moved)."""

import pytest
from django.test import Client
from django.urls import reverse

from aftersales.services.staff import aftersales_groups_ensure
from catalog.models import Product
from catalog.selectors import DEPARTMENT_STAFF_GROUP
from catalog.services import CATALOGUE_MANAGER_GROUP
from orders.models import SalesBaseline
from orders.sales_count import sales_count_refresh
from shop.models import AdminLogEntry
from tests import factories
from tests.purchase import english

pytestmark = pytest.mark.django_db


def staff_in(group_name: str):
    user = factories.UserFactory(is_staff=True)
    user.groups.add(aftersales_groups_ensure()[group_name])
    client = english(Client())
    client.force_login(user)
    return user, client


def count(product) -> int:
    return Product.objects.get(pk=product.pk).sales_count


def test_a_catalogue_manager_sets_a_baseline_it_is_logged_and_the_count_follows_at_once():
    product = factories.ProductFactory()
    sales_count_refresh()  # the first (full) run: the watermark is set, later runs read changes only
    manager, client = staff_in(CATALOGUE_MANAGER_GROUP)

    response = client.post(reverse("admin:orders_salesbaseline_add"), {"product": product.pk, "units": "120"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert SalesBaseline.objects.get(product=product).units == 120
    assert count(product) == 120  # at once, not at a refresh that would not read it
    entry = AdminLogEntry.objects.get(kind=AdminLogEntry.Kind.ADD)
    assert (entry.actor_id, entry.object_pk) == (manager.pk, str(product.pk))

    url = reverse("admin:orders_salesbaseline_change", args=[product.pk])
    other = factories.ProductFactory()
    client.post(url, {"product": other.pk, "units": "80"})  # the product is not the form's to move
    assert dict(SalesBaseline.objects.values_list("product_id", "units")) == {product.pk: 80}
    assert count(product) == 80 and count(other) == 0
    change = AdminLogEntry.objects.get(kind=AdminLogEntry.Kind.CHANGE)
    assert change.changes["units"] == [120, 80]

    client.post(reverse("admin:orders_salesbaseline_delete", args=[product.pk]), {"post": "yes"})
    assert not SalesBaseline.objects.exists() and count(product) == 0
    assert AdminLogEntry.objects.filter(kind=AdminLogEntry.Kind.DELETE).count() == 1


def test_a_baseline_is_bounded_and_department_staff_cannot_set_one():
    product = factories.ProductFactory()
    _manager, client = staff_in(CATALOGUE_MANAGER_GROUP)
    response = client.post(reverse("admin:orders_salesbaseline_add"), {"product": product.pk, "units": "2147483647"})
    assert response.status_code == 200 and "At most 10000000 units." in response.content.decode()
    assert not SalesBaseline.objects.exists()

    department_staff, dept = staff_in(DEPARTMENT_STAFF_GROUP)
    product.department.staff.add(department_staff)
    assert (
        dept.post(reverse("admin:orders_salesbaseline_add"), {"product": product.pk, "units": "5"}).status_code == 403
    )
    assert dept.get(reverse("admin:orders_salesbaseline_changelist")).status_code == 403
    assert not SalesBaseline.objects.exists() and count(product) == 0


def _import(client, content: bytes):
    from django.contrib import admin
    from django.core.files.uploadedfile import SimpleUploadedFile
    from import_export.formats import base_formats

    formats = admin.site._registry[SalesBaseline].get_import_formats()
    return client.post(
        reverse("admin:orders_salesbaseline_import"),
        {
            "resource": "0",
            "format": str(formats.index(base_formats.CSV)),
            "import_file": SimpleUploadedFile("baselines.csv", content),
        },
    )


def test_a_former_shops_history_is_imported_from_a_file_logged_with_the_counts_following():
    teapot = factories.ProductFactory(slug="teapot")
    cup = factories.ProductFactory(slug="cup")
    sales_count_refresh()
    manager, client = staff_in(CATALOGUE_MANAGER_GROUP)

    bad = _import(client, b"product,units\nteapot,40\ncup,99999999\n")
    assert bad.status_code == 200 and "from 0 to 10000000" in bad.content.decode()
    assert not bad.context.get("confirm_form") and not SalesBaseline.objects.exists()

    preview = _import(client, b"product,units\nteapot,40\ncup,7\n")
    form = preview.context["confirm_form"]
    assert form is not None and not SalesBaseline.objects.exists()  # a dry run writes nothing
    assert client.post(reverse("admin:orders_salesbaseline_process_import"), form.initial).status_code == 302
    assert dict(SalesBaseline.objects.values_list("product__slug", "units")) == {"teapot": 40, "cup": 7}
    assert (count(teapot), count(cup)) == (40, 7)
    entries = AdminLogEntry.objects.filter(kind=AdminLogEntry.Kind.IMPORT, actor=manager)
    assert sorted(entries.values_list("object_pk", flat=True)) == sorted([str(teapot.pk), str(cup.pk)])

    _department_staff, dept = staff_in(DEPARTMENT_STAFF_GROUP)
    assert dept.get(reverse("admin:orders_salesbaseline_import")).status_code == 403
