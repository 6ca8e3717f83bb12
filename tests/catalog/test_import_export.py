"""Bulk import and export of products, variants and stock (CSV and XLSX).

A file is all or nothing: one bad row is reported with its line and field, and none of the
file is written. A good file creates and updates rows and refreshes what the shop shows:
the product's from-price, its in-stock flag and its search entry. What is exported can be
imported again unchanged."""

from decimal import Decimal

import pytest
import tablib
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from import_export.formats import base_formats

from catalog.models import Product, ProductVariant, Supplier
from catalog.resources import ProductResource, VariantResource
from fulfillment.models import Stock
from fulfillment.resources import StockResource
from tests import factories

pytestmark = pytest.mark.django_db

PRODUCT_HEADERS = ["slug", "name", "name_en", "category", "brand", "department", "supplier", "summary", "is_active"]
VARIANT_HEADERS = ["sku", "product", "price", "compare_at_price", "weight_grams", "low_stock_threshold", "is_active"]
STOCK_HEADERS = ["warehouse", "sku", "on_hand", "reserved"]
FORMATS = {"csv": base_formats.CSV, "xlsx": base_formats.XLSX}


@pytest.fixture
def refs(db):
    """What import files refer to by slug or code."""
    return {
        "category": factories.CategoryFactory(name="茶具", name_en="Tea ware", slug="tea-ware"),
        "brand": factories.BrandFactory(name="景德镇", name_en="Jingdezhen", slug="jingdezhen"),
        "department": factories.DepartmentFactory(code="home", name="家居"),
        "warehouse": factories.WarehouseFactory(code="sh"),
    }


def _file(headers: list[str], rows: list[list], fmt: str = "csv") -> bytes:
    data = tablib.Dataset(*rows, headers=headers).export(fmt)
    return data.encode() if isinstance(data, str) else data


def _dataset(headers: list[str], rows: list[list], fmt: str = "csv") -> tablib.Dataset:
    """The dataset django-import-export reads from such a file, through its own format."""
    file_format = FORMATS[fmt]()
    content = _file(headers, rows, fmt)
    return file_format.create_dataset(content if file_format.is_binary() else content.decode())


def _product_row(slug: str, name: str, category: str = "tea-ware", **extra) -> list:
    values = {
        "slug": slug,
        "name": name,
        "name_en": extra.get("name_en", ""),
        "category": category,
        "brand": "jingdezhen",
        "department": "home",
        "supplier": "",
        "summary": extra.get("summary", ""),
        "is_active": "1",
    }
    return [values[h] for h in PRODUCT_HEADERS]


def _problems(result) -> dict[int, str]:
    """Line number (1 = first data row) -> every error reported for it; 0 for file errors."""
    found: dict[int, list[str]] = {}
    for row in result.error_rows:
        found.setdefault(row.number, []).extend(str(e.error) for e in row.errors)
    for row in result.invalid_rows:
        for field, messages in row.error_dict.items():
            found.setdefault(row.number, []).extend(f"{field}: {m}" for m in messages)
    if result.base_errors:
        found[0] = [str(e.error) for e in result.base_errors]
    return {number: " | ".join(messages) for number, messages in found.items()}


def _found(client, query: str, **headers) -> set[str]:
    """Names of the products a search lists (not the suggestions shown when none match)."""
    response = client.get("/search/", {"q": query}, **headers)
    assert response.status_code == 200
    assert response.get("X-Page-Cache") != "hit", "a search after an import must not come from the cache"
    return {p.name for p in response.context["products"]}


def _snapshot() -> tuple:
    return (
        sorted(Product.objects.values_list("slug", "name", "price", "in_stock")),
        sorted(ProductVariant.objects.values_list("sku", "price", "compare_at_price", "is_active")),
        sorted(Stock.objects.values_list("variant__sku", "warehouse__code", "on_hand", "reserved")),
    )


# --- a good file ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # search index and page cache follow on commit
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_good_files_create_products_variants_and_stock(client, refs, fmt):
    client.get("/search/?q=青花瓷")  # cached "nothing found" page must not survive the import

    products = _dataset(
        PRODUCT_HEADERS,
        [
            _product_row("blue-cup", "青花瓷茶杯", name_en="Blue and white cup", summary="手绘"),
            _product_row("celadon-pot", "青瓷茶壶", name_en="Celadon teapot"),
        ],
        fmt,
    )
    result = ProductResource().import_data(products, dry_run=False)
    assert _problems(result) == {}
    assert result.totals["new"] == 2

    variants = _dataset(
        VARIANT_HEADERS,
        [
            ["CUP-S", "blue-cup", "38.00", "", 120, 5, 1],
            ["CUP-L", "blue-cup", "45.50", "60.00", 180, 5, 1],
            ["POT-1", "celadon-pot", "268.00", "", 900, 2, 1],
        ],
        fmt,
    )
    result = VariantResource().import_data(variants, dry_run=False)
    assert _problems(result) == {}

    stock = _dataset(STOCK_HEADERS, [["sh", "CUP-S", 0, ""], ["sh", "CUP-L", 8, ""], ["sh", "POT-1", 0, ""]], fmt)
    result = StockResource().import_data(stock, dry_run=False)
    assert _problems(result) == {}

    cup = Product.objects.get(slug="blue-cup")
    pot = Product.objects.get(slug="celadon-pot")
    assert (cup.name, cup.category, cup.brand, cup.department) == (
        "青花瓷茶杯",
        refs["category"],
        refs["brand"],
        refs["department"],
    )
    assert (cup.price, cup.compare_at_price, cup.in_stock) == (Decimal("38.00"), None, True)
    assert (pot.price, pot.in_stock) == (Decimal("268.00"), False)
    assert Stock.objects.get(variant__sku="CUP-L").product == cup

    assert _found(client, "青花瓷") == {"青花瓷茶杯"}
    assert _found(client, "teapot") == {"青瓷茶壶"}
    assert "¥38.00" in client.get("/search/", {"q": "青花瓷"}).content.decode()


@pytest.mark.django_db(transaction=True)
def test_good_files_update_prices_stock_and_search(client, make_product, refs):
    product = make_product(name="旧名字", slug="mug", category=refs["category"], price="99.00", stock=3)
    sku = product.variants.get().sku
    assert "¥99.00" in client.get(product.get_absolute_url()).content.decode()

    result = ProductResource().import_data(
        _dataset(PRODUCT_HEADERS, [_product_row("mug", "粗陶马克杯")]), dry_run=False
    )
    assert _problems(result) == {} and result.totals["update"] == 1
    result = VariantResource().import_data(
        _dataset(VARIANT_HEADERS, [[sku, "mug", "79.00", "99.00", 300, 5, 1]]), dry_run=False
    )
    assert _problems(result) == {} and result.totals["update"] == 1
    result = StockResource().import_data(_dataset(STOCK_HEADERS, [["sh", sku, 0, 0]]), dry_run=False)
    assert _problems(result) == {} and result.totals["update"] == 1

    product.refresh_from_db()
    assert (product.name, product.price, product.compare_at_price, product.in_stock) == (
        "粗陶马克杯",
        Decimal("79.00"),
        Decimal("99.00"),
        False,
    )
    page = client.get(product.get_absolute_url())
    assert page["X-Page-Cache"] == "miss"
    assert "粗陶马克杯" in page.content.decode() and "¥79.00" in page.content.decode()
    assert _found(client, "马克杯") == {"粗陶马克杯"}
    assert _found(client, "旧名字") == set()


def test_dry_run_writes_nothing(refs):
    before = _snapshot()
    result = ProductResource().import_data(_dataset(PRODUCT_HEADERS, [_product_row("cup", "杯子")]), dry_run=True)
    assert _problems(result) == {} and result.totals["new"] == 1
    assert _snapshot() == before


# --- one bad row: reported, and nothing written ---------------------------------------------


@pytest.fixture
def existing(make_product, refs):
    """A product with one variant and 5 units in stock, 3 of them reserved by an order."""
    product = make_product(name="白瓷盘", slug="plate", category=refs["category"], price="30.00", stock=5)
    variant = product.variants.get()
    Stock.objects.filter(variant=variant).update(reserved=3)
    return variant


def _bad_files(existing):
    sku = existing.sku
    return {
        "unknown category": (
            ProductResource,
            PRODUCT_HEADERS,
            [_product_row("good-bowl", "好碗"), _product_row("bad-bowl", "坏碗", category="no-such-category")],
            ["category", "no-such-category"],
        ),
        "negative price": (
            VariantResource,
            VARIANT_HEADERS,
            [["BOWL-1", "plate", "12.00", "", 100, 5, 1], ["BOWL-2", "plate", "-5.00", "", 100, 5, 1]],
            ["price"],
        ),
        "unknown product": (
            VariantResource,
            VARIANT_HEADERS,
            [["BOWL-1", "plate", "12.00", "", 100, 5, 1], ["BOWL-2", "no-such-product", "9.00", "", 100, 5, 1]],
            ["product", "no-such-product"],
        ),
        "stock below reserved": (
            StockResource,
            STOCK_HEADERS,
            [["bj", sku, 50, 0], ["sh", sku, 2, 0]],
            ["on_hand", "3"],
        ),
        "negative stock": (
            StockResource,
            STOCK_HEADERS,
            [["bj", sku, 50, 0], ["bj2", sku, -1, 0]],
            ["on_hand"],
        ),
        "unknown SKU": (
            StockResource,
            STOCK_HEADERS,
            [["bj", sku, 50, 0], ["sh", "NO-SUCH-SKU", 5, 0]],
            ["NO-SUCH-SKU"],
        ),
        "unknown warehouse": (
            StockResource,
            STOCK_HEADERS,
            [["bj", sku, 50, 0], ["nowhere", sku, 5, 0]],
            ["nowhere"],
        ),
    }


BAD_CASES = [
    "unknown category",
    "negative price",
    "unknown product",
    "stock below reserved",
    "negative stock",
    "unknown SKU",
    "unknown warehouse",
]


@pytest.fixture
def more_warehouses(refs):
    factories.WarehouseFactory(code="bj", name="北京仓", province="北京", city="北京")
    factories.WarehouseFactory(code="bj2", name="北京二仓", province="北京", city="北京")


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("case", BAD_CASES)
def test_a_bad_row_is_reported_and_nothing_is_written(existing, more_warehouses, case, fmt):
    resource_class, headers, rows, words = _bad_files(existing)[case]
    before = _snapshot()
    result = resource_class().import_data(_dataset(headers, rows, fmt), dry_run=False)
    problems = _problems(result)
    assert list(problems) == [2], problems  # the second data row, and only it
    for word in words:
        assert word in problems[2]
    assert "Traceback" not in problems[2]
    assert _snapshot() == before  # not even the good first row


# --- through the admin pages ---------------------------------------------------------------


ADMIN_MODELS = {"catalog_product": Product, "fulfillment_stock": Stock}


def _admin_import(staff_client, app_model: str, resource: int, name: str, content: bytes, file_format):
    formats = admin.site._registry[ADMIN_MODELS[app_model]].get_import_formats()
    return staff_client.post(
        reverse(f"admin:{app_model}_import"),
        {
            "resource": str(resource),
            "format": str(formats.index(file_format)),
            "import_file": SimpleUploadedFile(name, content),
        },
    )


def _confirm(staff_client, app_model: str, preview):
    form = preview.context["confirm_form"]
    assert form is not None, "the preview offers no confirmation"
    return staff_client.post(reverse(f"admin:{app_model}_process_import"), form.initial)


@pytest.mark.django_db(transaction=True)
def test_admin_import_previews_then_confirms(client, staff_client, refs):
    content = _file(PRODUCT_HEADERS, [_product_row("teapot", "紫砂壶", name_en="Yixing teapot")])
    preview = _admin_import(staff_client, "catalog_product", 0, "products.csv", content, base_formats.CSV)
    assert preview.status_code == 200
    assert not preview.context["result"].has_errors()
    assert not Product.objects.filter(slug="teapot").exists()  # a preview writes nothing

    done = _confirm(staff_client, "catalog_product", preview)
    assert done.status_code == 302
    assert done["Location"] == reverse("admin:catalog_product_changelist")
    assert Product.objects.get(slug="teapot").name == "紫砂壶"

    variants = _file(VARIANT_HEADERS, [["POT-Y", "teapot", "388.00", "", 500, 2, True]], "xlsx")
    preview = _admin_import(staff_client, "catalog_product", 1, "variants.xlsx", variants, base_formats.XLSX)
    assert preview.status_code == 200 and not preview.context["result"].has_errors()
    assert _confirm(staff_client, "catalog_product", preview).status_code == 302

    stock = _file(STOCK_HEADERS, [["sh", "POT-Y", 6, 0]])
    preview = _admin_import(staff_client, "fulfillment_stock", 0, "stock.csv", stock, base_formats.CSV)
    assert preview.status_code == 200 and not preview.context["result"].has_errors()
    assert _confirm(staff_client, "fulfillment_stock", preview).status_code == 302

    teapot = Product.objects.get(slug="teapot")
    assert (teapot.price, teapot.in_stock) == (Decimal("388.00"), True)
    assert _found(client, "紫砂壶") == {"紫砂壶"}
    assert "¥388.00" in client.get("/search/", {"q": "紫砂壶"}).content.decode()


@pytest.mark.parametrize(
    ("app_model", "resource", "headers", "rows", "words"),
    [
        (
            "catalog_product",
            0,
            PRODUCT_HEADERS,
            [_product_row("ok-cup", "好杯"), _product_row("bad-cup", "坏杯", category="nope")],
            ["nope"],
        ),
        (
            "catalog_product",
            1,
            VARIANT_HEADERS,
            [["OK-1", "plate", "10.00", "", 1, 1, 1], ["BAD-1", "plate", "-3.00", "", 1, 1, 1]],
            ["price"],
        ),
        ("fulfillment_stock", 0, STOCK_HEADERS, [["sh", "NOPE", 1, 0]], ["NOPE"]),
    ],
)
def test_admin_import_shows_row_errors_and_offers_no_confirmation(
    staff_client, existing, app_model, resource, headers, rows, words
):
    before = _snapshot()
    response = _admin_import(staff_client, app_model, resource, "bad.csv", _file(headers, rows), base_formats.CSV)
    assert response.status_code == 200
    result = response.context["result"]
    assert result.has_errors() or result.has_validation_errors()
    assert response.context.get("confirm_form") is None
    html = response.content.decode()
    for word in words:
        assert word in html
    problems = _problems(result)
    assert list(problems) == [len(rows)]
    assert _snapshot() == before


def test_admin_import_reports_the_right_line_after_unchanged_rows(staff_client, existing, refs):
    """Unchanged rows are skipped; the error must still point at the file's own line."""
    plate = Product.objects.get(slug="plate")
    unchanged = [plate.slug, plate.name, plate.name_en, "tea-ware", plate.brand.slug, plate.department.code, "", "", 1]
    content = _file(PRODUCT_HEADERS, [unchanged, _product_row("bad", "坏", category="nope")])
    response = _admin_import(staff_client, "catalog_product", 0, "p.csv", content, base_formats.CSV)
    result = response.context["result"]
    assert list(_problems(result)) == [2]
    assert [line for line, _errors in result.row_errors()] + [row.number for row in result.invalid_rows] == [2]


# --- export and round trip ----------------------------------------------------------------


@pytest.fixture
def stocked(existing, refs):
    second = factories.VariantFactory(product=existing.product, sku="PLATE-L", price=Decimal("42.00"))
    factories.StockFactory(variant=second, product=existing.product, warehouse=refs["warehouse"], on_hand=9)
    return existing.product


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("resource_class", [ProductResource, VariantResource, StockResource])
def test_export_imports_back_unchanged(stocked, resource_class, fmt):
    exported = resource_class().export()
    assert len(exported) == resource_class._meta.model.objects.count() > 0
    file_format = FORMATS[fmt]()
    content = file_format.export_data(exported)
    before = _snapshot()

    dataset = file_format.create_dataset(content)
    result = resource_class().import_data(dataset, dry_run=False)
    assert _problems(result) == {}
    assert result.totals["new"] == 0 and result.totals["update"] == 0
    assert _snapshot() == before


def test_export_restores_what_was_changed(stocked):
    exported = tablib.Dataset().load(VariantResource().export().export("csv"), format="csv")
    ProductVariant.objects.filter(sku="PLATE-L").update(price=Decimal("1.00"), is_active=False)
    result = VariantResource().import_data(exported, dry_run=False)
    assert _problems(result) == {} and result.totals["update"] == 1
    variant = ProductVariant.objects.get(sku="PLATE-L")
    assert (variant.price, variant.is_active) == (Decimal("42.00"), True)


def test_stock_export_names_warehouse_and_sku(stocked):
    exported = StockResource().export()
    assert exported.headers == STOCK_HEADERS
    first_sku = stocked.variants.exclude(sku="PLATE-L").get().sku
    rows = {(r["warehouse"], r["sku"], str(r["on_hand"]), str(r["reserved"])) for r in exported.dict}
    assert rows == {("sh", first_sku, "5", "3"), ("sh", "PLATE-L", "9", "0")}


@pytest.mark.parametrize("resource_class", [ProductResource, VariantResource, StockResource])
def test_export_queries_do_not_grow_with_rows(make_product, refs, resource_class):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            resource_class().export()
        return len(captured)

    make_product(supplier=Supplier.objects.create(name="供应商0"))
    few = queries()
    for n in range(1, 11):
        make_product(supplier=Supplier.objects.create(name=f"供应商{n}"))
    assert queries() == few


@pytest.mark.parametrize(
    ("app_model", "resource_class", "index"),
    [
        ("catalog_product", ProductResource, 0),
        ("catalog_product", VariantResource, 1),
        ("fulfillment_stock", StockResource, 0),
    ],
)
def test_admin_export_downloads_csv(staff_client, stocked, app_model, resource_class, index):
    formats = admin.site._registry[ADMIN_MODELS[app_model]].get_export_formats()
    data = {"format": str(formats.index(base_formats.CSV)), "resource": str(index)}
    for name in resource_class().get_export_order():
        data[f"{resource_class.__name__.lower()}_{name}"] = "on"
    response = staff_client.post(reverse(f"admin:{app_model}_export"), data)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    exported = tablib.Dataset().load(response.content.decode(), format="csv")
    assert exported.headers == list(resource_class._meta.fields)
    assert len(exported) == resource_class._meta.model.objects.count()
    # and the download imports back without a change
    result = resource_class().import_data(exported, dry_run=False)
    assert _problems(result) == {} and result.totals["update"] == 0 and result.totals["new"] == 0


def test_admin_variant_import_that_switches_variants_off_updates_in_stock(staff_client, existing):
    product = existing.product
    assert product.in_stock is True
    content = _file(VARIANT_HEADERS, [[existing.sku, "plate", "30.00", "", 0, 5, 0]])
    preview = _admin_import(staff_client, "catalog_product", 1, "variants.csv", content, base_formats.CSV)
    assert _confirm(staff_client, "catalog_product", preview).status_code == 302
    product.refresh_from_db()
    assert ProductVariant.objects.get(pk=existing.pk).is_active is False
    assert (product.in_stock, product.price) == (False, Decimal("0.00"))


def test_variant_moved_to_another_product_refreshes_both_prices(make_product, refs):
    cheap = make_product(slug="cheap", price="10.00")
    dear = make_product(slug="dear", price="90.00")
    sku = cheap.variants.get().sku
    result = VariantResource().import_data(
        _dataset(VARIANT_HEADERS, [[sku, "dear", "10.00", "", 0, 5, 1]]), dry_run=False
    )
    assert _problems(result) == {}
    cheap.refresh_from_db()
    dear.refresh_from_db()
    assert (cheap.price, dear.price) == (Decimal("0.00"), Decimal("10.00"))
