"""The cart and checkout: lines with live prices and availability, coupons, and placing the order.

Placing an order is the one workflow that composes the apps below: it locks the cart (so a
double click or a replayed POST finds the order the cart already became), snapshots lines and
address into orders, reserves stock through fulfillment and redeems the coupon, all in one
transaction: any failure leaves nothing half-written.
"""

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F, Prefetch, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from cart.exceptions import CartError, CartErrorCode
from cart.models import Cart, CartLine
from cart.shipping import insurance_fee, shipping_quote
from catalog.models import AttributeValue, ProductVariant
from fulfillment.services import OutOfStock, stock_reserve
from orders.exceptions import OrderError
from orders.models import Order, OrderLine
from orders.services import coupon_check, coupon_redeem, order_number_new, order_record_placed
from shop.core.money import money
from shop.core.text import parse_whole_number
from shop.models import Address


def parse_quantity(raw) -> int:
    """A quantity from a form: a whole number from 1 to the maximum, or CartError.

    The shop's one rule for digits (shop.core.text): full-width digits count, as in a postcode;
    "٣", "²", signs and decimals do not."""
    limit = settings.CART_MAX_LINE_QUANTITY
    quantity = parse_whole_number(raw)
    if quantity is None or not 1 <= quantity <= limit:
        raise CartError(CartErrorCode.BAD_QUANTITY, max=limit)
    return quantity


# -- finding the cart -----------------------------------------------------------------------


def cart_for(*, user, session) -> Cart | None:
    """The open cart of a signed-in customer, or of this anonymous session."""
    if user is not None and user.is_authenticated:
        return Cart.objects.filter(user=user, state=Cart.State.OPEN).first()
    token = session.get("cart_token")
    if token:
        return Cart.objects.filter(token=token, user__isnull=True, state=Cart.State.OPEN).first()
    return None


def cart_open(*, user, session) -> Cart:
    cart = cart_for(user=user, session=session)
    if cart is not None:
        return cart
    if user is not None and user.is_authenticated:
        try:
            with transaction.atomic():
                return Cart.objects.create(user=user)
        except IntegrityError:  # a parallel request opened it first
            return Cart.objects.get(user=user, state=Cart.State.OPEN)
    cart = Cart.objects.create()
    session["cart_token"] = str(cart.token)
    return cart


def _available(variant_id: int) -> int:
    return ProductVariant.objects.filter(pk=variant_id).aggregate(
        n=Coalesce(Sum(F("stocks__on_hand") - F("stocks__reserved")), 0)
    )["n"]


@transaction.atomic
def cart_add(*, cart: Cart, variant_id: int, quantity: int) -> CartLine:
    """Add units of a variant (adding to a line already there). Raises CartError."""
    variant = (
        ProductVariant.objects.select_related("product")
        .filter(pk=variant_id, is_active=True, product__is_active=True)
        .first()
    )
    if variant is None:
        raise CartError(CartErrorCode.UNAVAILABLE)
    cart = Cart.objects.select_for_update().get(pk=cart.pk)
    line = CartLine.objects.filter(cart=cart, variant=variant).first()
    total = quantity + (line.quantity if line else 0)
    if total > settings.CART_MAX_LINE_QUANTITY:
        raise CartError(CartErrorCode.BAD_QUANTITY, max=settings.CART_MAX_LINE_QUANTITY)
    available = _available(variant.pk)
    if total > available:
        raise CartError(CartErrorCode.NOT_ENOUGH, n=max(available, 0), name=variant.product.display_name)
    if line is None:
        return CartLine.objects.create(cart=cart, variant=variant, quantity=total, price_seen=variant.price)
    line.quantity = total
    line.price_seen = variant.price
    line.save(update_fields=["quantity", "price_seen"])
    return line


@transaction.atomic
def cart_set_quantity(*, cart: Cart, line_id: int, quantity: int) -> None:
    """Change a line's quantity; the customer sees the current price from now on."""
    line = CartLine.objects.select_related("variant__product").get(pk=line_id, cart=cart)
    available = _available(line.variant_id)
    if quantity > available:
        raise CartError(CartErrorCode.NOT_ENOUGH, n=max(available, 0), name=line.variant.product.display_name)
    line.quantity = quantity
    line.price_seen = line.variant.price
    line.save(update_fields=["quantity", "price_seen"])


def cart_remove(*, cart: Cart, line_id: int) -> None:
    CartLine.objects.filter(pk=line_id, cart=cart).delete()


@transaction.atomic
def cart_merge_on_login(*, user, session) -> Cart | None:
    """Move the anonymous cart's lines into the customer's cart (quantities add up, capped)."""
    token = session.get("cart_token")
    if not token:
        return None
    anonymous = Cart.objects.select_for_update().filter(token=token, user__isnull=True, state="open").first()
    session.pop("cart_token", None)
    if anonymous is None:
        return None
    mine = cart_open(user=user, session=session)
    for line in anonymous.lines.all():
        existing = CartLine.objects.filter(cart=mine, variant_id=line.variant_id).first()
        if existing:
            existing.quantity = min(existing.quantity + line.quantity, settings.CART_MAX_LINE_QUANTITY)
            existing.save(update_fields=["quantity"])
        else:
            line.cart = mine
            line.save(update_fields=["cart"])
    if anonymous.coupon_code and not mine.coupon_code:
        mine.coupon_code = anonymous.coupon_code
        mine.save(update_fields=["coupon_code"])
    anonymous.delete()
    return mine


def cart_set_coupon(*, cart: Cart, code: str, customer) -> Decimal:
    """Apply a coupon code to the cart (checked now, and again when the order is placed)."""
    summary = cart_summary(cart=cart)
    _coupon, discount = coupon_check(code=code, subtotal=summary.subtotal, customer=customer)
    cart.coupon_code = code.strip().upper()
    cart.save(update_fields=["coupon_code"])
    return discount


def cart_clear_coupon(*, cart: Cart) -> None:
    cart.coupon_code = ""
    cart.save(update_fields=["coupon_code"])


# -- reading the cart -----------------------------------------------------------------------


@dataclass
class LineView:
    line: CartLine
    variant: ProductVariant
    available: int
    unit_price: Decimal
    line_total: Decimal
    price_changed: bool
    short: bool  # fewer units available than wanted


@dataclass
class CartSummary:
    cart: Cart | None
    lines: list[LineView] = field(default_factory=list)
    subtotal: Decimal = Decimal("0.00")
    weight_grams: int = 0
    quantity: int = 0

    @property
    def has_problems(self) -> bool:
        return any(line.price_changed or line.short for line in self.lines)


def cart_summary(*, cart: Cart | None) -> CartSummary:
    """The cart with live prices and availability, in a fixed number of queries."""
    if cart is None:
        return CartSummary(cart=None)
    lines = list(
        CartLine.objects.filter(cart=cart)
        .select_related("variant__product")
        .prefetch_related(Prefetch("variant__options", queryset=AttributeValue.objects.select_related("attribute")))
        .annotate(available=Coalesce(Sum(F("variant__stocks__on_hand") - F("variant__stocks__reserved")), 0))
    )
    summary = CartSummary(cart=cart)
    for line in lines:
        variant = line.variant
        sellable = variant.is_active and variant.product.is_active
        available = line.available if sellable else 0
        view = LineView(
            line=line,
            variant=variant,
            available=available,
            unit_price=variant.price,
            line_total=money(variant.price * line.quantity),
            price_changed=variant.price != line.price_seen,
            short=line.quantity > available,
        )
        summary.lines.append(view)
        summary.subtotal += view.line_total
        summary.weight_grams += variant.weight_grams * line.quantity
        summary.quantity += line.quantity
    summary.subtotal = money(summary.subtotal)
    return summary


def cart_accept_prices(*, cart: Cart) -> None:
    """The customer has seen the new prices: remember them."""
    for line in CartLine.objects.filter(cart=cart).select_related("variant"):
        if line.price_seen != line.variant.price:
            line.price_seen = line.variant.price
            line.save(update_fields=["price_seen"])


# -- checkout -------------------------------------------------------------------------------


@dataclass
class Totals:
    subtotal: Decimal
    discount: Decimal
    shipping_fee: Decimal
    insurance_fee: Decimal
    total: Decimal
    coupon: object | None = None
    coupon_error: str = ""


def checkout_totals(*, summary: CartSummary, province: str, shipping_method: str, insured: bool, customer) -> Totals:
    """Every figure of the order, computed on the server from database prices."""
    try:
        quote = shipping_quote(
            method=shipping_method, weight_grams=summary.weight_grams, province=province, goods=summary.subtotal
        )
    except KeyError as exc:
        raise CartError(CartErrorCode.BAD_SHIPPING) from exc
    coupon, discount, coupon_error = None, Decimal("0.00"), ""
    code = summary.cart.coupon_code if summary.cart else ""
    if code:
        try:
            coupon, discount = coupon_check(code=code, subtotal=summary.subtotal, customer=customer)
        except OrderError as exc:
            coupon_error = exc.message
    insurance = insurance_fee(summary.subtotal) if insured else Decimal("0.00")
    total = money(summary.subtotal - discount + quote.fee + insurance)
    return Totals(
        subtotal=summary.subtotal,
        discount=discount,
        shipping_fee=quote.fee,
        insurance_fee=insurance,
        total=total,
        coupon=coupon,
        coupon_error=coupon_error,
    )


def checkout_check_unpaid_caps(*, customer, summary: CartSummary) -> None:
    """Refuse an order that would leave `customer` more unpaid orders, or more units waiting in
    unpaid orders (in all, or of one variant), than the settings allow: a customer must not
    sit on stock others want to buy (an unpaid order reserves its units until it times out).

    Raises CartError (TOO_MANY_UNPAID, TOO_MANY_UNPAID_UNITS, TOO_MANY_UNPAID_OF_ONE).
    Precondition: inside the placing transaction with the customer's row locked, so that two
    placements cannot both take the last free slot."""
    unpaid = Order.objects.filter(customer=customer, status=Order.Status.PENDING_PAYMENT)
    max_orders = settings.ORDER_MAX_UNPAID_PER_CUSTOMER
    if unpaid.count() >= max_orders:
        raise CartError(CartErrorCode.TOO_MANY_UNPAID, n=max_orders)
    held = dict(
        OrderLine.objects.filter(order__in=unpaid)
        .order_by()
        .values("variant_id")
        .annotate(n=Sum("quantity"))
        .values_list("variant_id", "n")
    )
    wanted = sum(line.line.quantity for line in summary.lines)
    max_units = settings.ORDER_MAX_UNPAID_UNITS_PER_CUSTOMER
    if sum(held.values()) + wanted > max_units:
        raise CartError(CartErrorCode.TOO_MANY_UNPAID_UNITS, max=max_units, n=sum(held.values()) + wanted)
    max_of_one = settings.ORDER_MAX_UNPAID_UNITS_PER_VARIANT
    for line in summary.lines:
        units = held.get(line.variant.pk, 0) + line.line.quantity
        if units > max_of_one:
            raise CartError(
                CartErrorCode.TOO_MANY_UNPAID_OF_ONE, max=max_of_one, n=units, name=line.variant.product.display_name
            )


def checkout_place_order(
    *,
    cart_token,
    customer,
    address_id: int,
    shipping_method: str,
    insured: bool,
    payment_method: str,
    note: str = "",
) -> Order:
    """Turn a customer's cart into an order: snapshot, reserve stock, redeem the coupon.

    Idempotent: the cart row is locked first, and a cart already turned into an order returns
    that order, so a double click or a replayed POST gives one order. Raises CartError (empty,
    price changed, out of stock, bad choice, too much left unpaid: checkout_check_unpaid_caps)
    or OrderError (coupon); nothing is written then."""
    if payment_method not in settings.PAYMENT_PROVIDERS:
        raise CartError(CartErrorCode.BAD_PAYMENT)
    if shipping_method not in settings.SHIPPING_METHODS:
        raise CartError(CartErrorCode.BAD_SHIPPING)
    try:
        cart_token = uuid.UUID(str(cart_token))
    except ValueError as exc:
        raise CartError(CartErrorCode.STALE) from exc
    with transaction.atomic():
        cart = Cart.objects.select_for_update().filter(token=cart_token, user=customer).first()
        if cart is None:
            raise CartError(CartErrorCode.STALE)
        if cart.state == Cart.State.ORDERED:
            return Order.objects.get(cart_token=cart.token)
        address = Address.objects.filter(pk=address_id, user=customer).first()
        if address is None:
            raise CartError(CartErrorCode.NO_ADDRESS)
        summary = cart_summary(cart=cart)
        if not summary.lines:
            raise CartError(CartErrorCode.EMPTY)
        if any(line.price_changed for line in summary.lines):
            raise CartError(CartErrorCode.PRICE_CHANGED)
        # One placement at a time per customer, so the caps below count what is really held.
        # NO KEY UPDATE: rows referring to the customer (orders, mail) can still be inserted.
        get_user_model().objects.select_for_update(no_key=True).filter(pk=customer.pk).first()
        checkout_check_unpaid_caps(customer=customer, summary=summary)
        # Retired since it was put in the cart: stock_reserve would still find its units.
        unsellable = [line for line in summary.lines if not (line.variant.is_active and line.variant.product.is_active)]
        if unsellable:
            names = ", ".join(line.variant.product.display_name for line in unsellable)
            raise CartError(CartErrorCode.OUT_OF_STOCK, names=names)
        totals = checkout_totals(
            summary=summary,
            province=address.province,
            shipping_method=shipping_method,
            insured=insured,
            customer=customer,
        )
        if totals.coupon_error:  # raise the coupon's own reason (expired, used up...)
            coupon_check(code=cart.coupon_code, subtotal=summary.subtotal, customer=customer)
        now = timezone.now()
        order = Order.objects.create(
            number=order_number_new(),
            customer=customer,
            cart_token=cart.token,
            currency=settings.SHOP_CURRENCY,
            subtotal=totals.subtotal,
            discount=totals.discount,
            shipping_fee=totals.shipping_fee,
            insurance_fee=totals.insurance_fee,
            total=totals.total,
            shipping_method=shipping_method,
            insured=insured,
            payment_method=payment_method,
            coupon_code=totals.coupon.code if totals.coupon else "",
            note=note[:200],
            placed_at=now,
            pay_by=now + timedelta(minutes=settings.ORDER_PAYMENT_MINUTES),
            **address.snapshot(),
        )
        OrderLine.objects.bulk_create(
            [
                OrderLine(
                    order=order,
                    variant=line.variant,
                    product_id_snapshot=line.variant.product_id,
                    department_id_snapshot=line.variant.product.department_id,
                    product_name=line.variant.product.name,
                    variant_label=" / ".join(o.value for o in line.variant.options.all()),
                    sku=line.variant.sku,
                    unit_price=line.unit_price,
                    quantity=line.line.quantity,
                    line_total=line.line_total,
                    weight_grams=line.variant.weight_grams,
                    image=line.variant.product.card_image,
                )
                for line in summary.lines
            ]
        )
        try:
            stock_reserve(order=order, wanted={line.variant.pk: line.line.quantity for line in summary.lines})
        except OutOfStock as exc:
            names = ", ".join(
                line.variant.product.display_name for line in summary.lines if line.variant.pk in exc.shortages
            )
            raise CartError(CartErrorCode.OUT_OF_STOCK, names=names) from exc
        if totals.coupon is not None:
            coupon_redeem(coupon=totals.coupon, order=order, amount=totals.discount)
        order_record_placed(order, actor=customer)
        cart.state = Cart.State.ORDERED
        cart.save(update_fields=["state"])
    return order
