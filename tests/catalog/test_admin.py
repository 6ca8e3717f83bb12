"""The catalogue and stock admin: every page opens for staff, the product list costs the same
number of queries however many products it shows, and what staff save reaches the shop at
once (denormalised price and stock flag, page cache cleared)."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.models import Category, Product, Supplier
from fulfillment.models import Stock
from tests import factories
from tests.catalog.support import AdminForm

pytestmark = pytest.mark.django_db


def _change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def _form(staff_client, url: str, form_id: str) -> AdminForm:
    response = staff_client.get(url)
    assert response.status_code == 200
    return AdminForm(response.content.decode(), form_id)


def _errors(response) -> dict:
    """Every error of a re-rendered admin form: the main form's and each inline's."""
    errors = dict(response.context["adminform"].form.errors)
    for inline in response.context["inline_admin_formsets"]:
        for index, form_errors in enumerate(inline.formset.errors):
            for field, messages in form_errors.items():
                errors[f"{inline.formset.prefix}-{index}-{field}"] = messages
        if inline.formset.non_form_errors():
            errors[inline.formset.prefix] = inline.formset.non_form_errors()
    return errors


@pytest.fixture
def catalogue(make_product):
    """Two products in one category of a small tree, with brand, supplier and stock."""
    root = factories.CategoryFactory(name="服装", name_en="Clothing", slug="clothing")
    child = factories.CategoryFactory(parent=root, name="T恤", name_en="T-shirts", slug="t-shirts")
    supplier = Supplier.objects.create(name="杭州纺织厂")
    shirt = make_product(name="纯棉T恤", category=child, supplier=supplier, price="59.00", stock=12)
    sold_out = make_product(name="亚麻衬衫", category=child, price="129.00", stock=0)
    return {"root": root, "child": child, "supplier": supplier, "shirt": shirt, "sold_out": sold_out}


# --- every page opens ------------------------------------------------------------------


def _pages(c) -> list[str]:
    shirt = c["shirt"]
    variant = shirt.variants.get()
    stock = Stock.objects.get(variant=variant)
    return [
        reverse("admin:index"),
        reverse("admin:catalog_product_changelist"),
        reverse("admin:catalog_product_changelist") + "?q=T恤",
        reverse("admin:catalog_product_changelist") + f"?q={variant.sku}",
        reverse("admin:catalog_product_changelist")
        + f"?is_active__exact=1&in_stock__exact=1&department__id__exact={shirt.department_id}"
        + f"&brand__id__exact={shirt.brand_id}&category__id__exact={shirt.category_id}",
        reverse("admin:catalog_product_add"),
        _change_url(shirt),
        reverse("admin:catalog_product_import"),
        reverse("admin:catalog_product_export"),
        reverse("admin:catalog_productvariant_changelist") + f"?q={variant.sku}",
        _change_url(variant),
        reverse("admin:catalog_category_changelist"),
        reverse("admin:catalog_category_changelist") + "?q=T恤",
        reverse("admin:catalog_category_add"),
        _change_url(c["child"]),
        reverse("admin:catalog_brand_changelist") + "?q=Brand",
        reverse("admin:catalog_brand_add"),
        _change_url(shirt.brand),
        reverse("admin:catalog_department_changelist") + "?is_active__exact=1",
        reverse("admin:catalog_department_add"),
        _change_url(shirt.department),
        reverse("admin:catalog_supplier_changelist") + "?q=杭州",
        reverse("admin:catalog_supplier_add"),
        _change_url(c["supplier"]),
        reverse("admin:catalog_attribute_changelist"),
        reverse("admin:catalog_attribute_add"),
        reverse("admin:fulfillment_warehouse_changelist") + "?q=sh",
        reverse("admin:fulfillment_warehouse_add"),
        _change_url(stock.warehouse),
        reverse("admin:fulfillment_stock_changelist") + f"?warehouse__id__exact={stock.warehouse_id}",
        reverse("admin:fulfillment_stock_add"),
        _change_url(stock),
        reverse("admin:fulfillment_stock_import"),
        reverse("admin:fulfillment_stock_export"),
    ]


def test_every_catalogue_and_stock_admin_page_opens(staff_client, catalogue):
    failures = {}
    for url in _pages(catalogue):
        response = staff_client.get(url)
        if response.status_code != 200:
            failures[url] = response.status_code
    assert failures == {}


def test_admin_pages_are_for_staff_only(client, catalogue):
    response = client.get(_change_url(catalogue["shirt"]))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_product_search_and_filters_narrow_the_list(staff_client, catalogue):
    changelist = reverse("admin:catalog_product_changelist")

    def listed(query: str) -> set[str]:
        response = staff_client.get(changelist + query)
        assert response.status_code == 200
        return {p.name for p in response.context["cl"].result_list}

    sku = catalogue["shirt"].variants.get().sku
    assert listed("") == {"纯棉T恤", "亚麻衬衫"}
    assert listed(f"?q={sku}") == {"纯棉T恤"}  # search reaches the variants' SKUs
    assert listed("?q=亚麻") == {"亚麻衬衫"}
    assert listed("?in_stock__exact=1") == {"纯棉T恤"}
    assert listed("?in_stock__exact=0") == {"亚麻衬衫"}
    assert listed(f"?category__id__exact={catalogue['child'].pk}&in_stock__exact=0") == {"亚麻衬衫"}
    assert listed("?is_active__exact=0") == set()


def test_product_change_page_has_variant_image_and_stock_inlines(staff_client, catalogue):
    shirt = catalogue["shirt"]
    other_variant = catalogue["sold_out"].variants.get()
    response = staff_client.get(_change_url(shirt))
    inlines = {inline.formset.prefix: inline.formset for inline in response.context["inline_admin_formsets"]}
    assert set(inlines) == {"variants", "images", "stocks"}
    assert [f.instance.sku for f in inlines["variants"].forms] == [shirt.variants.get().sku]
    assert [f.instance.on_hand for f in inlines["stocks"].forms] == [12]
    # a stock row may only point at this product's own variants
    choices = inlines["stocks"].forms[0].fields["variant"].queryset
    assert list(choices) == list(shirt.variants.all())
    assert other_variant not in choices


def test_category_tree_admin_adds_a_child_node(staff_client, catalogue):
    form = _form(staff_client, reverse("admin:catalog_category_add"), "category_form")
    form["name"] = "卫衣"
    form["name_en"] = "Hoodies"
    form["slug"] = "hoodies"
    form["_position"] = "sorted-child"
    form["_ref_node_id"] = str(catalogue["root"].pk)
    response = staff_client.post(reverse("admin:catalog_category_add"), form.post_data())
    assert response.status_code == 302, _errors(response)
    hoodies = Category.objects.get(slug="hoodies")
    assert hoodies.get_parent() == catalogue["root"]
    assert {c.slug for c in catalogue["root"].get_children()} == {"t-shirts", "hoodies"}
    listing = staff_client.get(reverse("admin:catalog_category_changelist")).content.decode()
    assert "hoodies" in listing and "t-shirts" in listing


# --- query counts ------------------------------------------------------------------------


def _changelist_queries(staff_client) -> tuple[int, int]:
    url = reverse("admin:catalog_product_changelist")
    staff_client.get(url)  # warm: session, content types, permissions
    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get(url)
    assert response.status_code == 200
    return len(queries), len(response.context["cl"].result_list)


def test_product_changelist_queries_do_not_grow_with_products(staff_client, make_product):
    for _ in range(5):
        make_product()
    few, shown_few = _changelist_queries(staff_client)
    for _ in range(25):
        make_product()
    many, shown_many = _changelist_queries(staff_client)
    assert (shown_few, shown_many) == (5, 30)
    assert many == few, f"{few} queries for 5 products, {many} for 30"
    assert few <= 15


@pytest.mark.parametrize("url_name", ["admin:fulfillment_stock_changelist", "admin:catalog_productvariant_changelist"])
def test_stock_and_variant_changelists_do_not_grow_with_rows(staff_client, make_product, url_name):
    url = reverse(url_name)

    def count() -> int:
        staff_client.get(url)
        with CaptureQueriesContext(connection) as queries:
            assert staff_client.get(url).status_code == 200
        return len(queries)

    for _ in range(3):
        make_product()
    few = count()
    for _ in range(12):
        make_product()
    assert count() == few


# --- saving reaches the shop at once -------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the page cache is cleared on commit
def test_variant_price_saved_on_product_page_updates_price_and_cached_pages(client, staff_client, make_product):
    product = make_product(name="改价商品", price="100.00")
    url = product.get_absolute_url()
    assert client.get(url)["X-Page-Cache"] == "miss"
    cached = client.get(url)
    assert cached["X-Page-Cache"] == "hit" and "¥100.00" in cached.content.decode()
    client.get(reverse("catalog:all"))  # the listing is cached too

    form = _form(staff_client, _change_url(product), "product_form")
    assert form["variants-0-price"] == "100.00"
    form["variants-0-price"] = "79.50"
    response = staff_client.post(_change_url(product), form.post_data())
    assert response.status_code == 302, _errors(response)

    product.refresh_from_db()
    assert product.price == Decimal("79.50")
    page = client.get(url)
    assert page["X-Page-Cache"] == "miss"
    assert "¥79.50" in page.content.decode() and "¥100.00" not in page.content.decode()
    listing = client.get(reverse("catalog:all"))
    assert listing["X-Page-Cache"] == "miss" and "¥79.50" in listing.content.decode()


@pytest.mark.django_db(transaction=True)
def test_variant_price_saved_on_variant_page_updates_price_and_cached_page(client, staff_client, make_product):
    product = make_product(price="100.00")
    variant = product.variants.get()
    client.get(product.get_absolute_url())
    assert client.get(product.get_absolute_url())["X-Page-Cache"] == "hit"

    form = _form(staff_client, _change_url(variant), "productvariant_form")
    form["price"] = "120.00"
    form["compare_at_price"] = "150.00"
    response = staff_client.post(_change_url(variant), form.post_data())
    assert response.status_code == 302, _errors(response)

    product.refresh_from_db()
    assert (product.price, product.compare_at_price) == (Decimal("120.00"), Decimal("150.00"))
    page = client.get(product.get_absolute_url())
    assert page["X-Page-Cache"] == "miss" and "¥120.00" in page.content.decode()


def test_negative_variant_price_is_refused_in_admin(staff_client, make_product):
    product = make_product(price="100.00")
    form = _form(staff_client, _change_url(product), "product_form")
    form["variants-0-price"] = "-1.00"
    response = staff_client.post(_change_url(product), form.post_data())
    assert response.status_code == 200
    assert _errors(response)
    product.refresh_from_db()
    assert product.price == Decimal("100.00")
    assert product.variants.get().price == Decimal("100.00")


def test_stock_counted_on_product_page_sets_in_stock(staff_client, make_product, django_capture_on_commit_callbacks):
    product = make_product(stock=0)
    assert product.in_stock is False
    form = _form(staff_client, _change_url(product), "product_form")
    form["stocks-0-on_hand"] = "7"
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(_change_url(product), form.post_data())
    assert response.status_code == 302, _errors(response)
    product.refresh_from_db()
    assert product.in_stock is True
    assert Stock.objects.get(product=product).on_hand == 7


@pytest.mark.parametrize(("reserved", "on_hand"), [(0, "-1"), (4, "3")])
def test_stock_inline_refuses_counts_below_reserved(staff_client, make_product, reserved, on_hand):
    product = make_product(stock=5)
    form = _form(staff_client, _change_url(product), "product_form")
    Stock.objects.filter(product=product).update(reserved=reserved)  # an order while the page was open
    form["stocks-0-on_hand"] = on_hand
    response = staff_client.post(_change_url(product), form.post_data())
    assert response.status_code == 200
    assert list(_errors(response)) == ["stocks-0-on_hand"]
    stock = Stock.objects.get(product=product)
    assert (stock.on_hand, stock.reserved) == (5, reserved)


def test_stock_admin_sets_in_stock_and_keeps_reserved(staff_client, make_product):
    product = make_product(stock=5)
    stock = Stock.objects.get(product=product)
    Stock.objects.filter(pk=stock.pk).update(reserved=3)

    form = _form(staff_client, _change_url(stock), "stock_form")
    assert "reserved" not in form.data  # orders own it
    form["on_hand"] = "2"  # below what is reserved
    response = staff_client.post(_change_url(stock), form.post_data())
    assert response.status_code == 200
    assert _errors(response)
    stock.refresh_from_db()
    assert (stock.on_hand, stock.reserved) == (5, 3)

    form["on_hand"] = "3"  # everything left is reserved: out of stock for buyers
    response = staff_client.post(_change_url(stock), form.post_data())
    assert response.status_code == 302, _errors(response)
    stock.refresh_from_db()
    product.refresh_from_db()
    assert (stock.on_hand, stock.reserved) == (3, 3)
    assert product.in_stock is False


def test_stock_added_in_admin_takes_the_product_from_its_variant(staff_client, make_product):
    product = make_product(stock=0)
    variant = product.variants.get()
    warehouse = factories.WarehouseFactory(code="bj", name="北京仓", province="北京", city="北京")
    form = _form(staff_client, reverse("admin:fulfillment_stock_add"), "stock_form")
    form["variant"] = str(variant.pk)
    form["warehouse"] = str(warehouse.pk)
    form["on_hand"] = "4"
    response = staff_client.post(reverse("admin:fulfillment_stock_add"), form.post_data())
    assert response.status_code == 302, _errors(response)
    stock = Stock.objects.get(warehouse=warehouse)
    assert stock.product_id == product.pk
    product.refresh_from_db()
    assert product.in_stock is True


@pytest.mark.django_db(transaction=True)
def test_hide_action_clears_cached_pages(client, staff_client, make_product):
    product = make_product(name="下架商品")
    client.get(product.get_absolute_url())
    assert client.get(product.get_absolute_url())["X-Page-Cache"] == "hit"
    response = staff_client.post(
        reverse("admin:catalog_product_changelist"),
        {"action": "make_inactive", "_selected_action": [product.pk]},
    )
    assert response.status_code == 302
    assert Product.objects.get(pk=product.pk).is_active is False
    assert client.get(product.get_absolute_url()).status_code == 404


def test_stock_row_added_on_product_page_is_counted_in(staff_client, make_product):
    product = make_product(stock=0)
    variant = product.variants.get()
    warehouse = factories.WarehouseFactory(code="gz", name="广州仓", province="广东", city="广州")
    form = _form(staff_client, _change_url(product), "product_form")
    form.add_inline_row("stocks", variant=str(variant.pk), warehouse=str(warehouse.pk), on_hand="6")
    response = staff_client.post(_change_url(product), form.post_data())
    assert response.status_code == 302, _errors(response)
    assert Stock.objects.get(warehouse=warehouse).on_hand == 6
    product.refresh_from_db()
    assert product.in_stock is True


def test_a_stock_row_keeps_its_variant_and_warehouse(staff_client, make_product):
    """Moving a row would move its reservations; staff add a row for another place instead."""
    product = make_product(stock=5)
    stock = Stock.objects.get(product=product)
    home = stock.warehouse_id
    elsewhere = factories.WarehouseFactory(code="cd", name="成都仓", province="四川", city="成都")
    form = _form(staff_client, _change_url(stock), "stock_form")
    form["warehouse"] = str(elsewhere.pk)
    form["on_hand"] = "8"
    response = staff_client.post(_change_url(stock), form.post_data())
    assert response.status_code == 302, _errors(response)
    stock.refresh_from_db()
    assert (stock.warehouse_id, stock.on_hand) == (home, 8)
    assert Stock.objects.filter(product=product).count() == 1
