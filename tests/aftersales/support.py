"""Helpers for after-sales tests: orders paid for real (gateway, wallet, cash on delivery),
shipped, delivered and completed through the services, as in production."""

import io
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from fulfillment import services as fulfillment
from fulfillment.models import Shipment
from orders.models import Order
from orders.services import order_confirm_receipt
from payments.models import Payment
from payments.providers import GatewayResult
from payments.services import cod_accept, payment_apply, payment_start, wallet_pay, wallet_top_up
from tests.fulfillment.support import placed_order, stock, variant, warehouses


def shop(on_hand: int = 10, price: str = "100.00", **product):
    """Warehouses in four cities and one variant stocked in Shanghai."""
    places = warehouses()
    v = variant(price=price, **product)
    stock(places["sh"], v, on_hand)
    return places, v


def pay_by_gateway(order: Order) -> Payment:
    """The customer pays at the sandbox gateway and its notification arrives."""
    payment_start(order=order, provider="sandbox", return_url="http://x/r", notify_url="http://x/n")
    payment = Payment.objects.filter(order=order, provider="sandbox").latest("pk")
    result = GatewayResult(
        reference=payment.reference, transaction_id=f"T-{payment.reference}", amount=order.total,
        currency=order.currency, merchant_id="", succeeded=True,
    )  # fmt: skip
    return payment_apply(payment_id=payment.pk, result=result)


def paid(items, *, how: str = "sandbox", **kwargs) -> Order:
    """An order placed and paid: "sandbox" (gateway), "wallet" (topped up first) or "cod"."""
    order = placed_order(items, payment_method=how, **kwargs)
    if how == "sandbox":
        pay_by_gateway(order)
    elif how == "wallet":
        wallet_top_up(user=order.customer, amount=order.total + Decimal("100.00"), reference="test top-up")
        wallet_pay(order_id=order.pk, user=order.customer)
    else:
        cod_accept(order_id=order.pk, user=order.customer)
    order.refresh_from_db()
    return order


def ship_all(order: Order, *, deliver: bool = True, cash: bool = True) -> None:
    """Pack and ship every open parcel with the own fleet; deliver them (collecting any cash)."""
    for parcel in order.shipments.filter(status__in=Shipment.OPEN, kind=Shipment.Kind.OUTBOUND):
        fulfillment.shipment_pack(shipment_id=parcel.pk)
        fulfillment.shipment_ship(shipment_id=parcel.pk, carrier="own_fleet")
        if deliver:
            parcel.refresh_from_db()
            fulfillment.shipment_record_event(
                shipment_id=parcel.pk, kind="delivered", signed_by="本人",
                cod_collected=parcel.cod_amount if parcel.cod_amount and cash else None,
            )  # fmt: skip
    order.refresh_from_db()


def completed(items, **kwargs) -> Order:
    order = paid(items, **kwargs)
    ship_all(order)
    order_confirm_receipt(order_id=order.pk, customer=order.customer)
    order.refresh_from_db()
    return order


def photo(name: str = "p.jpg", size=(400, 300), fmt: str = "JPEG", exif: bytes | None = None) -> SimpleUploadedFile:
    out = io.BytesIO()
    image = Image.new("RGB", size, (200, 40, 40))
    if exif is not None:
        image.save(out, fmt, exif=exif)
    else:
        image.save(out, fmt)
    return SimpleUploadedFile(name, out.getvalue(), content_type="image/jpeg")


def line_of(order: Order, v=None):
    lines = list(order.lines.all())
    return next(x for x in lines if v is None or x.variant_id == v.pk)
