"""The cart and checkout: lines with live prices and availability, coupons, and placing the order;
after it, buying an order again and changing its delivery address.

Placing an order is the workflow that composes the apps below: it locks the cart (so a
double click or a replayed POST finds the order the cart already became), snapshots lines and
address into orders, reserves stock through fulfillment and redeems the coupon, all in one
transaction: any failure leaves nothing half-written. Changing the delivery address of an order
not yet packed composes them too (orders' snapshot, fulfillment's routing, payments' money).
"""

import json
import re
import uuid
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from enum import Enum
from functools import cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.postgres.aggregates import JSONBAgg
from django.contrib.postgres.fields import ArrayField
from django.db import IntegrityError, connection, transaction
from django.db.models import BigIntegerField, Count, F, Func, OuterRef, Prefetch, Q, Subquery, Sum
from django.db.models.functions import Coalesce, JSONObject
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from cart.exceptions import CartError, CartErrorCode
from cart.models import Cart, CartLine
from cart.shipping import insurance_fee, shipping_quote
from catalog.models import AttributeValue, Product, ProductVariant
from fulfillment.exceptions import FulfillmentError
from fulfillment.models import Reservation, Shipment, Stock
from fulfillment.services import (
    OutOfStock,
    order_reroute,
    stock_release,
    stock_reserve,
)
from fulfillment.services.shipping import order_reservations_known, shipments_set_cod_due
from fulfillment.services.stock import ranked_warehouses, stock_lock_for_variants
from orders.exceptions import OrderError
from orders.models import Notification, Order, OrderLine
from orders.services import (
    FINISHED,
    coupon_check,
    coupon_redeem,
    notification_queue,
    order_line_names,
    order_lines_known,
    order_number_new,
    order_record_delivery_change,
    order_record_paid_placed,
    order_record_placed,
)
from payments.exceptions import PaymentError
from payments.models import Payment, Refund, Wallet
from payments.selectors import cod_due_exists
from payments.services import (
    cod_accept,
    cod_reprice,
    payment_reference_new,
    payment_refund,
    payment_refundable,
    payment_supplement_from_wallet,
    wallet_debit,
    wallet_for,
    wallet_pay,
    wallet_pay_placed,
)
from shop.core.inserts import rows_insert, rows_together
from shop.core.money import format_money, money
from shop.core.postgresql.base import stale_plan_retried
from shop.core.prepared import rows_converted
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


def parse_shown_total(raw) -> Decimal | None:
    """The total a confirm page showed, as its place form posts it back ("176.00"), or None for
    anything else (missing, garbled, negative, exponent, more than two places): placing then
    refuses rather than charge a total nobody was shown."""
    raw = (raw or "").strip()
    if not _SHOWN_TOTAL.fullmatch(raw):
        return None
    return money(raw)


_SHOWN_TOTAL = re.compile(r"[0-9]{1,10}\.[0-9]{2}", re.ASCII)


class Shown(Enum):
    """What checkout_place_order's `expected_total` can be besides the total a page showed."""

    NO_PAGE = "no_page"  # placed by a script (the demo's data, tests' helpers): no page showed one


# -- finding the cart -----------------------------------------------------------------------


def _only(queryset):
    """The row of a lookup that finds at most one (by a key or a unique pair), or None.
    first() would order by the model's ordering or pk: on the purchase's statements compiling
    that ORDER BY cost more Python than the statement took in PostgreSQL."""
    return next(iter(queryset.order_by()[:1]), None)


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
    return _cart_new(user=user, session=session)


def _cart_new(*, user, session) -> Cart:
    """A new open cart (the caller found none), or the one a parallel request just opened."""
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
    cart = Cart.objects.select_for_update().get(pk=cart.pk)
    return _cart_add_locked(cart=cart, variant_id=variant_id, quantity=quantity)


@stale_plan_retried  # its statements are prepared (the add view binds on the server)
def cart_add_for(*, user, session, variant_id: int, quantity: int) -> CartLine:
    """cart_open and cart_add in one: the open cart of this customer (or anonymous session) is
    found and locked by one statement (not found, then locked again by its key). With none open,
    one is opened in the same transaction as its first line: the new row is this transaction's
    until it commits, so it needs no lock of its own (a parallel request opening one too waits
    on the unique index, then adds to the one opened first), and an add refused (sold out, too
    many) leaves no empty cart behind. Raises CartError."""
    if user is not None and user.is_authenticated:
        if connection.vendor == "postgresql" and quantity <= settings.CART_MAX_LINE_QUANTITY:
            line = _customer_add_at_once(user_id=user.pk, variant_id=variant_id, quantity=quantity)
            if line is not None:
                return line
            # Refused (not sold, sold out, too many): the reads below say why, and write nothing.
        try:
            return _customer_cart_add(user=user, variant_id=variant_id, quantity=quantity)
        except _CartOpenedMeanwhile:  # by a parallel request, now committed: added to that one
            return _customer_cart_add(user=user, variant_id=variant_id, quantity=quantity)
    token = session.get("cart_token")
    if token:
        found = Cart.objects.filter(token=token, user__isnull=True, state=Cart.State.OPEN)
        with transaction.atomic():
            cart = _only(found.select_for_update())
            if cart is not None:
                return _cart_add_locked(cart=cart, variant_id=variant_id, quantity=quantity)
    with transaction.atomic():
        (cart,) = rows_insert([Cart()])
        line = _cart_add_locked(cart=cart, variant_id=variant_id, quantity=quantity, new=True)
    session["cart_token"] = str(cart.token)  # only for a cart that was opened (committed)
    return line


def _customer_cart_add(*, user, variant_id: int, quantity: int) -> CartLine:
    with transaction.atomic():
        cart = _open_cart_locked(user_id=user.pk)
        if cart is not None:
            return _cart_add_locked(cart=cart, variant_id=variant_id, quantity=quantity)
        cart = _cart_create(user=user)
        return _cart_add_locked(cart=cart, variant_id=variant_id, quantity=quantity, new=True)


class _CartOpenedMeanwhile(Exception):
    pass


@cache
def _add_at_once_statement() -> tuple[str, tuple, tuple, tuple]:
    """The SQL of _customer_add_at_once, and the fields whose values a request binds: the
    cart's (every one but its key, as the ORM inserts them) and the line's (but its cart and
    price, which the statement takes from the cart found or made and from the variant read).
    The variant's part is _SELLABLE_VARIANT's statement, compiled from its queryset (the same
    rule for what is sold and how many units are in stock). PostgreSQL only."""
    q = connection.ops.quote_name
    variant_sql, before, after = _one_id_statement(_SELLABLE_VARIANT.build().query, "the variant sold")
    names = ", ".join(q(f"name_{i}") for i in range(len(_NAME_FIELDS)))
    carts, lines = q(Cart._meta.db_table), q(CartLine._meta.db_table)
    cart_fields = tuple(f for f in Cart._meta.concrete_fields if not f.primary_key)
    line_fields = tuple(f for f in CartLine._meta.concrete_fields if not f.primary_key)
    bound = tuple(f for f in line_fields if f.attname not in ("cart_id", "price_seen"))
    if {f.attname for f in bound} != {"variant_id", "quantity", "added_at"}:
        raise RuntimeError("CartLine's fields changed: review _add_at_once_statement")
    line_values = ", ".join(
        'c."id"' if f.attname == "cart_id" else 'variant."price"' if f.attname == "price_seen" else "%s"
        for f in line_fields
    )
    returned = ", ".join(f"{lines}.{q(f.column)}" for f in CartLine._meta.concrete_fields)
    sql = (
        f"WITH found AS MATERIALIZED ("  # noqa: S608 - names from the models, values bound
        f"SELECT {q('id')} FROM {carts} WHERE {q('user_id')} = %s AND {q('state')} = %s FOR UPDATE), "
        f"variant ({q('price')}, {names}, {q('available')}) AS MATERIALIZED ({variant_sql}), "
        f"made AS (INSERT INTO {carts} ({', '.join(q(f.column) for f in cart_fields)}) "
        f"SELECT {', '.join(['%s'] * len(cart_fields))} WHERE NOT EXISTS (SELECT FROM found) "
        f"AND EXISTS (SELECT FROM variant WHERE {q('available')} >= %s) RETURNING {q('id')}) "
        f"INSERT INTO {lines} ({', '.join(q(f.column) for f in line_fields)}) "
        f"SELECT {line_values} FROM (SELECT {q('id')} FROM found UNION ALL SELECT {q('id')} FROM made) c "
        f"CROSS JOIN variant WHERE variant.{q('available')} >= %s "
        f"ON CONFLICT ({q('cart_id')}, {q('variant_id')}) DO UPDATE SET "
        f"{q('quantity')} = {lines}.{q('quantity')} + EXCLUDED.{q('quantity')}, "
        f"{q('price_seen')} = EXCLUDED.{q('price_seen')} "
        f"WHERE {lines}.{q('quantity')} + EXCLUDED.{q('quantity')} <= "
        f"LEAST(%s, (SELECT {q('available')} FROM variant)) "
        f"RETURNING {returned}"
    )
    return sql, (before, after), cart_fields, bound


def _customer_add_at_once(*, user_id: int, variant_id: int, quantity: int) -> CartLine | None:
    """_customer_cart_add's success in one statement, with no transaction of its own (one
    statement is one; BEGIN and COMMIT were two more round trips): the open cart found and
    locked, or opened when there is none; the variant read with its units in stock; the line
    inserted, or its quantity added to, at the current price. Only when the line's new quantity
    is within the maximum and the units in stock: else nothing is written (a cart is opened only
    with its line) and None is returned, for _customer_cart_add to say why. A line changed by a
    parallel request is added to as it now is (ON CONFLICT reads the latest row and locks it).

    A cart opened by a parallel request between this statement's look and its insert fails the
    insert on cart_one_open_per_user once that request commits: the statement is run again and
    finds it (as _CartOpenedMeanwhile does)."""
    sql, (before, after), cart_fields, bound = _add_at_once_statement()
    cart = Cart(user_id=user_id)
    line = CartLine(variant_id=variant_id, quantity=quantity)
    params = [
        user_id,
        Cart.State.OPEN.value,
        *before,
        variant_id,
        *after,
        *(f.get_db_prep_save(f.pre_save(cart, add=True), connection) for f in cart_fields),
        quantity,
        *(f.get_db_prep_save(f.pre_save(line, add=True), connection) for f in bound),
        quantity,
        settings.CART_MAX_LINE_QUANTITY,
    ]
    for last in (False, True):
        try:
            # In a caller's transaction (tests) a savepoint, so a failed insert can be run again.
            with transaction.atomic() if connection.in_atomic_block else nullcontext(), connection.cursor() as cursor:
                cursor.execute(sql, params)
                row = cursor.fetchone()
            break
        except IntegrityError:
            if last:
                raise
    if row is None:
        return None
    return CartLine.from_db(connection.alias, _all_fields(CartLine), row)


def _cart_create(*, user) -> Cart:
    """A new open cart of a customer, or _CartOpenedMeanwhile when another request opened one
    first (raised once that request's transaction commits: the unique index waits for it); the
    caller's transaction is then rolled back, with nothing written."""
    try:
        return rows_insert([Cart(user=user)])[0]
    except IntegrityError as exc:
        raise _CartOpenedMeanwhile from exc


def _open_cart_locked(*, user_id: int) -> Cart | None:
    """The customer's open cart, locked (FOR UPDATE), or None. Precondition: in a transaction."""
    rows = _OPEN_CART_LOCKED.rows(user_id)
    return Cart.from_db(connection.alias, _OPEN_CART_LOCKED.fields, rows[0]) if rows else None


def _cart_add_locked(*, cart: Cart, variant_id: int, quantity: int, new: bool = False) -> CartLine:
    """cart_add's rules. Precondition: `cart` row locked in the current transaction (or, `new`,
    created in it: it has no line yet)."""
    # Its units in stock read with it (one statement, not two): advice to the customer, not a
    # promise (placing reserves under the stock rows' locks).
    rows = _SELLABLE_VARIANT.rows(variant_id)
    if not rows:
        raise CartError(CartErrorCode.UNAVAILABLE)
    price, *names, available = rows[0]
    line = None
    if not new:
        found = _CART_LINE.rows(cart.pk, variant_id)
        line = CartLine.from_db(connection.alias, _CART_LINE.fields, found[0]) if found else None
    total = quantity + (line.quantity if line else 0)
    if total > settings.CART_MAX_LINE_QUANTITY:
        raise CartError(CartErrorCode.BAD_QUANTITY, max=settings.CART_MAX_LINE_QUANTITY)
    if available <= 0:
        # Said plainly, not as "only 0 are available": the page offers to email them when it is back.
        raise CartError(CartErrorCode.SOLD_OUT, name=_product_name(variant_id, names))
    if total > available:
        raise CartError(CartErrorCode.NOT_ENOUGH, n=max(available, 0), name=_product_name(variant_id, names))
    if line is None:
        return rows_insert([CartLine(cart=cart, variant_id=variant_id, quantity=total, price_seen=price)])[0]
    line.cart = cart
    line.quantity = total
    line.price_seen = price
    line.save(update_fields=["quantity", "price_seen"])
    return line


def _product_name(variant_id: int, names: list) -> str:
    """The product's display name (in the current language) from the names read with a variant."""
    return Product.from_db(connection.alias, _SELLABLE_VARIANT.name_fields, names).display_name


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
    options: list | None = None  # the variant's options, read by the placing (else variant.options)


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


def cart_summary_for(*, user, session) -> CartSummary:
    """cart_for and cart_summary in one statement: the open cart's lines read with their cart.
    An open cart with no line reads as no cart (summary.cart None), as a page that needs lines
    (the confirm page) treats it anyway."""
    if user is not None and user.is_authenticated:
        return _open_cart_summary(user_id=user.pk)
    token = session.get("cart_token")
    if not token:
        return CartSummary(cart=None)
    lines = CartLine.objects.filter(cart__token=token, cart__user__isnull=True, cart__state=Cart.State.OPEN)
    return _summary(None, lines.select_related("cart"), availability=True)


def cart_summary(*, cart: Cart | None, availability: bool = True) -> CartSummary:
    """The cart with live prices and availability, in a fixed number of queries.

    `availability=False` (placing the order, where stock_reserve decides under the stock rows'
    locks) does not sum the stock rows: a sellable line then reads as available in full."""
    if cart is None:
        return CartSummary(cart=None)
    return _summary(cart, CartLine.objects.filter(cart=cart), availability=availability)


def _summary(cart: Cart | None, lines, *, availability: bool) -> CartSummary:
    """cart_summary of `lines`; `cart` None: the lines' own (read with them)."""
    # In the order they were added: a query with GROUP BY (the units in stock) drops the
    # model's ordering, and the lines would come in whatever order PostgreSQL grouped them.
    lines = (
        lines.order_by("added_at", "pk")
        .select_related("variant__product")
        .prefetch_related(Prefetch("variant__options", queryset=AttributeValue.objects.select_related("attribute")))
    )
    if availability:
        lines = lines.annotate(
            available=Coalesce(Sum(F("variant__stocks__on_hand") - F("variant__stocks__reserved")), 0)
        )
    summary = CartSummary(cart=cart)
    for line in lines:
        if summary.cart is None:
            summary.cart = line.cart
        options = list(line.variant.options.all())  # as the compiled summary's lines have them
        _summary_add(summary, line, available=line.available if availability else line.quantity, options=options)
    summary.subtotal = money(summary.subtotal)
    return summary


def _summary_add(summary: CartSummary, line: CartLine, *, available: int, options: list | None = None) -> None:
    """One line into the summary: live price, availability (0 when no longer sold), totals."""
    variant = line.variant
    sellable = variant.is_active and variant.product.is_active
    available = available if sellable else 0
    view = LineView(
        line=line,
        variant=variant,
        available=available,
        unit_price=variant.price,
        line_total=money(variant.price * line.quantity),
        price_changed=variant.price != line.price_seen,
        short=line.quantity > available,
        options=options,
    )
    summary.lines.append(view)
    summary.subtotal += view.line_total
    summary.weight_grams += variant.weight_grams * line.quantity
    summary.quantity += line.quantity


def _one_id_statement(query, what: str) -> tuple[str, tuple, tuple]:
    """A query compiled once, one id in it a placeholder: its SQL, and the parameters before
    and after that id (bound per execution)."""
    sql, params = query.sql_with_params()
    if params.count(_PLACEHOLDER_ID) != 1 or sql.count("%s") != len(params):
        raise RuntimeError(f"{what}: the id is not one parameter of {sql}")
    at = params.index(_PLACEHOLDER_ID)
    return sql, (*params[:at],), (*params[at + 1 :],)


def _fields(model, names: set[str]) -> tuple[str, ...]:
    # In the model's order, as Model.from_db expects them; the others are left deferred.
    return tuple(f.attname for f in model._meta.concrete_fields if f.attname in names)


# -- the add's and the confirm page's statements, compiled once per process -------------------

_SECOND_ID = -7_312_906  # a second id in a statement compiled once, beside _PLACEHOLDER_ID


class _Compiled:
    """A statement the ORM builds and compiles once per process (on first use) from a queryset
    with placeholder ids (_PLACEHOLDER_ID, _SECOND_ID) where a request's ids go: each execution
    binds them and nothing else. Built per request, each of the add's and the confirm page's
    small statements cost more Python (building the queryset, compiling it, making the objects)
    than PostgreSQL took to run it. Compiled from the queryset the ORM would run, it cannot drift
    from it; its values go through the ORM's converters when the database needs any (none of
    the fields read needs one on PostgreSQL; SQLite's decimals, UUIDs and times do). `fields`:
    the model fields selected first, in the model's order (from_db's)."""

    def __init__(self, build, *, fields: tuple[str, ...] = (), **more) -> None:
        self.build, self.fields = build, fields
        self.__dict__.update(more)
        self._compiled = None

    def rows(self, first: int, second: int | None = None) -> list:
        compiled = self._compiled
        if compiled is None:  # a statement with FOR UPDATE compiles inside a transaction only
            compiler = self.build().query.get_compiler(connection=connection)
            sql, params = compiler.as_sql()
            if sql.count("%s") != len(params) or _PLACEHOLDER_ID not in params:
                raise RuntimeError(f"not a statement with its ids as parameters: {sql}")
            converters = list(compiler.get_converters([column for column, _, _ in compiler.select]).items())
            compiled = self._compiled = (sql, tuple(params), converters)
        sql, params, converters = compiled
        ids = {_PLACEHOLDER_ID: first, _SECOND_ID: second}
        with connection.cursor() as cursor:
            cursor.execute(sql, [ids.get(p, p) if type(p) is int else p for p in params])
            rows = cursor.fetchall()
        return rows_converted(rows, converters, connection)


def _all_fields(model) -> tuple[str, ...]:
    return tuple(f.attname for f in model._meta.concrete_fields)


_IN_STOCK = Coalesce(Sum(F("stocks__on_hand") - F("stocks__reserved")), 0)

# The customer's open cart, locked (one at most: cart_one_open_per_user).
_OPEN_CART_LOCKED = _Compiled(
    lambda: Cart.objects.select_for_update()
    .filter(user_id=_PLACEHOLDER_ID, state=Cart.State.OPEN)
    .values_list(*_all_fields(Cart)),
    fields=_all_fields(Cart),
)
# A variant still sold: its price, its product's names (an error message's) and its units in stock.
_NAME_FIELDS = _fields(Product, {"id", "name", "name_en"})
_SELLABLE_VARIANT = _Compiled(
    lambda: ProductVariant.objects.filter(pk=_PLACEHOLDER_ID, is_active=True, product__is_active=True)
    .order_by()
    .annotate(available=_IN_STOCK)
    .values_list("price", *(f"product__{f}" for f in _NAME_FIELDS), "available"),
    name_fields=_NAME_FIELDS,
)
# A cart's line of a variant (one at most: cart_line_one_per_variant).
_CART_LINE = _Compiled(
    lambda: CartLine.objects.filter(cart_id=_PLACEHOLDER_ID, variant_id=_SECOND_ID)
    .order_by()
    .values_list(*_all_fields(CartLine)),
    fields=_all_fields(CartLine),
)

# A customer's open cart's lines, each with its cart, variant, product and units in stock (in
# the order they were added), and the options of their variants in AttributeValue's order (the
# prefetch's): on PostgreSQL each line carries them as a JSON array (one statement), elsewhere
# they are a second statement. Only what the confirm page reads is selected; any other field is
# deferred (read on access, never wrong).
_LINE_FIELDS = _all_fields(CartLine)
_CART_FIELDS = _all_fields(Cart)
_VARIANT_FIELDS = _fields(ProductVariant, {"id", "product_id", "sku", "price", "weight_grams", "is_active"})
_PRODUCT_FIELDS = _fields(Product, {"id", "is_active", "name", "name_en", "card_image"})
_OPTION_FIELDS = _fields(AttributeValue, {"id", "attribute_id", "value", "value_en", "position"})
# An address as the lines' JSON carries it: all but its time of writing (a JSON string, not a
# datetime; deferred, read on access), which the page does not show.
_BOOK_FIELDS = _fields(Address, {f.attname for f in Address._meta.concrete_fields} - {"created_at"})


def _open_cart_lines():
    from django.contrib.postgres.aggregates import JSONBAgg
    from django.db.models import OuterRef
    from django.db.models.functions import JSONObject

    lines = CartLine.objects.filter(cart__user_id=_PLACEHOLDER_ID, cart__state=Cart.State.OPEN)
    more = ()
    if connection.vendor == "postgresql":
        through = ProductVariant.options.through.objects.filter(productvariant_id=OuterRef("variant_id"))
        agg = JSONBAgg(
            JSONObject(**{f: F(f"attributevalue__{f}") for f in _OPTION_FIELDS}),
            order_by=[F(f"attributevalue__{o}") for o in AttributeValue._meta.ordering],
        )
        # The confirm page's address book (in Address's order) and wallet balance ride on each
        # line: the page needs them with the lines, and a statement fewer is a round trip and
        # a statement's work in PostgreSQL fewer (checkout_summary).
        book = Address.objects.filter(user_id=OuterRef("cart__user_id"))
        book_agg = JSONBAgg(JSONObject(**{f: F(f) for f in _BOOK_FIELDS}), order_by=list(Address._meta.ordering))
        lines = lines.annotate(
            options=Subquery(through.values("productvariant_id").annotate(o=agg).values("o")),
            book=Subquery(book.values("user_id").annotate(b=book_agg).values("b")),
            wallet_balance=Subquery(Wallet.objects.filter(user_id=OuterRef("cart__user_id")).values("balance")),
        )
        more = ("options", "book", "wallet_balance")
    return (
        lines.annotate(available=Coalesce(Sum(F("variant__stocks__on_hand") - F("variant__stocks__reserved")), 0))
        .order_by("added_at", "pk")
        .values_list(
            *_LINE_FIELDS,
            *(f"cart__{f}" for f in _CART_FIELDS),
            *(f"variant__{f}" for f in _VARIANT_FIELDS),
            *(f"variant__product__{f}" for f in _PRODUCT_FIELDS),
            "available",
            *more,
        )
    )


_OPEN_CART_LINES = _Compiled(_open_cart_lines)
_OPEN_CART_OPTIONS = _Compiled(
    lambda: ProductVariant.options.through.objects.filter(
        productvariant_id__in=CartLine.objects.filter(
            cart__user_id=_PLACEHOLDER_ID, cart__state=Cart.State.OPEN
        ).values("variant_id")
    )
    .order_by(*(f"attributevalue__{o}" for o in AttributeValue._meta.ordering))
    .values_list("productvariant_id", *(f"attributevalue__{f}" for f in _OPTION_FIELDS))
)


# The address book with the wallet's balance on each row (a statement fewer: the page needs both).
_ADDRESSES = _Compiled(
    lambda: Address.objects.filter(user_id=_PLACEHOLDER_ID)
    .annotate(wallet_balance=Subquery(Wallet.objects.filter(user_id=_PLACEHOLDER_ID).values("balance")))
    .values_list(*_all_fields(Address), "wallet_balance"),
    fields=_all_fields(Address),
)


def checkout_addresses(*, user) -> tuple[list[Address], Decimal | None]:
    """The customer's address book, the default first (Address's ordering), and their wallet's
    balance (None for an account with no wallet, one removed by hand, or with no address: the
    confirm page then asks for one first), for the confirm page: one statement."""
    db = connection.alias
    rows = _ADDRESSES.rows(user.pk)
    addresses = [Address.from_db(db, _ADDRESSES.fields, row[:-1]) for row in rows]
    return addresses, (rows[0][-1] if rows else None)


def checkout_summary(*, user, session) -> tuple[CartSummary, list[Address], Decimal | None]:
    """cart_summary_for and checkout_addresses together, for the confirm page: on PostgreSQL a
    customer's lines carry the address book and the wallet's balance (one statement, not two);
    elsewhere, or for a cart with no line (the page shows no address then), as they are."""
    if user is not None and user.is_authenticated and connection.vendor == "postgresql":
        summary, book = _open_cart_read(user_id=user.pk)
        if book is not None:
            return summary, *book
        return summary, [], None
    summary = cart_summary_for(user=user, session=session)
    return summary, *checkout_addresses(user=user)


def _open_cart_summary(*, user_id: int) -> CartSummary:
    return _open_cart_read(user_id=user_id)[0]


def _open_cart_read(*, user_id: int) -> tuple[CartSummary, tuple[list[Address], Decimal | None] | None]:
    """cart_summary_for of a customer from the statement compiled once (on PostgreSQL; elsewhere
    the options' second, only when there are lines): the same lines, prices, units in stock and
    flags as _summary's, each line view with its variant's options in `options`; and on
    PostgreSQL with lines, checkout_addresses' address book and balance (else None)."""
    rows = _OPEN_CART_LINES.rows(user_id)
    summary = CartSummary(cart=None)
    if not rows:
        return summary, None
    db = connection.alias
    at_cart = len(_LINE_FIELDS)
    at_variant = at_cart + len(_CART_FIELDS)
    at_product = at_variant + len(_VARIANT_FIELDS)
    at_available = at_product + len(_PRODUCT_FIELDS)
    options: dict[int, list] = {}
    book = None
    if len(rows[0]) == at_available + 4:  # PostgreSQL: each line's options a JSON array (or NULL)
        for row in rows:
            options[row[at_variant]] = [
                AttributeValue.from_db(db, _OPTION_FIELDS, [o[f] for f in _OPTION_FIELDS])
                for o in row[at_available + 1] or ()
            ]
        addresses = [Address.from_db(db, _BOOK_FIELDS, [a[f] for f in _BOOK_FIELDS]) for a in rows[0][-2] or ()]
        # No address: no balance, as checkout_addresses (the page asks for an address first).
        book = (addresses, rows[0][-1] if addresses else None)
    else:
        for variant_id, *values in _OPEN_CART_OPTIONS.rows(user_id):
            options.setdefault(variant_id, []).append(AttributeValue.from_db(db, _OPTION_FIELDS, values))
    summary.cart = cart = Cart.from_db(db, _CART_FIELDS, rows[0][at_cart:at_variant])
    for row in rows:
        line = CartLine.from_db(db, _LINE_FIELDS, row[:at_cart])
        variant = ProductVariant.from_db(db, _VARIANT_FIELDS, row[at_variant:at_product])
        variant.product = Product.from_db(db, _PRODUCT_FIELDS, row[at_product:at_available])
        line.cart, line.variant = cart, variant
        _summary_add(summary, line, available=row[at_available], options=options.get(variant.pk, []))
    summary.subtotal = money(summary.subtotal)
    return summary, book


@cache
def _placing_statements():
    """The placing's cart lines (with each variant and product) and their options: compiled
    once per process from the querysets cart_summary runs, each (SQL, parameters) with the
    cart's id (_PLACEHOLDER_ID) and the customer's (_SECOND_ID) bound per placement. Built by the
    ORM (select_related, the options' prefetch and its ordering) they cost about 2.3 ms of
    Python per placement for 0.3 ms of SQL. Only what the placing reads is selected; any other
    field is deferred (read on access, never wrong). On PostgreSQL one statement: each line
    carries its variant's options as a JSON array in AttributeValue's order (the options'
    statement is None), and the customer's unpaid-order counts (checkout_check_unpaid_caps's,
    from the same queryset: one round trip fewer; read after the cart's statement locked the
    customer, as the caps need); elsewhere two, and the counts a statement of their own."""
    line_fields = _fields(CartLine, {f.attname for f in CartLine._meta.concrete_fields})
    variant_fields = _fields(ProductVariant, {"id", "product_id", "sku", "price", "weight_grams", "is_active"})
    product_fields = _fields(Product, {"id", "is_active", "department_id", "name", "name_en", "card_image"})
    option_fields = _fields(AttributeValue, {"id", "attribute_id", "value", "value_en", "position"})
    columns = (
        *line_fields,
        *(f"variant__{f}" for f in variant_fields),
        *(f"variant__product__{f}" for f in product_fields),
    )
    ordering = [f"attributevalue__{o}" for o in AttributeValue._meta.ordering]
    through = ProductVariant.options.through.objects
    fields = (line_fields, variant_fields, product_fields, option_fields)
    if connection.vendor == "postgresql":
        options = Subquery(
            through.filter(productvariant_id=OuterRef("variant_id"))
            .values("productvariant_id")
            .annotate(
                options=JSONBAgg(
                    JSONObject(**{f: F(f"attributevalue__{f}") for f in option_fields}),
                    order_by=[F(o) for o in ordering],
                )
            )
            .values("options")
        )
        # An uncorrelated subquery: PostgreSQL counts once per statement, not per line.
        caps = Subquery(_unpaid_counts(_SECOND_ID).annotate(caps=_CAPS_ARRAY).values_list("caps"))
        lines = CartLine.objects.filter(cart_id=_PLACEHOLDER_ID).annotate(options=options, caps=caps)
        return _ids_statement(lines.values_list(*columns, "options", "caps").query, "placing's lines"), None, fields
    lines = CartLine.objects.filter(cart_id=_PLACEHOLDER_ID).values_list(*columns)
    # The options in AttributeValue's own order (the prefetch's), as order_line_names joins them.
    options = (
        through.filter(productvariant_id__in=CartLine.objects.filter(cart_id=_PLACEHOLDER_ID).values("variant_id"))
        .order_by(*ordering)
        .values_list("productvariant_id", *(f"attributevalue__{f}" for f in option_fields))
    )
    return (
        _ids_statement(lines.query, "placing's lines"),
        _ids_statement(options.query, "placing's options"),
        fields,
    )


def _ids_statement(query, what: str) -> tuple[str, tuple]:
    """A query compiled once with its ids as placeholders (_PLACEHOLDER_ID, _SECOND_ID): its SQL
    and parameters, for _ids_bound."""
    sql, params = query.sql_with_params()
    if _PLACEHOLDER_ID not in params or sql.count("%s") != len(params):
        raise RuntimeError(f"{what}: the ids are not parameters of {sql}")
    return sql, tuple(params)


def _ids_bound(params: tuple, first: int, second: int) -> list:
    ids = {_PLACEHOLDER_ID: first, _SECOND_ID: second}
    return [ids.get(p, p) if type(p) is int else p for p in params]


_PLACEHOLDER_TOKEN = uuid.UUID(int=7_312_905)  # no cart's token: stands for it in a statement compiled once
_PLACEHOLDER_ADDRESS = -7_312_907  # no address's id, beside the customer's (_PLACEHOLDER_ID)


def _placing_querysets(token, customer_id: int, address_id: int) -> tuple:
    """checkout_place_order's three lookups by key: its cart by token and customer, locked; the
    address by id and customer; the customer's row, locked FOR NO KEY UPDATE."""
    return (
        Cart.objects.select_for_update().filter(token=token, user_id=customer_id),
        Address.objects.filter(pk=address_id, user_id=customer_id),
        get_user_model().objects.select_for_update(no_key=True).filter(pk=customer_id).values_list("pk"),
    )


@cache
def _placing_lookups() -> tuple[tuple[str, tuple], ...]:
    """_placing_querysets compiled once per process on PostgreSQL (the same SQL, LIMIT 1 and no
    ORDER BY, as _only), placeholders where the placement's values go: built by the ORM per
    placement they cost about 1 ms of Python for three statements of a primary key each. Each
    is (SQL, its parameters). Compiled inside the placing transaction (a FOR UPDATE compiles in
    one only)."""
    compiled = []
    cart, address, customer = _placing_querysets(_PLACEHOLDER_TOKEN, _PLACEHOLDER_ID, _PLACEHOLDER_ADDRESS)
    for queryset in (
        cart.values_list(*_fields(Cart, {f.attname for f in Cart._meta.concrete_fields})),
        address.values_list(*_fields(Address, {f.attname for f in Address._meta.concrete_fields})),
        customer,
    ):
        sql, params = queryset.order_by()[:1].query.sql_with_params()
        if sql.count("%s") != len(params):
            raise RuntimeError(f"placing's lookups: parameters not all bound in {sql}")
        compiled.append((sql, tuple(params)))
    return tuple(compiled)


def _placing_lookup(which: int, model, values: dict):
    """One of _placing_querysets' lookups with `values` (placeholder -> the placement's): its row
    as a `model` instance (the bare row for the customer's lock, model None), or None when there
    is none. Elsewhere than on PostgreSQL (the embedded SQLite default, whose values need the
    ORM's converters) the ORM runs it."""
    if connection.vendor != "postgresql":
        args = (values[_PLACEHOLDER_TOKEN], values[_PLACEHOLDER_ID], values[_PLACEHOLDER_ADDRESS])
        return _only(_placing_querysets(*args)[which])
    sql, params = _placing_lookups()[which]
    with connection.cursor() as cursor:
        cursor.execute(sql, [values.get(p, p) if type(p) in (int, uuid.UUID) else p for p in params])
        row = cursor.fetchone()
    if row is None or model is None:
        return row
    return model.from_db(connection.alias, _fields(model, {f.attname for f in model._meta.concrete_fields}), row)


@cache
def _placing_cart_address_sql() -> str:
    """_placing_querysets' three lookups in one statement (one round trip): the cart by token
    and customer, locked (FOR UPDATE OF the cart), the customer's row locked FOR NO KEY UPDATE
    (the cart's lock first, as when they were two statements), beside the address by id and
    customer, NULLs when there is none (read, not locked); and the new order's key, taken from
    its sequence (a key is never given twice; one the placement does not use is a gap, as a
    rolled-back INSERT leaves), so that its rows can be sent as one statement (rows_together).
    Written once per process; its parameters: the address's id, the customer's id, the cart's
    token, the customer's id."""
    quote = connection.ops.quote_name
    cart, address = quote(Cart._meta.db_table), quote(Address._meta.db_table)
    user_model = get_user_model()
    user = quote(user_model._meta.db_table)
    columns = ", ".join(
        [f"{cart}.{quote(f.column)}" for f in Cart._meta.concrete_fields]
        + [f"{address}.{quote(f.column)}" for f in Address._meta.concrete_fields]
    )
    a_key, a_user = quote(Address._meta.pk.column), quote(Address._meta.get_field("user").column)
    c_token, c_user = quote(Cart._meta.get_field("token").column), quote(Cart._meta.get_field("user").column)
    sequence = f"pg_get_serial_sequence('{Order._meta.db_table}', '{Order._meta.pk.column}')"
    return (
        f"SELECT {columns}, nextval({sequence}) FROM {cart} "  # noqa: S608 - names from the models
        f"INNER JOIN {user} ON ({user}.{quote(user_model._meta.pk.column)} = {cart}.{c_user}) "
        f"LEFT JOIN {address} ON ({address}.{a_key} = %s AND {address}.{a_user} = %s) "
        f"WHERE ({cart}.{c_token} = %s AND {cart}.{c_user} = %s) LIMIT 1 "
        f"FOR UPDATE OF {cart} FOR NO KEY UPDATE OF {user}"
    )


def _placing_cart_and_address(ids: dict) -> tuple[Cart | None, Address | None, int | None]:
    """The placement's cart (locked) and its address, each None when there is none, and the new
    order's key (None: the order's INSERT gives it); on PostgreSQL by one statement
    (_placing_cart_address_sql) that locks the customer's row too, elsewhere by
    _placing_lookup's (the customer's lock one of them, taken by checkout_place_order)."""
    if connection.vendor != "postgresql":
        return _placing_lookup(0, Cart, ids), _placing_lookup(1, Address, ids), None
    with connection.cursor() as cursor:
        cursor.execute(
            _placing_cart_address_sql(),
            [ids[_PLACEHOLDER_ADDRESS], ids[_PLACEHOLDER_ID], ids[_PLACEHOLDER_TOKEN], ids[_PLACEHOLDER_ID]],
        )
        row = cursor.fetchone()
    if row is None:
        return None, None, None
    n = len(Cart._meta.concrete_fields)
    db = connection.alias
    cart = Cart.from_db(db, _all_fields(Cart), row[:n])
    # The address's primary key is NULL only when the join found none.
    found = row[n + Address._meta.concrete_fields.index(Address._meta.pk)] is not None
    address = Address.from_db(db, _all_fields(Address), row[n:-1]) if found else None
    return cart, address, row[-1]


def _placing_summary(*, cart: Cart) -> tuple[CartSummary, tuple | None]:
    """cart_summary(cart=cart, availability=False) for checkout_place_order, from the
    statements compiled once: the same lines, prices and flags (a sellable line reads as
    available in full; stock_reserve decides under the stock rows' locks). Each line view has
    its variant's options in `options`. With it, on PostgreSQL, the cart's customer's unpaid
    counts for checkout_check_unpaid_caps (None elsewhere, or with no line)."""
    (lines_sql, l_params), options_statement, fields = _placing_statements()
    line_fields, variant_fields, product_fields, option_fields = fields
    db = connection.alias
    options: dict[int, list] = {}
    with connection.cursor() as cursor:
        cursor.execute(lines_sql, _ids_bound(l_params, cart.pk, cart.user_id))
        rows = cursor.fetchall()
        if options_statement is not None:  # elsewhere than on PostgreSQL: a statement of their own
            options_sql, o_params = options_statement
            cursor.execute(options_sql, _ids_bound(o_params, cart.pk, cart.user_id))
            for variant_id, *values in cursor.fetchall():
                options.setdefault(variant_id, []).append(AttributeValue.from_db(db, option_fields, values))
    n_line, n_variant = len(line_fields), len(variant_fields)
    end = n_line + n_variant + len(product_fields)
    summary = CartSummary(cart=cart)
    for row in rows:
        line = CartLine.from_db(db, line_fields, row[:n_line])
        variant = ProductVariant.from_db(db, variant_fields, row[n_line : n_line + n_variant])
        variant.product = Product.from_db(db, product_fields, row[n_line + n_variant : end])
        line.cart, line.variant = cart, variant
        if options_statement is None:  # the line's own column: JSON objects, in their order (Django's
            # backend reads JSON as text, for the field to parse)
            chosen = [
                AttributeValue.from_db(db, option_fields, [value[f] for f in option_fields])
                for value in (json.loads(row[end]) if row[end] is not None else ())
            ]
        else:
            chosen = options.get(variant.pk, [])
        _summary_add(summary, line, available=line.quantity, options=chosen)
    summary.subtotal = money(summary.subtotal)
    counts = None
    if options_statement is None and rows:  # the counts' array: NULL for a customer with no such order
        counts = tuple(rows[0][end + 1] or (0, 0, 0))
    return summary, counts


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


_PLACEHOLDER_ID = -7_312_905  # no customer's or cart's id: stands for it in a statement compiled once


def _unpaid_counts(customer_id: int):
    """The customer's orders waiting for payment (waiting), those with cash still to collect on
    delivery (cod_due: payments.selectors.cod_due_exists), and those of them not yet shipped
    (cod_to_ship): one row, or none for a customer with no such order."""
    holding = Order.objects.filter(customer_id=customer_id).filter(
        Q(status=Order.Status.PENDING_PAYMENT)
        | Q(status__in=(Order.Status.PAID, Order.Status.SHIPPED), payment_method=Order.PaymentMethod.COD)
    )
    return (
        holding.annotate(has_cod_due=cod_due_exists())
        .order_by()
        .values("customer_id")
        .annotate(
            waiting=Count("pk", filter=Q(status=Order.Status.PENDING_PAYMENT)),
            cod_due=Count("pk", filter=Q(has_cod_due=True)),
            cod_to_ship=Count("pk", filter=Q(has_cod_due=True, status=Order.Status.PAID)),
        )
    )


# _unpaid_counts' three as one column (an array: [waiting, cod_due, cod_to_ship]).
_CAPS_ARRAY = Func(
    F("waiting"),
    F("cod_due"),
    F("cod_to_ship"),
    template="ARRAY[%(expressions)s]",
    output_field=ArrayField(BigIntegerField()),
)


@cache
def _unpaid_counts_statement() -> tuple[str, tuple, tuple]:
    """checkout_check_unpaid_caps's counts as one statement compiled once per process: the
    customer's orders waiting for payment, those with cash still to collect on delivery
    (payments.selectors.cod_due_exists), and those of them not yet shipped. Built by the ORM
    per placement it cost about 2 ms of Python (the annotation, three filtered aggregates and
    the subquery compiled each time) for a statement PostgreSQL runs in 0.4 ms. Compiled from
    the same queryset, so it cannot drift from the ORM's: the SQL and the parameters before and
    after the customer's id (a placeholder id compiled in). One row, or none for a customer
    with no such order."""
    query = _unpaid_counts(_PLACEHOLDER_ID).values_list("waiting", "cod_due", "cod_to_ship").query
    sql, params = query.sql_with_params()
    at = params.index(_PLACEHOLDER_ID)
    if params.count(_PLACEHOLDER_ID) != 1 or sql.count("%s") != len(params):
        raise RuntimeError(f"checkout_check_unpaid_caps: the customer's id is not one parameter of {sql}")
    return sql, (*params[:at],), (*params[at + 1 :],)


def checkout_check_unpaid_caps(
    *, customer, summary: CartSummary, payment_method: str = "", counts: tuple | None = None
) -> None:
    """Refuse an order that would leave `customer` more unpaid orders, or more units waiting in
    unpaid orders (in all, or of one variant), than the settings allow: a customer must not
    sit on stock others want to buy (an unpaid order reserves its units until it times out).
    A cash-on-delivery order not yet shipped holds its units unpaid too (until it ships, with no
    timeout), so its units count towards the unit caps; and a customer with
    ORDER_MAX_COD_PER_CUSTOMER orders whose cash is still to collect (shipped or not) cannot
    place another for cash on delivery (payments' cod_accept holds the same cap on the order page).

    Raises CartError (TOO_MANY_UNPAID, TOO_MANY_UNPAID_UNITS, TOO_MANY_UNPAID_OF_ONE, and
    TOO_MANY_HELD_UNITS, TOO_MANY_HELD_OF_ONE when cash-on-delivery orders are among the units
    held, TOO_MANY_COD). Precondition: inside the placing transaction with the customer's row
    locked, so that two placements cannot both take the last free slot. `counts`: (waiting,
    cod_due, cod_to_ship) read under that lock already (checkout_place_order's, with its lines),
    else read here."""
    # One statement for what most buyers have (nothing unpaid, no cash due): the lines only if any.
    if counts is None:
        sql, before, after = _unpaid_counts_statement()
        with connection.cursor() as cursor:
            cursor.execute(sql, (*before, customer.pk, *after))
            counts = cursor.fetchone() or (0, 0, 0)
    waiting, cod_due, cod_to_ship = counts
    max_orders = settings.ORDER_MAX_UNPAID_PER_CUSTOMER
    if waiting >= max_orders:
        raise CartError(CartErrorCode.TOO_MANY_UNPAID, n=max_orders)
    max_cod = settings.ORDER_MAX_COD_PER_CUSTOMER
    if payment_method == Order.PaymentMethod.COD and cod_due >= max_cod:
        raise CartError(CartErrorCode.TOO_MANY_COD, n=cod_due)
    held = {}
    if waiting or cod_to_ship:  # most buyers have nothing unpaid (the wallet pays as they place)
        holding = Order.objects.filter(customer=customer).filter(
            Q(status=Order.Status.PENDING_PAYMENT)
            | Q(status__in=(Order.Status.PAID, Order.Status.SHIPPED), payment_method=Order.PaymentMethod.COD)
        )
        held_in = Q(order__status=Order.Status.PENDING_PAYMENT)
        if cod_to_ship:
            held_in |= Q(order__status=Order.Status.PAID, order__in=holding.filter(cod_due_exists()))
        held = dict(
            OrderLine.objects.filter(held_in, order__customer=customer)
            .order_by()
            .values("variant_id")
            .annotate(n=Sum("quantity"))
            .values_list("variant_id", "n")
        )
    units_code = CartErrorCode.TOO_MANY_HELD_UNITS if cod_to_ship else CartErrorCode.TOO_MANY_UNPAID_UNITS
    of_one_code = CartErrorCode.TOO_MANY_HELD_OF_ONE if cod_to_ship else CartErrorCode.TOO_MANY_UNPAID_OF_ONE
    wanted = sum(line.line.quantity for line in summary.lines)
    max_units = settings.ORDER_MAX_UNPAID_UNITS_PER_CUSTOMER
    if sum(held.values()) + wanted > max_units:
        raise CartError(units_code, max=max_units, n=sum(held.values()) + wanted)
    max_of_one = settings.ORDER_MAX_UNPAID_UNITS_PER_VARIANT
    for line in summary.lines:
        units = held.get(line.variant.pk, 0) + line.line.quantity
        if units > max_of_one:
            raise CartError(of_one_code, max=max_of_one, n=units, name=line.variant.product.display_name)


@cache
def _cart_ordered_sql() -> str:
    """The UPDATE cart.save(update_fields=["state"]) sends, its state and id bound per placement;
    written once per process (Django's quoting; updated_at is not among the fields, as there)."""
    quote = connection.ops.quote_name
    table = quote(Cart._meta.db_table)
    return (
        f"UPDATE {table} SET {quote(Cart._meta.get_field('state').column)} = %s "  # noqa: S608 - names from the model
        f"WHERE {table}.{quote(Cart._meta.pk.column)} = %s"
    )


@stale_plan_retried  # its statements are prepared (the place view binds on the server)
def checkout_place_order(
    *,
    cart_token,
    customer,
    address_id: int,
    shipping_method: str,
    insured: bool,
    payment_method: str,
    expected_total: Decimal | None | Shown,
    note: str = "",
) -> Order:
    """Turn a customer's cart into an order: snapshot, reserve stock, redeem the coupon; and for
    the wallet, pay it from the wallet in the same transaction (checkout's one step: one commit,
    one "placed and paid" mail). A wallet short of the total leaves the order placed, awaiting
    payment, with nothing taken. The new order's `one_step` is then (payment, None) or (None,
    the PaymentError), for checkout_complete_order; a replay's order has none. An order whose
    total is 0 (a coupon covering the goods, shipping free) needs no payment: it is paid as it is
    placed, whatever the method chosen, with no payment, ledger entry or gateway (`one_step` is
    (None, None)).

    `expected_total` is the total the confirm page showed (posted back with its place form):
    the order is placed only at that total, so that a line or quantity changed in another tab,
    a price, a shipping rule or a coupon changed meanwhile, is shown to the customer rather
    than charged. None (the form posted none, or a garbled one) is refused as well; only a
    script with no page (Shown.NO_PAGE) places at whatever the total is.

    Idempotent: the cart row is locked first, and a cart already turned into an order returns
    that order, so a double click or a replayed POST gives one order. Raises CartError (empty,
    price changed, out of stock, bad choice, too much left unpaid: checkout_check_unpaid_caps,
    ADDRESS_NEEDS_PLACE for an address whose places must be chosen again from the lists,
    TOTAL_CHANGED, TOTAL_NOT_SHOWN) or OrderError (coupon); nothing is written then."""
    if payment_method not in settings.PAYMENT_PROVIDERS:
        raise CartError(CartErrorCode.BAD_PAYMENT)
    if shipping_method not in settings.SHIPPING_METHODS:
        raise CartError(CartErrorCode.BAD_SHIPPING)
    try:
        cart_token = uuid.UUID(str(cart_token))
    except ValueError as exc:
        raise CartError(CartErrorCode.STALE) from exc
    with transaction.atomic():
        ids = {_PLACEHOLDER_TOKEN: cart_token, _PLACEHOLDER_ID: customer.pk, _PLACEHOLDER_ADDRESS: address_id}
        cart, address, order_id = _placing_cart_and_address(ids)
        if cart is None:
            raise CartError(CartErrorCode.STALE)
        if cart.state == Cart.State.ORDERED:
            return Order.objects.get(cart_token=cart.token)
        if address is None:
            raise CartError(CartErrorCode.NO_ADDRESS)
        if address.needs_place:
            raise CartError(CartErrorCode.ADDRESS_NEEDS_PLACE)
        summary, counts = _placing_summary(cart=cart)
        if not summary.lines:
            raise CartError(CartErrorCode.EMPTY)
        if any(line.price_changed for line in summary.lines):
            raise CartError(CartErrorCode.PRICE_CHANGED)
        # One placement at a time per customer, so the caps below count what is really held.
        # NO KEY UPDATE: rows referring to the customer (orders, mail) can still be inserted.
        # On PostgreSQL the cart's statement took this lock already (_placing_cart_address_sql).
        if connection.vendor != "postgresql":
            _placing_lookup(2, None, ids)
        checkout_check_unpaid_caps(customer=customer, summary=summary, payment_method=payment_method, counts=counts)
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
        # Under the cart's lock, with its lines read and before stock or wallet are touched.
        if expected_total is None:
            raise CartError(CartErrorCode.TOTAL_NOT_SHOWN)
        if expected_total is not Shown.NO_PAGE and money(expected_total) != totals.total:
            raise CartError(
                CartErrorCode.TOTAL_CHANGED, old=format_money(expected_total), new=format_money(totals.total)
            )
        free = totals.total == 0  # nothing to pay: paid as placed, with no payment of any kind
        number = order_number_new()
        # Checkout's one step for the wallet, in this transaction: its debit decides first (one
        # statement, nothing written when short) and the wallet is locked before the stock rows,
        # as a paid order's address change takes them. Short: the order is placed all the same,
        # awaiting payment, and checkout_complete_order says why.
        debit, short = None, None
        if payment_method == "wallet" and not free:
            try:
                debit = wallet_debit(user=customer, amount=totals.total, reference=number)
            except PaymentError as exc:
                short = exc
        # Paid as it is placed (the wallet's debit made, or nothing to pay): inserted paid, its
        # placed and paid events written together, no UPDATE of its row. A ledger entry or a
        # gateway trade is never of 0, so an order of 0 has no payment: its paid event notes
        # its number. Its parcels collect no cash (cash on delivery of 0).
        paid = debit is not None or free
        reference = payment_reference_new() if debit is not None else number
        now = timezone.now()
        order = Order(
            id=order_id,  # taken from the order's sequence by the cart's statement (None: the INSERT's)
            number=number,
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
            **({"status": Order.Status.PAID, "paid_at": now} if paid else {}),
            **address.snapshot(),
        )
        # The INSERTs of a placement are built once per process (shop.core.inserts) and sent as
        # one statement (rows_together: the order, its lines, and for an order paid as placed its
        # events, its mail and its payment): its key known beforehand, nothing in the block needs
        # another's. The cart, locked above, is marked ordered by the same statement (no save()).
        with rows_together():  # sent as it ends: every row has its key then
            rows_insert(
                [order],
                along=(_cart_ordered_sql(), [Cart.State.ORDERED.value, cart.pk]),
                keyed=order_id is not None,
            )
            cart.state = Cart.State.ORDERED
            lines = rows_insert(
                [
                    OrderLine(
                        order=order,
                        variant=line.variant,
                        product_id_snapshot=line.variant.product_id,
                        department_id_snapshot=line.variant.product.department_id,
                        **order_line_names(line.variant, options=line.options),  # in both languages
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
            # Written before the stock rows are locked: the hot rows (a popular variant's stock, the
            # day's sales rollup) are held from their statement to the commit, so as little as
            # possible comes after them.
            if paid:
                order_lines_known(order, lines)  # the mail, the sales rollup and the parcels read none back
                order_record_placed(order, actor=customer, lines=lines, paid=reference)
                payment = (
                    wallet_pay_placed(order=order, debit=debit, reference=reference) if debit is not None else None
                )
        if not paid:
            order_record_placed(order, actor=customer, lines=lines)
        try:
            reserved = stock_reserve(
                order=order, wanted={line.variant.pk: line.line.quantity for line in summary.lines}
            )
        except OutOfStock as exc:
            names = ", ".join(
                line.variant.product.display_name for line in summary.lines if line.variant.pk in exc.shortages
            )
            raise CartError(CartErrorCode.OUT_OF_STOCK, names=names) from exc
        if totals.coupon is not None:
            coupon_redeem(coupon=totals.coupon, order=order, amount=totals.discount)
        if paid:
            # Last: its sales rollup rows (per day and variant, per day and department) are
            # every paid order's, held from here to the commit just below; its parcels are
            # made from what was just reserved.
            order_reservations_known(order, reserved)
            order_record_paid_placed(order)
            order.one_step = (payment, None)
        elif short is not None:
            order.one_step = (None, short)
    return order


# Chosen at checkout, these need nothing from the customer after placing (no gateway to visit):
# placing the order completes it, rather than leaving a second "pay" click that, forgotten,
# would let the order be cancelled when its payment window closes.
ONE_STEP_METHODS = ("cod", "wallet")


def checkout_complete_order(*, order: Order, customer) -> Payment | None:
    """Right after checkout_place_order: an order placed for cash on delivery is accepted (on to
    待发货, its parcels collecting the cash), one for the wallet is paid from it. Returns the
    payment, or None for a gateway method (the customer goes on to pay) or an order that
    already has a payment of its own: a replayed checkout POST pays nothing twice, and neither
    does one for an order the customer went on to pay in another way.

    The wallet's payment of an order placed in this request was made in the placing transaction
    (order.one_step): its outcome is returned, or its PaymentError raised, with no second
    transaction. Otherwise each payment service has its own transaction: when it fails, the
    order stays placed and awaiting payment, with nothing written by the attempt. When it returns
    a payment, the order was paid (待发货) by it, and `order` says so (status set on it, no
    reading it back). Raises
    PaymentError (INSUFFICIENT_BALANCE: the wallet was short at this moment; NOT_PAYABLE)."""
    one_step = getattr(order, "one_step", None)
    if one_step is not None:  # checkout_place_order paid it (or found the wallet short) already
        payment, short = one_step
        if short is not None:
            raise short
        return payment
    if order.payment_method not in ONE_STEP_METHODS:
        return None
    if order.status != Order.Status.PENDING_PAYMENT:
        return None
    if order.payment_method == "cod":
        payment = None if order.payments.exists() else cod_accept(order_id=order.pk, user=customer)
    else:  # "no payment yet" checked under the order's lock, in the wallet's transaction
        payment = wallet_pay(order_id=order.pk, user=customer, first_payment_only=True)
    if payment is not None:
        order.status = Order.Status.PAID
    return payment


# -- buying an order again -----------------------------------------------------------------


@dataclass
class BuyAgain:
    """What went into the cart: names added in full, names with fewer units than ordered
    ("name × n"), and names left out (no longer sold, or none in stock)."""

    added: list[str] = field(default_factory=list)
    fewer: list[str] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)
    out_of_stock: list[str] = field(default_factory=list)


def _line_name(line: OrderLine) -> str:
    """In the current language (the buy-again messages)."""
    return f"{line.display_name} ({line.display_options})" if line.display_options else line.display_name


def cart_buy_again(*, cart: Cart, order: Order) -> BuyAgain:
    """Put a finished order's lines back into the cart, at today's prices (the cart shows the
    live price; the order's price is not carried over). A variant no longer sold or out of
    stock is left out; a line is cut to what is in stock and to the cart's cap per line
    (CART_MAX_LINE_QUANTITY, counting what the cart already holds).

    Precondition: the caller checked that `order` is the customer's. Raises
    CartError(NOT_FINISHED) for an order still under way."""
    if order.status not in FINISHED:
        raise CartError(CartErrorCode.NOT_FINISHED)
    result = BuyAgain()
    for line in order.lines.all():
        name = _line_name(line)
        sellable = ProductVariant.objects.filter(pk=line.variant_id, is_active=True, product__is_active=True).exists()
        if not sellable:
            result.unavailable.append(name)
            continue
        in_cart = CartLine.objects.filter(cart=cart, variant_id=line.variant_id).values_list("quantity", flat=True)
        already = next(iter(in_cart), 0)
        room = min(settings.CART_MAX_LINE_QUANTITY, _available(line.variant_id)) - already
        quantity = min(line.quantity, room)
        if quantity <= 0:
            # Nothing more can go in: none in stock, or the cart holds all there is (or the cap).
            (result.out_of_stock if already == 0 else result.fewer).append(
                name if already == 0 else f"{name} × {already}"
            )
            continue
        try:
            cart_add(cart=cart, variant_id=line.variant_id, quantity=quantity)
        except CartError:  # sold out or retired in the meantime
            result.out_of_stock.append(name)
            continue
        if quantity < line.quantity:
            result.fewer.append(f"{name} × {already + quantity}")
        else:
            result.added.append(name)
    return result


# -- changing the delivery address of an order not yet packed ----------------------------------

# An order's delivery can change until a parcel is packed: unpaid, or paid and still to pack.
ADDRESS_CHANGEABLE = (Order.Status.PENDING_PAYMENT, Order.Status.PAID)


@dataclass
class AddressChange:
    """What changing the address did. `difference` is the new total less the old one;
    `refunded` went back to the customer, `from_wallet` was paid from the wallet, and for cash
    on delivery `cash_due` is what the courier now collects (None otherwise)."""

    order: Order
    old_fee: Decimal
    new_fee: Decimal
    difference: Decimal
    refunded: Decimal = Decimal("0.00")
    from_wallet: Decimal = Decimal("0.00")
    cash_due: Decimal | None = None
    rerouted: bool = False


def order_address_changeable(*, order: Order) -> bool:
    """Whether the customer may still change the order's delivery address: unpaid and payable,
    or paid with every parcel still waiting to be packed."""
    if order.status not in ADDRESS_CHANGEABLE:
        return False
    if order.status == Order.Status.PENDING_PAYMENT and not order.is_payable:
        return False
    return not _parcels_beyond_pending(order).exists()


def _parcels_beyond_pending(order: Order):
    return Shipment.objects.filter(order=order).exclude(status__in=(Shipment.Status.PENDING, Shipment.Status.CANCELLED))


def order_shipping_quote(*, order: Order, province: str) -> Decimal:
    """The order's shipping fee to `province`, by today's rules (cart.shipping), for the goods and
    weight it was placed with. Raises CartError(BAD_SHIPPING) if its method is no longer offered."""
    weight = sum(line.weight_grams * line.quantity for line in order.lines.all())
    try:
        quote = shipping_quote(
            method=order.shipping_method, weight_grams=weight, province=province, goods=order.subtotal
        )
    except KeyError as exc:
        raise CartError(CartErrorCode.BAD_SHIPPING) from exc
    return quote.fee


def _nearest_changed(order: Order, before: tuple[str, str]) -> bool:
    """Whether the warehouses that could serve the order rank differently, nearest first, from
    the new address than from the old one: only then can routing choose another place."""
    if before == (order.province, order.city):
        return False
    variant_ids = [line.variant_id for line in order.lines.all()]
    candidates = set(
        Stock.objects.filter(variant_id__in=variant_ids, warehouse__is_active=True).values_list(
            "warehouse_id", flat=True
        )
    )
    return ranked_warehouses(candidates, *before) != ranked_warehouses(candidates, order.province, order.city)


def _reroute(order: Order, *, actor) -> bool:
    """Route the order's units again from its (new) address. Paid: its parcels, through
    fulfillment's re-route. Unpaid: its reservations (there are no parcels yet), released and
    reserved afresh under the stock rows' locks. Precondition: order row locked."""
    if order.status == Order.Status.PAID:
        try:
            order_reroute(order_id=order.pk, actor=actor)
        except FulfillmentError:  # no open parcel (nothing reserved to move): nothing to do
            return False
        return True
    held = list(Reservation.objects.filter(order=order, state=Reservation.State.HELD))
    if not held:
        return False
    wanted: dict[int, int] = {}
    for reservation in held:
        wanted[reservation.variant_id] = wanted.get(reservation.variant_id, 0) + reservation.quantity
    # Every stock row of these variants locked in the global order before releasing anything
    # (as order_reroute does): the units just released are there to be reserved again.
    stock_lock_for_variants(wanted)
    stock_release(order=order, reservations=held, actor=actor, note="address changed")
    stock_reserve(order=order, wanted=wanted, actor=actor)
    return True


def _refund_difference(order: Order, amount: Decimal, *, actor) -> Decimal:
    """Give `amount` back from the order's captured payments, newest first (a wallet supplement
    before the payment of the order). Precondition: order row locked."""
    left = amount
    captured = Payment.objects.filter(order=order, state=Payment.State.CAPTURED).order_by("-created_at", "-pk")
    for payment in captured:
        take = min(left, payment_refundable(payment))
        if take <= 0:
            continue
        payment_refund(
            payment_id=payment.pk,
            amount=take,
            reason=Refund.Reason.CUSTOMER,
            note="shipping re-priced",
            actor=actor,
        )
        left -= take
        if not left:
            break
    if left:
        raise CartError(CartErrorCode.CANNOT_REFUND_DIFFERENCE)
    return amount


def order_change_address(*, order_id: int, customer, address_id: int) -> AddressChange:
    """Deliver a not yet packed order to another address of the customer's book (recipient,
    phone and place, as checked when the address was saved, the same book checkout uses).

    The order's address snapshot is replaced and recorded in its history; its units are routed
    again when the warehouses rank differently from the new place; the shipping fee is quoted
    again by today's rules (insurance is on the goods value, which does not change) and the
    difference settled: lower, it goes back to the customer's payment (payments.payment_refund),
    or the courier collects less for cash on delivery; higher, an unpaid order just costs more,
    cash on delivery collects more, and a paid order is charged the difference from the wallet,
    or the change is refused when the balance does not cover it. Either way what the order's
    payments hold (captured less refunded) keeps equal to its total. All or nothing.

    Locks the order first, then its parcels, payments and stock (fulfillment's and payments'
    order). Another customer's order raises Order.DoesNotExist; CartError (NO_ADDRESS,
    ADDRESS_LOCKED, ALREADY_PACKED, SAME_ADDRESS, WALLET_SHORT, BAD_SHIPPING) otherwise."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id, customer=customer)
        address = Address.objects.filter(pk=address_id, user=customer).first()
        if address is None:
            raise CartError(CartErrorCode.NO_ADDRESS)
        if order.status not in ADDRESS_CHANGEABLE or (
            order.status == Order.Status.PENDING_PAYMENT and not order.is_payable
        ):
            raise CartError(CartErrorCode.ADDRESS_LOCKED)
        parcels = list(Shipment.objects.select_for_update().filter(order=order).order_by("pk"))
        if any(p.status not in (Shipment.Status.PENDING, Shipment.Status.CANCELLED) for p in parcels):
            raise CartError(CartErrorCode.ALREADY_PACKED)
        snapshot = address.snapshot()
        if snapshot == order.snapshot():
            raise CartError(CartErrorCode.SAME_ADDRESS)
        old_fee, old_total = order.shipping_fee, order.total
        new_fee = order_shipping_quote(order=order, province=snapshot["province"])
        difference = money(new_fee - old_fee)
        cash_due_before = sum(
            (p.cod_amount for p in parcels if p.status == Shipment.Status.PENDING), start=Decimal("0.00")
        )
        cod_due = (
            order.status == Order.Status.PAID
            and Payment.objects.filter(order=order, provider="cod", state=Payment.State.AWAITING_COLLECTION).exists()
        )
        charge_wallet = order.status == Order.Status.PAID and not cod_due and difference > 0
        if charge_wallet:
            balance = wallet_for(customer).balance
            if balance < difference:
                raise CartError(
                    CartErrorCode.WALLET_SHORT, more=format_money(difference), balance=format_money(balance)
                )
        before = (order.province, order.city)
        with translation.override(customer.language or settings.LANGUAGE_CODE):
            note = _("Delivery address changed; shipping %(old)s → %(new)s") % {
                "old": format_money(old_fee),
                "new": format_money(new_fee),
            }
        event = order_record_delivery_change(order, snapshot=snapshot, shipping_fee=new_fee, actor=customer, note=note)
        change = AddressChange(order=order, old_fee=old_fee, new_fee=new_fee, difference=order.total - old_total)
        if cod_due:
            change.cash_due = cod_reprice(order=order, difference=change.difference).amount
        elif charge_wallet:
            try:
                payment_supplement_from_wallet(order=order, amount=change.difference, note="shipping re-priced")
            except PaymentError as exc:  # the balance moved since it was read
                raise CartError(
                    CartErrorCode.WALLET_SHORT, more=format_money(change.difference), balance=exc.message
                ) from exc
            change.from_wallet = change.difference
        elif order.status == Order.Status.PAID and change.difference < 0:
            change.refunded = _refund_difference(order, -change.difference, actor=customer)
        if _nearest_changed(order, before):
            change.rerouted = _reroute(order, actor=customer)
        if cod_due:
            shipments_set_cod_due(order=order, amount=cash_due_before + change.difference)
        _mail_address_changed(order, change, event_id=event.pk)
    return change


def _mail_address_changed(order: Order, change: AddressChange, *, event_id: int) -> None:
    customer = order.customer
    notification_queue(
        kind=Notification.Kind.ADDRESS_CHANGED,
        key=f"{Notification.Kind.ADDRESS_CHANGED}:{order.pk}:{event_id}",
        to=customer.email,
        language=customer.language,
        order=order,
        user=customer,
        context={
            "number": order.number,
            "url": order.get_absolute_url(),
            "recipient": order.recipient,
            "phone": order.phone,
            "address": order.one_line,
            "old_fee": format_money(change.old_fee),
            "new_fee": format_money(change.new_fee),
            "total": format_money(order.total),
            "unpaid": order.status == Order.Status.PENDING_PAYMENT,
            "refunded": format_money(change.refunded) if change.refunded else "",
            "from_wallet": format_money(change.from_wallet) if change.from_wallet else "",
            "cash_due": format_money(change.cash_due) if change.cash_due is not None else "",
        },
    )
