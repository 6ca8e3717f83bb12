"""Builds a realistic demo catalogue: departments, a three-level category tree, brands,
attributes, products with variants, images and stock in several warehouses.

Large runs (100,000 products) use bulk inserts in batches and reuse a small set of
generated images, so the whole build takes minutes, not hours.
"""

import io
import random
import re
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from easy_thumbnails.files import get_thumbnailer
from PIL import Image, ImageDraw

from catalog.models import (
    Attribute,
    AttributeValue,
    Brand,
    Category,
    CommissionRate,
    Department,
    Product,
    ProductImage,
    ProductVariant,
    Supplier,
)
from catalog.services import search_index
from fulfillment.models import Stock, StockMovement, Warehouse
from orders.sales_count import sales_baseline_set, sales_count_refresh
from shop import demo_catalogue as words

# The catalogue's words (categories, product names, traits, colours, sizes) in both languages
# are in shop.demo_catalogue: each category draws only from its own lists.
BRAND_SYLLABLES = ["优", "品", "星", "禾", "木", "云", "川", "悦", "美", "佳", "新", "华", "安", "乐", "康", "盛"]
BRAND_EN = [
    "you",
    "pin",
    "xing",
    "he",
    "mu",
    "yun",
    "chuan",
    "yue",
    "mei",
    "jia",
    "xin",
    "hua",
    "an",
    "le",
    "kang",
    "sheng",
]
WAREHOUSE_EMAIL = "warehouse@example.com"
SERVICE_EMAIL = "service@example.com"  # customer service: after-sales requests, reviews
FINANCE_EMAIL = "finance@example.com"  # refunds and payouts, payments, wallets, statements
CATALOGUE_EMAIL = "catalogue@example.com"  # products, prices, categories, import/export
DEPARTMENT_EMAIL = "department@example.com"  # one department's products, sales and statements, read only
DEMO_CUSTOMER = "customer@example.com"
# The demo customer's wallet holds this, topped up through the ledger (a top-up entry), so the
# wallet can pay at checkout; and coupons to try in the cart: code, kind, value, minimum spend,
# uses per customer, and how `make run` describes them.
DEMO_WALLET_TOP_UP = Decimal("500.00")
DEMO_WALLET_REFERENCE = "DEMO-TOPUP"
DEMO_COUPONS = [
    ("WELCOME20", "fixed", "20.00", "99.00", 1, "¥20 off orders of ¥99 or more, once"),
    ("VIP10", "percent", "10", "300.00", 3, "10% off orders of ¥300 or more, three times"),
]

PROVINCES = [  # code, name, English name, province, city, English city
    ("bj", "北京仓", "Beijing warehouse", "北京", "北京", "Beijing"),
    ("sh", "上海仓", "Shanghai warehouse", "上海", "上海", "Shanghai"),
    ("gz", "广州仓", "Guangzhou warehouse", "广东", "广州", "Guangzhou"),
    ("cd", "成都仓", "Chengdu warehouse", "四川", "成都", "Chengdu"),
]


@dataclass
class SeedReport:
    products: int = 0
    variants: int = 0
    stock_rows: int = 0
    admin_email: str = ""
    admin_password: str = ""


def _progress(total: int, label: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit="product", disable=not enabled, dynamic_ncols=True)


def _pictogram(draw: ImageDraw.ImageDraw, kind: str, fill, outline) -> None:
    """A department's pictogram on an 800 px card: a T-shirt, a phone, a mug, a mooncake, a
    bottle or a running shoe."""
    style = {"fill": fill, "outline": outline, "width": 12}
    if kind == "clothing":
        draw.polygon([(250, 170), (330, 140), (400, 190), (470, 140), (550, 170), (650, 290), (570, 350),
                      (540, 320), (540, 620), (260, 620), (260, 320), (230, 350), (150, 290)], **style)  # fmt: skip
    elif kind == "electronics":
        draw.rounded_rectangle([270, 120, 530, 640], radius=40, **style)
        draw.ellipse([380, 570, 420, 610], fill=outline)
    elif kind == "home":
        draw.ellipse([480, 280, 640, 480], outline=outline, width=28)
        draw.rounded_rectangle([200, 200, 540, 600], radius=30, **style)
    elif kind == "food":
        draw.ellipse([170, 170, 630, 630], **style)
        draw.ellipse([290, 290, 510, 510], outline=outline, width=10)
    elif kind == "beauty":
        draw.rectangle([350, 120, 450, 220], fill=outline)
        draw.rounded_rectangle([250, 220, 550, 640], radius=50, **style)
    else:  # sports
        draw.polygon([(140, 520), (180, 330), (320, 360), (400, 440), (640, 480), (680, 560), (140, 580)], **style)


def _image_bytes(colour: tuple[int, int, int], kind: str, label: str) -> bytes:
    """A product photo stand-in: the department's pictogram in the variant's colour on a card,
    captioned with the category."""
    size = 800
    image = Image.new("RGB", (size, size), tuple(min(255, c + 60) for c in colour))
    draw = ImageDraw.Draw(image)
    _pictogram(draw, kind, colour, tuple(max(0, c - 60) for c in colour))
    draw.text((40, size - 80), label, fill=(20, 20, 20), font_size=44)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


class DemoBuilder:
    def __init__(self, *, products: int, seed: int = 7, progress: bool = True, stdout=None) -> None:
        self.target = products
        self.rng = random.Random(seed)
        self.progress = progress
        self.stdout = stdout

    def build(self) -> SeedReport:
        report = SeedReport()
        with transaction.atomic():
            self._reference_data()
        self._images()
        self._products(report)
        report.admin_email, report.admin_password = self._admin()
        if 0 < self.target <= 5000:  # the benchmark's big catalogue needs no orders
            self._orders()
            self._aftersales()
            self._settlement()
            sales_count_refresh(full=True)  # the demo's orders in the counts (beat's task; `make run` has no beat)
            self._recommendations()
            self._wallet_and_coupons()
        return report

    def _wallet_and_coupons(self) -> None:
        """The demo customer's wallet topped up (once: a re-run finds its entry) and the demo
        coupons (kept as they are if they exist: staff may have changed them)."""
        from django.contrib.auth import get_user_model

        from orders.models import Coupon
        from payments.models import WalletEntry
        from payments.services import wallet_top_up

        for code, kind, value, min_spend, per_customer, _text in DEMO_COUPONS:
            Coupon.objects.get_or_create(
                code=code,
                defaults={"kind": kind, "value": Decimal(value), "min_spend": Decimal(min_spend),
                          "per_customer_limit": per_customer},
            )  # fmt: skip
        customer = get_user_model().objects.filter(email=DEMO_CUSTOMER).first()
        topped_up = WalletEntry.objects.filter(wallet__user=customer, reference=DEMO_WALLET_REFERENCE).exists()
        if customer is not None and not topped_up:
            wallet_top_up(user=customer, amount=DEMO_WALLET_TOP_UP, reference=DEMO_WALLET_REFERENCE)

    def _recommendations(self) -> None:
        """The demo customer has looked at a few products (their recently viewed list), and the
        recommendations task runs once, so the home page shows "for you" and the products of the
        demo orders show "bought together" (beat recomputes them hourly; `make run` has no beat)."""
        from django.contrib.auth import get_user_model

        from catalog.services import product_recently_viewed_record
        from orders.recommendations import recommendations_refresh

        customer = get_user_model().objects.filter(email=DEMO_CUSTOMER).first()
        if customer is not None:
            viewed = Product.objects.filter(is_active=True).order_by("-view_count", "pk").values_list("pk", flat=True)
            for product_id in reversed(viewed[:6]):
                product_recently_viewed_record(customer_id=customer.pk, product_id=product_id)
        recommendations_refresh()

    def _orders(self) -> None:
        """A demo customer with orders in every fulfillment state, so staff have parcels to
        pick, pack and ship, and the customer has one to follow; and a purchase order on its
        way. Done once (skipped when the customer exists)."""
        from django.contrib.auth import get_user_model

        from cart.models import Cart
        from cart.services import Shown, checkout_place_order
        from fulfillment import services as fulfillment
        from fulfillment.models import PurchaseOrder, Shipment
        from orders.services import order_mark_paid
        from payments.services import cod_accept
        from shop.models import Address

        User = get_user_model()
        if User.objects.filter(email=DEMO_CUSTOMER).exists():
            return
        password = (settings.VAR_DIR / "admin-password.txt").read_text().strip()
        customer = User.objects.create_user(email=DEMO_CUSTOMER, password=password)
        address = Address.objects.create(
            user=customer, recipient="李雷", phone="13800138000", province="江苏省", city="南京市",
            district="鼓楼区", street="中山北路 100 号", is_default=True,
            province_code="320000", city_code="320100", district_code="320106",  # GB/T 2260 (shop.core.divisions)
        )  # fmt: skip
        in_stock = list(
            ProductVariant.objects.filter(is_active=True, stocks__on_hand__gte=20).distinct().order_by("pk")[:12]
        )
        orders = []
        for i in range(4):
            cart = Cart.objects.create(user=customer)
            for variant in in_stock[i * 3 : i * 3 + 2]:
                cart.lines.create(variant=variant, quantity=1 + i % 2, price_seen=variant.price)
            order = checkout_place_order(
                cart_token=cart.token, customer=customer, address_id=address.pk, shipping_method="standard",
                insured=i == 1, payment_method="cod" if i == 3 else "sandbox", expected_total=Shown.NO_PAGE,
            )  # fmt: skip
            if i < 3:
                order_mark_paid(order_id=order.pk, amount=order.total, reference=f"DEMO{i}")
            else:
                cod_accept(order_id=order.pk, user=customer)
            orders.append(order)
        # Order 0 waits to be packed; order 1 is packed; order 2 has left with our own fleet.
        for parcel in Shipment.objects.filter(order=orders[1]):
            fulfillment.shipment_pack(shipment_id=parcel.pk)
        for parcel in Shipment.objects.filter(order=orders[2]):
            fulfillment.shipment_ship(shipment_id=parcel.pk, carrier="own_fleet")
            fulfillment.shipment_record_event(
                shipment_id=parcel.pk, kind="in_transit", location=parcel.warehouse.city,
                description=f"快件已从{parcel.warehouse.name}发出",
            )  # fmt: skip
        if self.suppliers and self.warehouses and in_stock:
            po = PurchaseOrder.objects.create(
                number=fulfillment.purchase_order_number_new(), supplier=self.suppliers[0],
                warehouse=self.warehouses[0], note="demo",
            )  # fmt: skip
            for variant in in_stock[:3]:
                po.lines.create(
                    variant=variant, quantity=50, unit_cost=(variant.price * 6 / 10).quantize(variant.price)
                )
            fulfillment.purchase_order_place(po_id=po.pk)

    def _completed_order(self, customer, address, items, *, reference: str):
        """An order placed, paid, shipped with our own fleet, delivered and confirmed by the
        customer, through the services as in production. `items`: [(variant, quantity)]."""
        from cart.models import Cart
        from cart.services import Shown, checkout_place_order
        from fulfillment import services as fulfillment
        from fulfillment.models import Shipment
        from orders.services import order_confirm_receipt
        from payments.services import wallet_pay, wallet_top_up

        cart = Cart.objects.create(user=customer)
        for variant, quantity in items:
            cart.lines.create(variant=variant, quantity=quantity, price_seen=variant.price)
        order = checkout_place_order(
            cart_token=cart.token, customer=customer, address_id=address.pk, shipping_method="standard",
            insured=False, payment_method="wallet", expected_total=Shown.NO_PAGE,
        )  # fmt: skip
        # Paid from the wallet, topped up for it: a real payment, so the books of the monthly
        # settlement agree (it checks every order's payments).
        wallet_top_up(user=customer, amount=order.total, reference=reference)
        wallet_pay(order_id=order.pk, user=customer)
        for parcel in Shipment.objects.filter(order=order, status__in=Shipment.OPEN):
            fulfillment.shipment_pack(shipment_id=parcel.pk)
            fulfillment.shipment_ship(shipment_id=parcel.pk, carrier="own_fleet")
            fulfillment.shipment_record_event(shipment_id=parcel.pk, kind="delivered", signed_by="本人")
        return order_confirm_receipt(order_id=order.pk, customer=customer)

    def _aftersales(self) -> None:
        """After-sales and reviews to look at: the demo customer has a completed order with one
        line reviewed and one still to review, and a return awaiting the shop on another; a few
        other customers have reviewed the two most popular products (one review with a photo,
        one with a follow-up), so their pages show a rating. Done once (skipped when the demo
        customer has reviewed anything)."""
        from django.contrib.auth import get_user_model
        from django.core.files.uploadedfile import SimpleUploadedFile

        from aftersales.models import AfterSale, Review
        from aftersales.services.requests import aftersale_open
        from aftersales.services.reviews import review_create, review_followup
        from shop.models import Address

        User = get_user_model()
        customer = User.objects.filter(email=DEMO_CUSTOMER).first()
        if customer is None or Review.objects.filter(customer=customer).exists():
            return
        address = Address.objects.filter(user=customer).first()

        # One variant per product, the most popular products first, with enough to sell (topped
        # up by a stock count when short: the demo's random stock may leave a best seller low).
        from fulfillment.services import stock_set_on_hand

        popular, products = [], set()
        rows = (
            Stock.objects.filter(variant__is_active=True, variant__product__is_active=True)
            .select_related("variant__product")
            .order_by("-variant__product__sales_count", "variant__product_id", "variant_id", "pk")
        )
        for row in rows[:200]:
            if row.variant.product_id in products or len(popular) == 4:
                continue
            products.add(row.variant.product_id)
            popular.append(row.variant)
            if row.on_hand - row.reserved < 20:
                stock_set_on_hand(
                    warehouse_id=row.warehouse_id, variant_id=row.variant_id, on_hand=row.reserved + 20,
                    note="demo: stock for the after-sales examples",
                )  # fmt: skip
        if len(popular) < 4:
            return

        def photo(colour, name):
            buffer = io.BytesIO()
            image = Image.new("RGB", (640, 480), colour)
            ImageDraw.Draw(image).rounded_rectangle([160, 120, 480, 360], radius=40, fill=(250, 250, 245))
            image.save(buffer, "JPEG", quality=85)
            return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/jpeg")

        # The demo customer: the best seller reviewed, the second one not yet (the order page
        # shows "Review"); the fourth returned for a fault, awaiting the shop.
        order = self._completed_order(customer, address, [(popular[0], 1), (popular[1], 1)], reference="DEMO-R1")
        lines = {line.variant_id: line for line in order.lines.all()}
        review_create(
            order_line_id=lines[popular[0].pk].pk, customer=customer, rating=5,
            text="做工很好,和图片一样,物流也快。会再买。",
        )  # fmt: skip
        order = self._completed_order(customer, address, [(popular[3], 1)], reference="DEMO-R2")
        aftersale_open(
            order_id=order.pk, customer=customer, kind=AfterSale.Kind.RETURN, reason=AfterSale.Reason.QUALITY,
            quantities={order.lines.get().pk: 1}, description="收到后发现边角开裂,申请退货。",
            photos=[photo((180, 90, 60), "crack.jpg")], refund_to=AfterSale.RefundTo.WALLET,
        )  # fmt: skip

        # Other customers' reviews of the two best sellers: good, neutral and bad.
        reviewers = [
            ("王", "芳", 5, "质量超出预期,颜色很正。", True, ""),
            ("张", "伟", 4, "整体不错,就是包装有点简陋。", False, "用了两周,依然很好,推荐。"),
            ("刘", "洋", 5, "", False, ""),
            ("陈", "静", 3, "一般般,和描述略有差别。", False, ""),
            ("赵", "磊", 2, "尺寸偏小,不太满意。", False, ""),
        ]
        for i, (last, first, rating, text, with_photo, followup) in enumerate(reviewers):
            email = f"reviewer{i + 1}@example.com"
            user = User.objects.filter(email=email).first() or User.objects.create_user(
                email=email, first_name=first, last_name=last
            )
            place = Address.objects.create(
                user=user, recipient=last + first, phone=f"1390000{i:04d}", province="上海市", city="上海市",
                district="浦东新区", street=f"世纪大道 {i + 1} 号", is_default=True,
                province_code="310000", city_code="310100", district_code="310115",
            )  # fmt: skip
            order = self._completed_order(user, place, [(popular[0], 1), (popular[2], 1)], reference=f"DEMO-V{i}")
            for line in order.lines.all():
                review = review_create(
                    order_line_id=line.pk, customer=user, rating=rating, text=text,
                    photos=[photo((60 + 30 * i, 120, 160), "photo.jpg")] if with_photo else [],
                )  # fmt: skip
                if followup:
                    review_followup(review_id=review.pk, customer=user, text=followup)

    def _settlement(self) -> None:
        """Last month settled, so finance and a department have statements to read: the demo
        reviewers' completed orders are moved back 45 days (as if bought then), the sales rollup
        is rebuilt from the orders, and settle_month runs for the previous month. Done once."""
        from django.contrib.auth import get_user_model

        from aftersales.models import Statement
        from aftersales.services.reports import daily_sales_rebuild_all
        from aftersales.services.settlement import month_previous, settle_month
        from orders.models import Order, OrderEvent

        month = month_previous()
        if Statement.objects.filter(month=month).exists():
            return
        back = timedelta(days=45)
        past = Order.objects.filter(customer__email__startswith="reviewer", status=Order.Status.COMPLETED)
        past.update(
            placed_at=F("placed_at") - back, pay_by=F("pay_by") - back, paid_at=F("paid_at") - back,
            shipped_at=F("shipped_at") - back, delivered_at=F("delivered_at") - back,
            completed_at=F("completed_at") - back,
        )  # fmt: skip
        OrderEvent.objects.filter(order__in=past).update(created_at=F("created_at") - back)
        daily_sales_rebuild_all()
        outcome = settle_month(month=month)
        # The department login reads the biggest of these statements.
        biggest = max(outcome.statements, key=lambda statement: statement.payable, default=None)
        member = get_user_model().objects.filter(email=DEPARTMENT_EMAIL).first()
        if biggest is not None and member is not None:
            member.staff_departments.set([biggest.department])

    # -- reference data ------------------------------------------------------------------
    def _reference_data(self) -> None:
        self.departments = {}
        for root in words.TREE:
            code, name, name_en = root.department
            department, _ = Department.objects.get_or_create(
                code=code, defaults={"name": name, "name_en": name_en, "contact_email": f"{code}@example.com"}
            )
            if not department.name_en:  # a demo database from before English names: "Apparel counter"
                department.name, department.name_en = name, name_en
                department.save(update_fields=["name", "name_en"])
            self.departments[root.code] = department
        # Every department pays the shop 5 % of its sales (a rate history: finance adds rates).
        for department in self.departments.values():
            CommissionRate.objects.get_or_create(
                department=department, valid_from=date(2020, 1, 1), defaults={"rate": Decimal("0.0500")}
            )
        self.suppliers = [
            Supplier.objects.get_or_create(name=f"{city}供应商{i + 1}号", defaults={"phone": f"021-5{i:03d}8888"})[0]
            for i, city in enumerate(["上海", "杭州", "广州", "深圳", "义乌", "苏州", "宁波", "东莞"] * 2)
        ]
        brand_count = max(20, min(500, self.target // 200))
        brands = []
        existing = set(Brand.objects.values_list("slug", flat=True))
        for i in range(brand_count):
            a, b = i % 16, (i // 16 + i) % 16
            slug = f"{BRAND_EN[a]}{BRAND_EN[b]}-{i}"
            if slug not in existing:
                name_en = f"{BRAND_EN[a].title()}{BRAND_EN[b]}{'' if i < 256 else i}"
                brands.append(
                    Brand(
                        name=f"{BRAND_SYLLABLES[a]}{BRAND_SYLLABLES[b]}{'' if i < 256 else i}",
                        name_en=name_en,
                        slug=slug,
                        manufacturer=f"{BRAND_SYLLABLES[a]}{BRAND_SYLLABLES[b]}实业有限公司",
                        manufacturer_en=f"{name_en} Industrial Co., Ltd.",
                        country="中国",
                    )
                )
        Brand.objects.bulk_create(brands)
        self.brands = list(Brand.objects.all())

        self.attributes = {
            code: Attribute.objects.get_or_create(
                code=code, defaults={"name": zh, "name_en": en, "position": position}
            )[0]
            for code, (zh, en, position) in words.ATTRIBUTES.items()
        }
        self.values = {}  # (attribute code, Chinese value) -> AttributeValue, made here, read in the product loop
        self.colours = {key: self._value("colour", (zh, en)) for key, (zh, en, _rgb) in words.COLOURS.items()}

        self.leaves = []  # (root, leaf, category, department)
        for root in words.TREE:
            name, en = root.name
            top = Category.objects.filter(slug=root.code).first() or Category.add_root(
                name=name, name_en=en, slug=root.code
            )
            for child_code, (child_name, child_en), leaves in root.children:
                child = Category.objects.filter(slug=child_code).first() or top.add_child(
                    name=child_name, name_en=child_en, slug=child_code
                )
                for leaf in leaves:
                    category = Category.objects.filter(slug=leaf.code).first() or child.add_child(
                        name=leaf.name[0], name_en=leaf.name[1], slug=leaf.code
                    )
                    for trait in leaf.traits:
                        self._value(root.trait, trait)
                    if leaf.sizes:
                        for size in leaf.sizes[1]:
                            self._value(leaf.sizes[0], size)
                    self.leaves.append((root, leaf, category, self.departments[root.code]))
        self.warehouses = []
        for code, name, name_en, prov, city, city_en in PROVINCES:
            warehouse, _ = Warehouse.objects.get_or_create(
                code=code,
                defaults={"name": name, "name_en": name_en, "province": prov, "city": city, "city_en": city_en},
            )
            if not warehouse.city_en:  # a demo database from before English names
                warehouse.name_en, warehouse.city_en = name_en, city_en
                warehouse.save(update_fields=["name_en", "city_en"])
            self.warehouses.append(warehouse)

    def _value(self, code: str, pair: tuple[str, str]) -> AttributeValue:
        """The attribute value (made once, with its English), in the order first asked for."""
        key = (code, pair[0])
        if key not in self.values:
            value, _ = AttributeValue.objects.get_or_create(
                attribute=self.attributes[code],
                value=pair[0],
                defaults={"value_en": pair[1], "position": sum(k[0] == code for k in self.values)},
            )
            if not value.value_en:
                value.value_en = pair[1]
                value.save(update_fields=["value_en"])
            self.values[key] = value
        return self.values[key]

    # -- images ----------------------------------------------------------------------------
    def _images(self) -> None:
        self.photos = {}  # (leaf code, colour key) -> (file name, renditions), made when first used

    def _photo(self, root, leaf, colour: str) -> tuple[str, dict]:
        """The demo photo of a category in a colour: generated, with its renditions, once."""
        key = (leaf.code, colour)
        if key not in self.photos:
            name = f"demo/{leaf.code}-{colour}.jpg"
            if not default_storage.exists(name):
                rgb = words.COLOURS[colour][2]
                default_storage.save(name, ContentFile(_image_bytes(rgb, root.code, leaf.name[1].upper())))
            thumbnailer = get_thumbnailer(default_storage, name)
            aliases = settings.THUMBNAIL_ALIASES["catalog.ProductImage.image"]
            renditions = {alias: thumbnailer.get_thumbnail(options).name for alias, options in aliases.items()}
            self.photos[key] = (name, renditions)
        return self.photos[key]

    # -- products ---------------------------------------------------------------------------
    def _products(self, report: SeedReport) -> None:
        rng = self.rng
        start = Product.objects.count()
        batch = 1000
        now = timezone.now()
        through = Product.attribute_values.through
        options_through = ProductVariant.options.through
        with _progress(self.target, "products", self.progress) as bar:
            for offset in range(0, self.target, batch):
                n = min(batch, self.target - offset)
                products, plans = [], []
                for k in range(n):
                    serial = start + offset + k + 1
                    root, leaf, category, department = rng.choice(self.leaves)
                    brand = rng.choice(self.brands)
                    text, trait = words.product_text(rng, root, leaf, (brand.name, brand.name_en))
                    base_price = Decimal(
                        rng.choice([19, 29, 39, 49, 59, 69, 89, 99, 129, 159, 199, 299, 399, 599, 999, 1999])
                    )
                    product = Product(
                        **text,
                        slug=f"p{serial}-{leaf.code}",
                        category=category,
                        brand=brand,
                        department=department,
                        supplier=rng.choice(self.suppliers),
                        created_at=now - timedelta(days=rng.randint(0, 365), minutes=rng.randint(0, 1440)),
                        sales_count=int(rng.paretovariate(1.2) * 10) - 10,
                        view_count=rng.randint(0, 5000),
                    )
                    colours = (
                        rng.sample(leaf.colours, rng.randint(1, min(3, len(leaf.colours)))) if leaf.colours else []
                    )
                    sizes = [None]
                    if leaf.sizes:
                        code, values = leaf.sizes
                        picked = rng.sample(range(len(values)), rng.randint(min(2, len(values)), min(3, len(values))))
                        sizes = [(i, self.values[(code, values[i][0])]) for i in sorted(picked)]
                    plans.append((product, self.values[(root.trait, trait[0])], colours, sizes, base_price, root, leaf))
                    products.append(product)
                with transaction.atomic():
                    Product.objects.bulk_create(products)
                    # The invented history as the products' baselines: the recompute from the
                    # sales rollup (orders.sales_count) adds the demo's real orders to it.
                    sales_baseline_set(units={p.pk: p.sales_count for p in products if p.sales_count > 0})
                    variants, variant_options, product_values, images = [], [], [], []
                    for product, trait_value, colours, sizes, base_price, root, leaf in plans:
                        product_values.append(through(product_id=product.pk, attributevalue_id=trait_value.pk))
                        for key in colours:
                            product_values.append(
                                through(product_id=product.pk, attributevalue_id=self.colours[key].pk)
                            )
                        for size in sizes:
                            if size is not None:
                                product_values.append(through(product_id=product.pk, attributevalue_id=size[1].pk))
                        position = 0
                        first_of_colour = {}
                        for key in colours or [None]:
                            colour = self.colours[key] if key else None
                            for size in sizes:
                                price = base_price + Decimal(10) * (size[0] if size else 0)
                                compare = price * Decimal("1.3") if rng.random() < 0.3 else None
                                sku = f"SKU{product.pk:07d}"
                                if colour:
                                    sku += f"-{colour.value_en.upper()}"
                                if size:
                                    sku += "-" + re.sub(r"[^A-Z0-9]+", "", size[1].value_en.upper())
                                variant = ProductVariant(
                                    product_id=product.pk,
                                    sku=sku,
                                    price=price,
                                    compare_at_price=compare.quantize(Decimal("1")) - Decimal("0.01")
                                    if compare
                                    else None,
                                    weight_grams=rng.randint(100, 2000),
                                    position=position,
                                )
                                variant._options = ([colour] if colour else []) + ([size[1]] if size else [])
                                first_of_colour.setdefault(key, variant)
                                variants.append(variant)
                                position += 1
                        # One photo per colour (a colourless product: one in its department's colour).
                        for slot, key in enumerate((colours or [None])[:3]):
                            name, renditions = self._photo(root, leaf, key or root.colour)
                            colour = self.colours[key] if key else None
                            images.append(
                                ProductImage(
                                    product_id=product.pk,
                                    variant=first_of_colour[key] if colour else None,  # saved below, before images
                                    image=name,
                                    renditions=renditions,
                                    position=slot,
                                    alt=f"{product.name}（{colour.value}）" if colour else product.name,
                                    alt_en=f"{product.name_en}, {colour.value_en}" if colour else product.name_en,
                                )
                            )
                    through.objects.bulk_create(product_values, ignore_conflicts=True)
                    ProductVariant.objects.bulk_create(variants)
                    for variant in variants:
                        for option in variant._options:
                            variant_options.append(
                                options_through(productvariant_id=variant.pk, attributevalue_id=option.pk)
                            )
                    options_through.objects.bulk_create(variant_options)
                    ProductImage.objects.bulk_create(images)
                    stocks = []
                    for variant in variants:
                        for warehouse in rng.sample(self.warehouses, rng.randint(1, 2)):
                            roll = rng.random()
                            on_hand = 0 if roll < 0.08 else rng.randint(1, 4) if roll < 0.2 else rng.randint(5, 200)
                            stocks.append(
                                Stock(
                                    warehouse=warehouse,
                                    variant_id=variant.pk,
                                    product_id=variant.product_id,
                                    on_hand=on_hand,
                                )
                            )
                    Stock.objects.bulk_create(stocks)
                    StockMovement.objects.bulk_create(
                        StockMovement(
                            stock_id=s.pk,
                            warehouse_id=s.warehouse_id,
                            variant_id=s.variant_id,
                            reason=StockMovement.Reason.COUNT,
                            on_hand_delta=s.on_hand,
                            on_hand_after=s.on_hand,
                            reserved_after=0,
                            note="opening stock",
                        )
                        for s in stocks
                        if s.on_hand
                    )
                    self._denormalise([p for p, *_ in plans], variants, images, stocks)
                report.products += len(products)
                report.variants += len(variants)
                report.stock_rows += len(stocks)
                bar.update(n)

    def _denormalise(self, products, variants, images, stocks) -> None:
        cheapest: dict[int, ProductVariant] = {}
        for v in variants:
            if v.product_id not in cheapest or v.price < cheapest[v.product_id].price:
                cheapest[v.product_id] = v
        card = {}
        for im in images:
            if im.position == 0:
                card[im.product_id] = im.renditions["listing"]
        stocked = {s.product_id for s in stocks if s.on_hand > 0}
        for p in products:
            p.price = cheapest[p.pk].price
            p.compare_at_price = cheapest[p.pk].compare_at_price
            p.card_image = card.get(p.pk, "")
            p.in_stock = p.pk in stocked
        Product.objects.bulk_update(products, ["price", "compare_at_price", "card_image", "in_stock"])
        search_index(products=products)  # brand and category are already attached

    def _admin(self) -> tuple[str, str]:
        from django.contrib.auth import get_user_model

        User = get_user_model()
        email = "admin@example.com"
        password_file = settings.VAR_DIR / "admin-password.txt"
        user = User.objects.filter(email=email).first()
        password = password_file.read_text().strip() if password_file.exists() else ""
        if user is not None and password and user.is_active and user.check_password(password):
            self._warehouse_staff(password)  # a login added since this database was made
            return email, password
        # No database yet, no file, or a file that no longer opens this database (another
        # database was seeded with it, or someone changed a password): what `make run` prints
        # must work, so every demo login gets the file's password (a new one without a file).
        password = password or "admin-" + secrets.token_urlsafe(9)
        user = user or User.objects.create_superuser(email=email, password=password)
        user.set_password(password)
        user.is_staff = user.is_superuser = user.is_active = True
        user.save()
        password_file.write_text(password + "\n")
        self._warehouse_staff(password)
        customer = User.objects.filter(email=DEMO_CUSTOMER).first()
        if customer is not None:
            customer.set_password(password)
            customer.is_active = True
            customer.save(update_fields=["password", "is_active"])
        return email, password

    def _warehouse_staff(self, password: str) -> None:
        """Staff logins, one per role (same password as the admin's): warehouse staff ship and
        receive and cannot change prices or money; customer service decide after-sales requests
        and answer reviews; finance see refunds and pay out the failed ones."""
        from django.contrib.auth import get_user_model

        from aftersales.services.staff import CUSTOMER_SERVICE_GROUP, FINANCE_GROUP, aftersales_groups_ensure
        from catalog.selectors import DEPARTMENT_STAFF_GROUP
        from catalog.services import CATALOGUE_MANAGER_GROUP, catalog_groups_ensure
        from fulfillment.services import staff_groups_ensure

        User = get_user_model()
        groups = aftersales_groups_ensure()
        catalogue_groups = catalog_groups_ensure()
        for email, group in (
            (WAREHOUSE_EMAIL, staff_groups_ensure()),
            (SERVICE_EMAIL, groups[CUSTOMER_SERVICE_GROUP]),
            (FINANCE_EMAIL, groups[FINANCE_GROUP]),
            (CATALOGUE_EMAIL, catalogue_groups[CATALOGUE_MANAGER_GROUP]),
            (DEPARTMENT_EMAIL, catalogue_groups[DEPARTMENT_STAFF_GROUP]),
        ):
            user = User.objects.filter(email=email).first() or User.objects.create_user(email=email, password=password)
            user.set_password(password)
            user.is_staff = user.is_active = True
            user.save()
            user.groups.add(group)
