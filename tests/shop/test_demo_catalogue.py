"""The demo catalogue reads like a real shop: product names come from their own category's
words (no aluminium mooncake, no ceramic headphones), every text a customer reads exists in
both languages, and the photos differ by category and colour."""

import random
import re

import pytest
from django.core.files.storage import default_storage
from django.utils import translation

from catalog.models import AttributeValue, Brand, Category, Department, Product, ProductImage
from fulfillment.models import Warehouse
from shop import demo_catalogue as words
from shop.demo import DemoBuilder, SeedReport

CJK = re.compile(r"[\u3400-\u9fff]")
METALS = {"铝合金", "不锈钢", "铸铁", "钛合金"}
FABRICS = {"纯棉", "涤纶", "羊毛", "真丝", "尼龙", "亚麻", "雪纺", "羊绒", "莫代尔", "牛仔布", "天丝", "氨纶"}
# What must never be said of a product of these kinds.
FORBIDDEN = {
    "sweets": METALS | FABRICS | {"陶瓷", "硅胶"},
    "nuts": METALS | FABRICS | {"陶瓷", "硅胶"},
    "green-tea": METALS | FABRICS,
    "black-tea": METALS | FABRICS,
    "headphones": {"陶瓷", "骨瓷", "真丝", "羊毛"} | FABRICS,
    "speakers": {"陶瓷", "骨瓷"} | FABRICS,
    "smartphones": {"陶瓷", "纯棉", "真丝", "羊毛"},
    "cookware": FABRICS | {"陶瓷", "硅胶"},
    "tableware": FABRICS | METALS,
    "cleansers": METALS | FABRICS,
    "creams": METALS | FABRICS,
}


def test_every_category_names_its_products_from_its_own_words():
    rng = random.Random(1)
    seen = set()
    for root, leaf in words.leaves():
        for _ in range(200):
            text, trait = words.product_text(rng, root, leaf, ("优品", "Youpin"))
            assert trait in leaf.traits
            assert trait[0] not in FORBIDDEN.get(leaf.code, set()), (leaf.code, text["name"])
            assert any(noun in text["name"] for noun, _en in leaf.nouns), text["name"]
            assert trait[0] in text["name"] and trait[1] in text["name_en"]
            for key in ("name_en", "summary_en", "description_en"):
                assert not CJK.search(text[key]), text[key]
            for row in text["specifications"]:
                assert row["name"] and row["value"] and row["name_en"] and row["value_en"]
                assert not CJK.search(row["name_en"] + row["value_en"])
            seen.add((leaf.code, trait[0]))
    # the two the issue found
    assert ("sweets", "铝合金") not in seen and ("headphones", "陶瓷") not in seen
    # Every leaf's trait attribute is its root's, and its sizes a known attribute.
    for root, leaf in words.leaves():
        assert root.trait in words.ATTRIBUTES
        assert not leaf.sizes or leaf.sizes[0] in words.ATTRIBUTES
        assert set(leaf.colours) <= set(words.COLOURS)


@pytest.mark.django_db
def test_the_demo_catalogue_is_bilingual_and_its_photos_differ(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.MEDIA_ROOT = tmp_path / "media"
    builder = DemoBuilder(products=40, progress=False)
    builder._reference_data()
    builder._images()
    builder._products(SeedReport())

    for department in Department.objects.all():
        assert CJK.search(department.name) and department.name_en and not CJK.search(department.name_en)
        assert "counter" not in department.name
    for category in Category.objects.all():
        assert category.name_en
    for brand in Brand.objects.all():
        assert brand.manufacturer_en and not CJK.search(brand.manufacturer_en)
    for value in AttributeValue.objects.all():
        assert value.value_en and not CJK.search(value.value_en)
    for warehouse in Warehouse.objects.all():
        assert warehouse.city_en and warehouse.name_en
    products = list(Product.objects.select_related("category").prefetch_related("attribute_values"))
    assert len(products) == 40
    leaf_of = {leaf.code: (root, leaf) for root, leaf in words.leaves()}
    for product in products:
        root, leaf = leaf_of[product.category.slug]
        assert any(noun in product.name for noun, _en in leaf.nouns)
        for field in ("name_en", "summary_en", "description_en"):
            assert getattr(product, field) and not CJK.search(getattr(product, field)), (field, product.pk)
        with translation.override("en"):
            assert not any(CJK.search(label + value) for label, value in product.display_specifications)
        traits = {v.value for v in product.attribute_values.all() if v.attribute.code == root.trait}
        assert len(traits) == 1 and traits.pop() in product.name

    images = list(ProductImage.objects.select_related("product__category", "variant"))
    assert all(image.alt and image.alt_en and not CJK.search(image.alt_en) for image in images)
    # One photo per category and colour: two categories, or two colours, never share a file.
    by_name: dict[str, set] = {}
    for image in images:
        options = image.variant.options.all() if image.variant else []
        colour = next((o.value_en for o in options if o.attribute.code == "colour"), None)
        by_name.setdefault(image.image.name, set()).add((image.product.category.slug, colour))
    assert all(len(keys) == 1 for keys in by_name.values()), by_name
    files = {default_storage.open(name).read() for name in by_name}
    assert len(files) == len(by_name)  # the pictures themselves differ
