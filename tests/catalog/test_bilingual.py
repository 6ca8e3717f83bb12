"""Catalogue text in both languages: English pages show the English summary, description,
specifications, attribute values, brand company, department-free cards and the warehouse's
city; Chinese pages the Chinese; an empty English text falls back to the Chinese. Staff edit
specifications as rows and import/export every English column."""

import importlib
import json
import re
from decimal import Decimal

import pytest
import tablib
from django.apps import apps
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from catalog.models import Product
from catalog.resources import ProductResource
from tests import factories
from tests.catalog.support import AdminForm
from tests.fulfillment.support import paid_order, stock
from tests.purchase import english

pytestmark = pytest.mark.django_db

CJK = re.compile(r"[\u3400-\u9fff]")

SPECS = [
    {"name": "产地", "name_en": "Made in", "value": "浙江", "value_en": "Zhejiang"},
    {"name": "洗涤", "name_en": "Care", "value": "可机洗", "value_en": "machine washable"},
]


@pytest.fixture
def tee(make_product):
    """A product whose every customer-facing text exists in both languages."""
    category = factories.CategoryFactory(
        name="圆领T恤", name_en="Crew-necks", slug="crew-necks", description="夏季必备", description_en="Summer basics"
    )
    brand = factories.BrandFactory(
        name="优品", name_en="Youpin", manufacturer="优品实业有限公司", manufacturer_en="Youpin Industrial Co., Ltd."
    )
    colour = factories.AttributeFactory(code="colour", name="颜色", name_en="Colour")
    red = factories.AttributeValueFactory(attribute=colour, value="红色", value_en="red")
    product = make_product(
        name="优品 纯棉圆领T恤",
        name_en="Youpin cotton crew-neck T-shirt",
        summary="纯棉透气，夏日首选",
        summary_en="Breathable cotton for summer",
        description="精梳纯棉，柔软亲肤。",
        description_en="Combed cotton, soft on the skin.",
        specifications=SPECS,
        category=category,
        brand=brand,
        options=[red],
    )
    return product


CHINESE = [
    "优品 纯棉圆领T恤",
    "纯棉透气，夏日首选",
    "精梳纯棉",
    "产地",
    "浙江",
    "洗涤",
    "可机洗",
    "优品实业有限公司",
    "红色",
]
ENGLISH = [
    "Youpin cotton crew-neck T-shirt",
    "Breathable cotton for summer",
    "Combed cotton, soft on the skin.",
    "Made in",
    "Zhejiang",
    "machine washable",
    "Youpin Industrial Co., Ltd.",
    "red",
]


def _page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def _structured(body: str) -> dict:
    found = re.search(r'<script type="application/ld\+json">(.*?)</script>', body, re.S)
    return json.loads(found.group(1))


def test_english_product_page_shows_english_catalogue_text_only(client, tee):
    english(client)
    body = _page(client, tee.get_absolute_url())
    for text in ENGLISH:
        assert text in body, text
    for text in CHINESE:
        assert text not in body, text
    assert _structured(body)["description"] == "Breathable cotton for summer"
    assert '<meta name="description" content="Breathable cotton for summer">' in body


def test_chinese_product_page_shows_chinese_catalogue_text(client, tee):
    body = _page(client, tee.get_absolute_url())
    for text in CHINESE:
        assert text in body, text
    for text in ["Breathable cotton for summer", "Combed cotton", "Made in", "machine washable", "Youpin Industrial"]:
        assert text not in body, text
    assert _structured(body)["description"] == "纯棉透气，夏日首选"


def test_listing_search_and_category_in_english(client, tee):
    english(client)
    for url in ("/products/", "/c/crew-necks/", "/search/?q=crew-neck", "/search/?q=breathable"):
        body = _page(client, url)
        assert "Youpin cotton crew-neck T-shirt" in body, url
        assert "优品 纯棉圆领T恤" not in body and "红色" not in body, url
    category_page = _page(client, "/c/crew-necks/")
    assert '<meta name="description" content="Summer basics">' in category_page


def test_cart_in_english_and_chinese(client, tee):
    variant = tee.variants.get()
    client.post(reverse("cart:add"), {"variant": variant.pk, "quantity": 1})
    chinese = _page(client, reverse("cart:detail"))
    assert "优品 纯棉圆领T恤" in chinese and "红色" in chinese
    english(client)
    body = _page(client, reverse("cart:detail"))
    assert "Youpin cotton crew-neck T-shirt" in body and "red" in body
    assert "优品 纯棉圆领T恤" not in body and "红色" not in body


def test_english_falls_back_to_chinese_where_english_is_empty(client, make_product):
    product = make_product(
        name="手工月饼",
        name_en="",
        summary="广式莲蓉",
        summary_en="",
        description="传统工艺",
        specifications=[{"name": "保质期", "name_en": "", "value": "30天", "value_en": ""}],
    )
    english(client)
    body = _page(client, product.get_absolute_url())
    for text in ("手工月饼", "广式莲蓉", "传统工艺", "保质期", "30天"):
        assert text in body, text
    with translation.override("en"):
        assert product.display_summary == "广式莲蓉"
        assert product.display_specifications == [("保质期", "30天")]
        assert product.brand.display_manufacturer == product.brand.manufacturer_en
    with translation.override("zh-hans"):
        assert product.brand.display_manufacturer == product.brand.manufacturer


def test_parcels_ship_from_the_warehouse_city_in_the_page_language(client):
    guangzhou = factories.WarehouseFactory(
        code="gz", name="广州仓", name_en="Guangzhou warehouse", province="广东", city="广州", city_en="Guangzhou"
    )
    product = factories.ProductFactory(name="茶杯", name_en="Teacup", price=Decimal("50.00"))
    variant = factories.VariantFactory(product=product, price=Decimal("50.00"), weight_grams=300)
    stock(guangzhou, variant, 5)
    order = paid_order([(variant, 1)])
    client.force_login(order.customer)
    url = reverse("fulfillment:tracking", kwargs={"number": order.number})
    chinese = _page(client, url)
    assert "广州" in chinese and "Guangzhou" not in chinese
    english(client)
    body = _page(client, url)
    assert "ships from Guangzhou" in body
    assert "广州" not in body


def test_product_page_queries_are_the_same_in_both_languages(client, tee, settings):
    """The English texts are columns of rows the page already reads: no query more."""
    settings.PAGE_CACHE_ENABLED = False
    url = tee.get_absolute_url()
    client.get(url)  # warm per-process lookups

    def count() -> tuple[int, int]:
        caches["pages"].clear()
        with CaptureQueriesContext(connection) as cold:
            client.get(url)
        with CaptureQueriesContext(connection) as warm:
            client.get(url)
        return len(cold), len(warm)

    chinese = count()
    english(client)
    assert count() == chinese


# --- the admin ------------------------------------------------------------------------------


def test_admin_edits_specifications_as_rows(staff_client, tee):
    url = reverse("admin:catalog_product_change", args=[tee.pk])
    page = staff_client.get(url).content.decode()
    assert 'name="specifications-0-name_en" value="Made in"' in page
    assert "specifications" not in re.findall(r"<textarea[^>]*name=\"(\w+)\"", page)  # no raw JSON box
    form = AdminForm(page, "product_form")
    rows = int(form["specifications-rows"])
    assert rows == len(SPECS) + 3  # three empty rows to add to
    form["specifications-1-value_en"] = "hand wash"
    form["specifications-0-name"] = ""  # a row emptied is removed
    form["specifications-0-name_en"] = ""
    form["specifications-0-value"] = ""
    form["specifications-0-value_en"] = ""
    form["specifications-2-name"] = "面料"
    form["specifications-2-name_en"] = "Fabric"
    form["specifications-2-value"] = " 纯棉  "
    form["specifications-2-value_en"] = "cotton"
    response = staff_client.post(url, form.post_data())
    assert response.status_code == 302, response.context["adminform"].form.errors
    tee.refresh_from_db()
    assert tee.specifications == [
        {"name": "洗涤", "name_en": "Care", "value": "可机洗", "value_en": "hand wash"},
        {"name": "面料", "name_en": "Fabric", "value": "纯棉", "value_en": "cotton"},
    ]


def test_admin_specification_row_needs_its_chinese(staff_client, tee):
    url = reverse("admin:catalog_product_change", args=[tee.pk])
    form = AdminForm(staff_client.get(url).content.decode(), "product_form")
    form["specifications-2-name_en"] = "Weight"
    form["specifications-2-value_en"] = "200 g"
    response = staff_client.post(url, form.post_data())
    assert response.status_code == 200
    assert "specifications" in response.context["adminform"].form.errors
    tee.refresh_from_db()
    assert tee.specifications == SPECS


def test_admin_shows_english_fields_next_to_the_chinese(staff_client, tee):
    pages = {
        reverse("admin:catalog_product_change", args=[tee.pk]): ["summary_en", "description_en", "name_en"],
        reverse("admin:catalog_brand_change", args=[tee.brand_id]): ["manufacturer_en"],
        reverse("admin:catalog_category_change", args=[tee.category_id]): ["description_en"],
        reverse("admin:catalog_department_change", args=[tee.department_id]): ["name_en"],
        reverse("admin:fulfillment_warehouse_change", args=[factories.WarehouseFactory().pk]): ["name_en", "city_en"],
    }
    for url, fields in pages.items():
        page = staff_client.get(url).content.decode()
        for name in fields:
            assert f'name="{name}"' in page, (url, name)


# --- import and export ----------------------------------------------------------------------


def test_export_and_import_carry_the_english_columns(tee):
    exported = ProductResource().export()
    headers = exported.headers
    for column in ("name_en", "summary_en", "description", "description_en", "specifications"):
        assert column in headers
    row = dict(zip(headers, exported[0], strict=True))
    assert row["summary_en"] == "Breathable cotton for summer"
    assert json.loads(row["specifications"]) == SPECS
    assert "浙江" in row["specifications"]  # readable in a spreadsheet, not \\u-escaped

    row["summary_en"] = "Cool cotton"
    row["description_en"] = ""
    row["specifications"] = '[["材质", "纯棉"]]'  # the old pairs are taken as Chinese-only rows
    for fmt in ("csv", "xlsx"):
        dataset = tablib.Dataset([row[h] for h in headers], headers=headers)
        content = dataset.export(fmt)
        loaded = tablib.Dataset().load(content, format=fmt)
        result = ProductResource().import_data(loaded, dry_run=False)
        assert not result.has_errors() and not result.has_validation_errors()
        tee.refresh_from_db()
        assert tee.summary_en == "Cool cotton" and tee.description_en == ""
        assert tee.specifications == [{"name": "材质", "name_en": "", "value": "纯棉", "value_en": ""}]


def test_import_refuses_specifications_that_are_not_rows(tee):
    exported = ProductResource().export()
    row = dict(zip(exported.headers, exported[0], strict=True))
    row["specifications"] = "产地: 浙江"
    dataset = tablib.Dataset([row[h] for h in exported.headers], headers=exported.headers)
    result = ProductResource().import_data(dataset, dry_run=False)
    assert result.has_errors() or result.has_validation_errors()
    tee.refresh_from_db()
    assert tee.specifications == SPECS


# --- the data migration ---------------------------------------------------------------------


def test_old_specification_pairs_become_bilingual_rows():
    migration = importlib.import_module("catalog.migrations.0008_bilingual_catalogue")
    old = factories.ProductFactory(specifications=[["产地", "浙江"], ["洗涤", "机洗"]])
    done = factories.ProductFactory(specifications=SPECS)
    empty = factories.ProductFactory(specifications=[])
    migration.pairs_to_rows(apps, None)
    old.refresh_from_db()
    assert old.specifications == [
        {"name": "产地", "name_en": "", "value": "浙江", "value_en": ""},
        {"name": "洗涤", "name_en": "", "value": "机洗", "value_en": ""},
    ]
    assert Product.objects.get(pk=done.pk).specifications == SPECS
    assert Product.objects.get(pk=empty.pk).specifications == []
    migration.rows_to_pairs(apps, None)
    old.refresh_from_db()
    assert old.specifications == [["产地", "浙江"], ["洗涤", "机洗"]]


def test_no_chinese_in_english_texts_of_the_fixture(tee):
    """Guards the fixture above: its English texts really are English."""
    for text in ENGLISH:
        assert not CJK.search(text)
