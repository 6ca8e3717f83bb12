"""factory_boy factories for the catalogue and stock."""

from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from catalog import models as catalog
from fulfillment import models as fulfillment


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("email",)

    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    username = factory.SelfAttribute("email")
    password = factory.django.Password("correct horse battery staple")


class DepartmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = catalog.Department
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"dept{n}")
    name = factory.Sequence(lambda n: f"部门{n}")
    name_en = factory.Sequence(lambda n: f"Department {n}")


class BrandFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = catalog.Brand

    name = factory.Sequence(lambda n: f"品牌{n}")
    name_en = factory.Sequence(lambda n: f"Brand{n}")
    slug = factory.Sequence(lambda n: f"brand-{n}")
    manufacturer = factory.Sequence(lambda n: f"品牌{n}实业有限公司")
    manufacturer_en = factory.Sequence(lambda n: f"Brand{n} Industrial Co., Ltd.")


class CategoryFactory(factory.django.DjangoModelFactory):
    """A root category; pass parent=... for a child (created through treebeard)."""

    class Meta:
        model = catalog.Category

    name = factory.Sequence(lambda n: f"类目{n}")
    name_en = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")

    @classmethod
    def _create(cls, model_class, *args, parent=None, **kwargs):
        if parent is not None:
            return parent.add_child(**kwargs)
        return model_class.add_root(**kwargs)


class AttributeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = catalog.Attribute
        django_get_or_create = ("code",)

    code = "colour"
    name = "颜色"
    name_en = "Colour"


class AttributeValueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = catalog.AttributeValue
        django_get_or_create = ("attribute", "value")

    attribute = factory.SubFactory(AttributeFactory)
    value = factory.Sequence(lambda n: f"值{n}")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = catalog.Product

    name = factory.Sequence(lambda n: f"商品{n}")
    # A test that names its product in English ("Old mug") means that name on English pages too.
    name_en = factory.LazyAttributeSequence(lambda o, n: o.name if o.name.isascii() else f"Product {n}")
    slug = factory.Sequence(lambda n: f"product-{n}")
    category = factory.SubFactory(CategoryFactory)
    brand = factory.SubFactory(BrandFactory)
    department = factory.SubFactory(DepartmentFactory, code="apparel")
    price = Decimal("99.00")
    in_stock = True

    class Params:
        # ProductFactory(bilingual=True): every text a customer reads, in both languages.
        bilingual = factory.Trait(
            summary=factory.Sequence(lambda n: f"商品{n}的简介"),
            summary_en=factory.Sequence(lambda n: f"Product {n} in brief"),
            description=factory.Sequence(lambda n: f"商品{n}的详细介绍。"),
            description_en=factory.Sequence(lambda n: f"All about product {n}."),
            specifications=factory.LazyFunction(
                lambda: [{"name": "产地", "name_en": "Origin", "value": "浙江", "value_en": "Zhejiang"}]
            ),
        )


class VariantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = catalog.ProductVariant

    product = factory.SubFactory(ProductFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    price = Decimal("99.00")


class WarehouseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = fulfillment.Warehouse
        django_get_or_create = ("code",)

    code = "sh"
    name = "上海仓"
    name_en = "Shanghai warehouse"
    province = "上海"
    city = "上海"
    city_en = "Shanghai"


class StockFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = fulfillment.Stock

    warehouse = factory.SubFactory(WarehouseFactory)
    variant = factory.SubFactory(VariantFactory)
    product = factory.SelfAttribute("variant.product")
    on_hand = 20


def _place_codes(address) -> tuple[str, str, str]:
    """The division codes of a factory address's names, as the address form stores them. A test's
    own place without its district (新疆 乌鲁木齐) gets its province and city codes, so the pages
    take it as chosen from the lists; names that match nothing (火星) get none."""
    from shop.core import divisions

    place = divisions.place_match(province=address.province, city=address.city, district=address.district)
    if place is not None:
        return place.province.code, place.city.code, place.district.code if place.district else ""
    province = divisions.province_find(address.province)
    city = divisions.city_find(province, address.city) if province else None
    return (province.code, city.code, "") if city else ("", "", "")


class AddressFactory(factory.django.DjangoModelFactory):
    """A valid address of the book by default: a place of the national divisions with its codes,
    a mainland mobile number in the stored form."""

    class Meta:
        model = "shop.Address"

    user = factory.SubFactory(UserFactory)
    recipient = "张三"
    phone = "13800138000"
    province = "上海市"
    city = "上海市"
    district = "浦东新区"
    street = factory.Sequence(lambda n: f"世纪大道{n}号")
    postcode = "200120"
    is_default = True
    province_code = factory.LazyAttribute(lambda o: _place_codes(o)[0])
    city_code = factory.LazyAttribute(lambda o: _place_codes(o)[1])
    district_code = factory.LazyAttribute(lambda o: _place_codes(o)[2])


class CouponFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "orders.Coupon"

    code = factory.Sequence(lambda n: f"SAVE{n}")
    kind = "fixed"
    value = Decimal("10.00")
