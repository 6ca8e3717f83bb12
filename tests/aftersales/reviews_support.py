"""Helpers for review tests: completed orders written straight to the database (the purchase
path itself is tested elsewhere; one review test also goes through it), and photos."""

import io
import uuid
from datetime import timedelta
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from orders.models import Order, OrderLine
from tests import factories


def completed_order(variants, *, customer=None, completed_at=None, status=Order.Status.COMPLETED) -> Order:
    """An order of one unit of each variant, completed at `completed_at` (default now)."""
    customer = customer or factories.UserFactory()
    completed_at = completed_at or timezone.now()
    subtotal = sum((v.price for v in variants), Decimal("0"))
    order = Order.objects.create(
        number=f"R{uuid.uuid4().hex[:12].upper()}",
        customer=customer,
        cart_token=uuid.uuid4(),
        status=status,
        currency="CNY",
        subtotal=subtotal,
        total=subtotal,
        shipping_method=Order.ShippingMethod.STANDARD,
        payment_method=Order.PaymentMethod.SANDBOX,
        placed_at=completed_at - timedelta(days=5),
        pay_by=completed_at - timedelta(days=5) + timedelta(minutes=30),
        paid_at=completed_at - timedelta(days=5),
        completed_at=completed_at if status == Order.Status.COMPLETED else None,
        recipient="张三",
        phone="13800138000",
        province="上海",
        city="上海",
        street="世纪大道1号",
    )
    for v in variants:
        OrderLine.objects.create(
            order=order,
            variant=v,
            product_id_snapshot=v.product_id,
            department_id_snapshot=v.product.department_id,
            product_name=v.product.name,
            variant_label=f"颜色: {v.sku}",
            sku=v.sku,
            unit_price=v.price,
            quantity=1,
            line_total=v.price,
        )
    return order


def variants_of_one_product(n: int):
    product = factories.ProductFactory()
    return [factories.VariantFactory(product=product) for _ in range(n)]


def photo(*, name: str = "p.jpg", size=(400, 300), fmt: str = "JPEG", exif: bytes | None = None):
    out = io.BytesIO()
    image = Image.new("RGB", size, (40, 120, 200))
    if exif is not None:
        image.save(out, fmt, exif=exif)
    else:
        image.save(out, fmt)
    return SimpleUploadedFile(name, out.getvalue(), content_type=f"image/{fmt.lower()}")


def gps_exif() -> bytes:
    """EXIF with a camera serial and a GPS position, as a phone writes them."""
    exif = Image.Exif()
    exif[0xA431] = "SERIAL-12345"  # BodySerialNumber
    exif[0x010F] = "PhoneMaker"  # Make
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (31.0, 14.0, 0.0)
    return exif.tobytes()
