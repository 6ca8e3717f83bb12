"""The product change page stays light however large the catalogue: relations that grow with it
(brand, category, supplier, attribute values, variant options) are search-as-you-type widgets,
and the inline rows (variants, images, stock) offer this product's own choices only. Before, an
image row listed every variant of the shop (915 options on the demo data; 207-265 KB a page)."""

import re

import pytest
from django.core.files.base import ContentFile

from catalog.models import AttributeValue, Brand, Category, ProductImage, ProductVariant, Supplier
from fulfillment import services as fulfillment_services
from tests import factories
from tests.catalog.support import image_bytes

pytestmark = pytest.mark.django_db

MAX_OPTIONS = 50
MAX_KB = 120
N = 120  # of each relation that grows with the catalogue: more than MAX_OPTIONS


def _selects(html: str) -> dict[str, int]:
    """name of each <select> -> its number of options."""
    found = {}
    for match in re.finditer(r"<select\b([^>]*)>(.*?)</select>", html, re.S):
        name = re.search(r'name="([^"]*)"', match.group(1))
        found[name.group(1) if name else "?"] = match.group(2).count("<option")
    return found


@pytest.fixture
def big_catalogue():
    """A catalogue larger than the page may list: 120 of brands, categories, suppliers,
    attribute values and variants of other products.

    The categories are named in the order they are added. Category keeps its siblings sorted by
    name (treebeard's node_order_by), so a root that sorts before others moves each of them with
    an UPDATE of its own, and every such statement rebuilds the facet roll-up (migration 0015's
    trigger) in this test's one transaction: "类目10" before "类目9" made this fixture run minutes
    on a loaded machine. Added in name order, each one is a single INSERT at the end."""
    department = factories.DepartmentFactory(code="apparel")
    colour = factories.AttributeFactory()
    for n in range(N):
        category = factories.CategoryFactory(name=f"类目{n:03d}")
        factories.VariantFactory(product__department=department, product__category=category)  # its own brand
        factories.AttributeValueFactory(attribute=colour, value=f"颜色{n}")
        Supplier.objects.create(name=f"供应商{n}")
    warehouse = factories.WarehouseFactory()
    product = factories.ProductFactory(department=department, category=category)
    variants = [factories.VariantFactory(product=product) for _ in range(3)]
    for v in variants:
        fulfillment_services.stock_set_on_hand(warehouse_id=warehouse.pk, variant_id=v.pk, on_hand=5)
    for model in (Brand, Category, Supplier, AttributeValue):  # more than a page may list, each
        assert model.objects.count() >= N, model
    assert ProductVariant.objects.exclude(product=product).count() >= N
    return product, variants


def test_the_product_change_page_has_no_large_drop_down_and_stays_light(admin_client, media_root, big_catalogue):
    product, variants = big_catalogue
    for n, v in enumerate(variants):
        image = ProductImage(product=product, variant=v, position=n)
        image.image.save(f"front{n}.jpg", ContentFile(image_bytes("JPEG", (40, 40))), save=True)

    response = admin_client.get(f"/admin/catalog/product/{product.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    selects = _selects(html)
    too_big = {name: n for name, n in selects.items() if n > MAX_OPTIONS}
    assert not too_big, too_big
    assert len(response.content) < MAX_KB * 1024, f"{len(response.content) // 1024} KB"
    # The large relations search as you type (Django's select2 widget, fed by the admin's
    # autocomplete view), and each image row offers this product's variants only.
    for name in ("brand", "category", "supplier", "attribute_values"):
        assert re.search(rf'<select name="{name}"[^>]*admin-autocomplete', html), name
    assert selects["images-0-variant"] == len(variants) + 1  # the three, and "---------"
    assert selects["variants-0-options"] <= 1  # autocomplete: only the chosen options are rendered


def test_the_add_page_too(admin_client, big_catalogue):
    response = admin_client.get("/admin/catalog/product/add/")
    assert response.status_code == 200
    assert not {name: n for name, n in _selects(response.content.decode()).items() if n > MAX_OPTIONS}
    assert len(response.content) < MAX_KB * 1024
