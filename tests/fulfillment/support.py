"""Helpers for fulfillment tests: warehouses in four cities, counted stock, paid orders."""

from decimal import Decimal

from fulfillment import services
from fulfillment.models import Warehouse
from orders.models import Order
from orders.services import order_mark_paid
from tests import factories
from tests.purchase import buyer_with_cart, place

CITIES = {"bj": ("北京", "北京"), "sh": ("上海", "上海"), "gz": ("广东", "广州"), "cd": ("四川", "成都")}


def warehouses() -> dict[str, Warehouse]:
    """Beijing, Shanghai, Guangzhou and Chengdu warehouses (coordinates filled from the city)."""
    return {
        code: Warehouse.objects.get_or_create(
            code=code, defaults={"name": f"{city}仓", "province": province, "city": city}
        )[0]
        for code, (province, city) in CITIES.items()
    }


def variant(*, price: str = "50.00", weight: int = 500, **product):
    """An active product with one variant and no stock yet."""
    product_obj = factories.ProductFactory(price=Decimal(price), **product)
    return factories.VariantFactory(product=product_obj, price=Decimal(price), weight_grams=weight)


def stock(warehouse: Warehouse, variant, on_hand: int):
    """Count stock in through the service, so the movement is written like in production."""
    return services.stock_set_on_hand(warehouse_id=warehouse.pk, variant_id=variant.pk, on_hand=on_hand)


def placed_order(items, *, province="上海", city="上海", payment_method="sandbox", insured=False, email=None):
    """A customer in `city` places an order for items [(variant, qty)]: stock is reserved."""
    user, address, cart = buyer_with_cart(items, email=email)
    address.province, address.city = province, city
    address.save()
    return place(user, address, cart, payment_method=payment_method, insured=insured)


def paid_order(items, **kwargs) -> Order:
    """A placed order, paid (or, with payment_method="cod", accepted for cash on delivery):
    it has its parcels."""
    order = placed_order(items, **kwargs)
    if order.payment_method == Order.PaymentMethod.COD:
        from payments.services import cod_accept

        cod_accept(order_id=order.pk, user=order.customer)
    else:
        order_mark_paid(order_id=order.pk, amount=order.total, reference="test-payment")
    order.refresh_from_db()
    return order
