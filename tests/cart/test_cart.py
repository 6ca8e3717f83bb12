"""The cart and checkout: lines, availability and price flags, merging on login, shipping and
insurance, server-side totals, coupons (with a race for the last use), placing, cancelling and
the unpaid-order timeout."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.db import connections
from django.utils import timezone, translation

from cart import services
from cart.exceptions import CartError, CartErrorCode
from cart.models import Cart, CartLine
from cart.shipping import insurance_fee, shipping_quote, shipping_quotes
from fulfillment.models import Reservation, Stock
from orders.exceptions import OrderError, OrderErrorCode
from orders.models import Coupon, CouponRedemption, Notification, Order, OrderEvent
from orders.services import order_cancel, order_mark_paid, orders_cancel_expired
from tests import factories
from tests.purchase import buyer_with_cart, last_message, messages_of, place, shown_total, stocked_variant

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"
D = Decimal


def anonymous_cart(client) -> Cart:
    return Cart.objects.get(token=client.session["cart_token"], user=None, state=Cart.State.OPEN)


def lines_of(cart) -> dict:
    return {line.variant_id: line.quantity for line in CartLine.objects.filter(cart=cart)}


def reserved(variant) -> int:
    return Stock.objects.get(variant=variant).reserved


# -- lines ----------------------------------------------------------------------------------


def test_an_anonymous_cart_lives_in_the_session(client):
    variant = stocked_variant(price="50.00")
    assert client.get("/cart/").status_code == 200
    assert "cart_token" not in client.session  # looking does not create a cart

    response = client.post("/cart/add/", {"variant": variant.pk, "quantity": "2"})
    assert response.status_code == 302 and response.url == "/cart/"
    assert "Added to your cart." in messages_of(response)
    cart = anonymous_cart(client)
    assert lines_of(cart) == {variant.pk: 2}
    assert cart.lines.get().price_seen == D("50.00")

    page = client.get("/cart/")
    assert [line.line.quantity for line in page.context["summary"].lines] == [2]
    assert page.context["summary"].subtotal == D("100.00")

    stranger = type(client)()
    assert stranger.get("/cart/").context["summary"].lines == []  # another session, another cart


def test_add_change_and_remove_lines(client):
    a = stocked_variant(price="50.00")
    b = stocked_variant(price="20.00")
    client.post("/cart/add/", {"variant": a.pk, "quantity": "2"})
    client.post("/cart/add/", {"variant": a.pk, "quantity": "3"})  # adds to the line
    client.post("/cart/add/", {"variant": b.pk})  # one by default
    cart = anonymous_cart(client)
    assert lines_of(cart) == {a.pk: 5, b.pk: 1}

    line_a = cart.lines.get(variant=a)
    response = client.post(f"/cart/line/{line_a.pk}/", {"quantity": "4"})
    assert response.status_code == 302
    assert lines_of(cart) == {a.pk: 4, b.pk: 1}

    client.post(f"/cart/line/{line_a.pk}/remove/")
    assert lines_of(cart) == {b.pk: 1}
    assert client.get("/cart/").context["summary"].subtotal == D("20.00")

    gone = client.post(f"/cart/line/{line_a.pk}/", {"quantity": "2"})
    assert "That line is no longer in your cart." in messages_of(gone)
    assert lines_of(cart) == {b.pk: 1}


def test_adding_more_than_available_or_an_unsold_product_is_refused(client):
    scarce = stocked_variant(on_hand=3)
    client.post("/cart/add/", {"variant": scarce.pk, "quantity": "2"})
    refused = client.post("/cart/add/", {"variant": scarce.pk, "quantity": "2"})
    assert last_message(refused).startswith("Only 3 of")
    assert lines_of(anonymous_cart(client)) == {scarce.pk: 2}

    line = anonymous_cart(client).lines.get()
    too_many = client.post(f"/cart/line/{line.pk}/", {"quantity": "4"})
    assert last_message(too_many).startswith("Only 3 of")
    assert lines_of(anonymous_cart(client)) == {scarce.pk: 2}

    retired = stocked_variant()
    retired.product.is_active = False
    retired.product.save()
    refused = client.post("/cart/add/", {"variant": retired.pk, "quantity": "1"})
    assert last_message(refused) == "This product is no longer sold."
    unknown = client.post("/cart/add/", {"variant": "", "quantity": "1"})
    assert last_message(unknown) == "Choose a product option first."
    assert lines_of(anonymous_cart(client)) == {scarce.pk: 2}


def test_availability_is_flagged_per_line(client):
    plenty = stocked_variant(on_hand=10)
    shrinking = stocked_variant(on_hand=10)
    retired = stocked_variant(on_hand=10)
    for variant, quantity in ((plenty, 2), (shrinking, 3), (retired, 1)):
        client.post("/cart/add/", {"variant": variant.pk, "quantity": str(quantity)})
    Stock.objects.filter(variant=shrinking).update(on_hand=1)  # a stocktake found fewer
    retired.is_active = False
    retired.save()

    summary = services.cart_summary(cart=anonymous_cart(client))
    flags = {line.variant.pk: (line.available, line.short) for line in summary.lines}
    assert flags == {plenty.pk: (10, False), shrinking.pk: (1, True), retired.pk: (0, True)}
    assert summary.has_problems

    page = client.get("/cart/").content.decode()
    assert page.count('class="flagged"') == 2
    assert "Only 1 available" in page
    assert "Out of stock" in page


def test_a_line_that_cannot_be_sold_any_more_is_not_ordered():
    """A variant retired after it was put in a cart, though still in a warehouse, is refused at
    checkout: the customer sees it flagged "out of stock" on the cart page."""
    kept = stocked_variant(on_hand=10)
    retired = stocked_variant(on_hand=10)
    user, address, cart = buyer_with_cart([(kept, 1), (retired, 1)])
    retired.is_active = False
    retired.save()

    with pytest.raises(CartError) as error:
        place(user, address, cart)
    assert error.value.code == CartErrorCode.OUT_OF_STOCK
    assert retired.product.display_name in error.value.message
    assert not Order.objects.exists()
    assert (reserved(kept), reserved(retired)) == (0, 0)


def test_a_changed_price_is_flagged_and_refused_until_accepted(client):
    variant = stocked_variant(price="50.00")
    user, address, cart = buyer_with_cart([(variant, 2)])
    variant.price = D("55.00")
    variant.save()

    summary = services.cart_summary(cart=cart)
    assert [(line.price_changed, line.unit_price) for line in summary.lines] == [(True, D("55.00"))]
    assert summary.subtotal == D("110.00")  # shown at the new price
    client.force_login(user)
    assert "Price changed (was ¥50.00)" in client.get("/cart/").content.decode()

    with pytest.raises(CartError) as error:
        place(user, address, cart)
    assert error.value.code == CartErrorCode.PRICE_CHANGED
    response = client.post(
        "/checkout/place/",
        {
            "cart": cart.token,
            "address": address.pk,
            "shipping_method": "standard",
            "payment_method": "sandbox",
        },
    )
    assert response.url == "/cart/"
    assert last_message(response) == "Some prices changed since you added the items; please check your cart."
    assert not Order.objects.exists()
    assert reserved(variant) == 0

    client.post("/cart/accept-prices/")
    assert cart.lines.get().price_seen == D("55.00")
    order = place(user, address, cart)
    assert order.lines.get().unit_price == D("55.00")
    assert order.subtotal == D("110.00")


def test_the_anonymous_cart_merges_into_the_customers_on_login(client):
    only_anonymous = stocked_variant(on_hand=200)
    in_both = stocked_variant(on_hand=200)
    only_mine = stocked_variant(on_hand=200)
    capped = stocked_variant(on_hand=200)
    user, _address, mine = buyer_with_cart([(in_both, 2), (only_mine, 1), (capped, 60)])

    client.post("/cart/add/", {"variant": only_anonymous.pk, "quantity": "3"})
    client.post("/cart/add/", {"variant": in_both.pk, "quantity": "4"})
    client.post("/cart/add/", {"variant": capped.pk, "quantity": "50"})
    anonymous = anonymous_cart(client)

    response = client.post("/account/login/", {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302

    assert lines_of(mine) == {
        only_anonymous.pk: 3,
        in_both.pk: 6,
        only_mine.pk: 1,
        capped.pk: settings.CART_MAX_LINE_QUANTITY,
    }
    assert not Cart.objects.filter(pk=anonymous.pk).exists()
    assert "cart_token" not in client.session
    assert Cart.objects.filter(user=user, state=Cart.State.OPEN).count() == 1
    assert client.get("/cart/").context["summary"].cart == mine


def test_an_anonymous_cart_becomes_the_customers_when_they_had_none(client):
    variant = stocked_variant()
    user = factories.UserFactory()
    client.post("/cart/add/", {"variant": variant.pk, "quantity": "2"})
    client.post("/account/login/", {"username": user.email, "password": PASSWORD})
    assert lines_of(Cart.objects.get(user=user, state=Cart.State.OPEN)) == {variant.pk: 2}


# -- shipping and insurance -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "grams", "province", "goods", "fee"),
    [
        ("standard", 0, "上海", "10.00", "8.00"),
        ("standard", 1000, "上海", "10.00", "8.00"),  # the first kilogram is in the base fee
        ("standard", 1001, "上海", "10.00", "10.00"),  # every started kilogram above it costs
        ("standard", 2000, "上海", "10.00", "10.00"),
        ("standard", 2001, "上海", "10.00", "12.00"),
        ("express", 2500, "上海", "10.00", "30.00"),
        ("standard", 5000, "上海", "98.99", "16.00"),
        ("standard", 5000, "上海", "99.00", "0.00"),  # free from the threshold
        ("express", 500, "上海", "1000.00", "18.00"),  # express is never free
        ("standard", 500, "新疆", "10.00", "18.00"),  # remote province surcharge
        ("standard", 1500, "内蒙古自治区", "10.00", "20.00"),
        ("standard", 500, "西藏", "500.00", "18.00"),  # remote: no free shipping
        ("express", 500, "青海", "10.00", "28.00"),
        ("standard", 500, "", "10.00", "8.00"),  # province not chosen yet
    ],
)
def test_shipping_quote(method, grams, province, goods, fee):
    quote = shipping_quote(method=method, weight_grams=grams, province=province, goods=D(goods))
    assert quote.fee == D(fee)
    assert quote.method == method


def test_shipping_quotes_cover_every_method_and_an_unknown_one_is_refused():
    quotes = shipping_quotes(weight_grams=500, province="上海", goods=D("10.00"))
    assert [(q.method, q.fee) for q in quotes] == [("standard", D("8.00")), ("express", D("18.00"))]
    with pytest.raises(KeyError):
        shipping_quote(method="teleport", weight_grams=500, province="上海", goods=D("10.00"))
    user, address, cart = buyer_with_cart([(stocked_variant(), 1)])
    with pytest.raises(CartError) as error:
        place(user, address, cart, shipping_method="teleport")
    assert error.value.code == CartErrorCode.BAD_SHIPPING


@pytest.mark.parametrize(
    ("goods", "fee"),
    [("0.01", "1.00"), ("100.00", "1.00"), ("200.00", "1.00"), ("333.33", "1.67"), ("1000.00", "5.00")],
)
def test_insurance_is_five_per_mille_of_the_goods_at_least_one_yuan(goods, fee):
    assert insurance_fee(D(goods)) == D(fee)


def test_the_cart_page_estimates_shipping_for_a_province(client):
    variant = stocked_variant(price="20.00", weight=1500)
    client.post("/cart/add/", {"variant": variant.pk, "quantity": "1"})
    near = client.get("/cart/", {"province": "上海"}).context
    far = client.get("/cart/", {"province": "新疆"}).context
    assert [q.fee for q in near["quotes"]] == [D("10.00"), D("24.00")]
    assert [q.fee for q in far["quotes"]] == [D("20.00"), D("34.00")]
    assert far["totals"].total == D("40.00")


# -- totals come from the server ------------------------------------------------------------

TAMPERING = {
    "price": "1",
    "unit_price": "0.01",
    "price_seen": "0.01",
    "line_total": "0.01",
    "subtotal": "0.01",
    "discount": "999",
    "shipping_fee": "0",
    "insurance_fee": "0",
    "total": "0.01",
}


def test_prices_and_totals_posted_by_the_browser_are_ignored(client):
    variant = stocked_variant(price="30.00", weight=500)
    user = factories.UserFactory()
    address = factories.AddressFactory(user=user, province="上海")
    client.force_login(user)

    client.post("/cart/add/", {"variant": variant.pk, "quantity": "2", **TAMPERING})
    line = CartLine.objects.get()
    assert (line.quantity, line.price_seen) == (2, D("30.00"))

    choice = {"address": address.pk, "shipping_method": "standard", "payment_method": "sandbox"}
    review = client.post("/checkout/", {**choice, "insured": "on", **TAMPERING})
    assert review.status_code == 200
    totals = review.context["totals"]
    # 2 × 30.00, standard shipping under 1 kg 8.00, insurance at least 1.00
    assert (totals.subtotal, totals.shipping_fee, totals.insurance_fee, totals.total) == (
        D("60.00"),
        D("8.00"),
        D("1.00"),
        D("69.00"),
    )

    cart = Cart.objects.get(user=user)
    total = shown_total(cart, address, insured=True)  # what the page showed: compared, never charged
    response = client.post(
        "/checkout/place/", {**choice, "cart": cart.token, "insured": "1", **TAMPERING, "total": total}
    )
    order = Order.objects.get()
    assert response.status_code == 302 and response.url == order.get_absolute_url()
    server = services.checkout_totals(
        summary=services.cart_summary(cart=cart),
        province="上海",
        shipping_method="standard",
        insured=True,
        customer=user,
    )
    assert (order.subtotal, order.discount, order.shipping_fee, order.insurance_fee, order.total) == (
        server.subtotal,
        server.discount,
        server.shipping_fee,
        server.insurance_fee,
        server.total,
    )
    assert order.total == D("69.00")
    assert order.lines.get().unit_price == D("30.00")
    assert order.lines.get().line_total == D("60.00")


# -- coupons --------------------------------------------------------------------------------


def coupon(**fields) -> Coupon:
    return factories.CouponFactory(**fields)


@pytest.mark.parametrize(
    ("kind", "value", "price", "discount"),
    [
        ("fixed", "10.00", "60.00", "10.00"),
        ("fixed", "100.00", "60.00", "60.00"),  # never more than the goods
        ("percent", "15", "60.00", "9.00"),
        ("percent", "12.5", "33.33", "4.17"),  # 4.16625, half-up
        ("percent", "100", "33.33", "33.33"),
    ],
)
def test_fixed_and_percent_coupons(kind, value, price, discount):
    code = coupon(kind=kind, value=D(value)).code
    user, address, cart = buyer_with_cart([(stocked_variant(price=price), 1)], coupon=code.lower())
    order = place(user, address, cart)
    assert order.discount == D(discount)
    assert order.total == order.subtotal - order.discount + order.shipping_fee
    assert order.coupon_code == code
    redemption = CouponRedemption.objects.get()
    assert (redemption.order, redemption.customer, redemption.amount) == (order, user, D(discount))
    assert Coupon.objects.get(code=code).used_count == 1


def test_applying_a_coupon_in_the_cart(client):
    code = coupon(value=D("5.00"), min_spend=D("100.00")).code
    user, _address, cart = buyer_with_cart([(stocked_variant(price="60.00"), 1)])
    client.force_login(user)

    too_little = client.post("/cart/coupon/", {"code": code})
    assert last_message(too_little) == f"The coupon “{code}” needs a spend of at least ¥100.00."
    assert Cart.objects.get(pk=cart.pk).coupon_code == ""
    unknown = client.post("/cart/coupon/", {"code": "nope"})
    assert last_message(unknown) == "There is no coupon “NOPE”."

    client.post("/cart/add/", {"variant": cart.lines.get().variant_id, "quantity": "1"})
    applied = client.post("/cart/coupon/", {"code": f" {code.lower()} "})
    assert last_message(applied) == "Coupon applied."
    assert Cart.objects.get(pk=cart.pk).coupon_code == code
    assert client.get("/cart/").context["totals"].discount == D("5.00")

    client.post("/cart/coupon/", {"remove": "1"})
    assert Cart.objects.get(pk=cart.pk).coupon_code == ""


def test_a_coupon_needs_its_minimum_spend_at_placing_too():
    code = coupon(min_spend=D("100.00")).code
    user, address, cart = buyer_with_cart([(stocked_variant(price="99.99"), 1)], coupon=code)
    with pytest.raises(OrderError) as error:
        place(user, address, cart)
    assert error.value.code == OrderErrorCode.COUPON_MIN_SPEND
    assert not Order.objects.exists()


def test_a_coupon_is_valid_only_between_its_dates():
    now = timezone.now()
    code = coupon(starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=2)).code
    variant = stocked_variant(price="60.00")

    with time_machine.travel(now, tick=False):
        user, address, cart = buyer_with_cart([(variant, 1)], coupon=code)
        with pytest.raises(OrderError) as error:
            place(user, address, cart)
        assert error.value.code == OrderErrorCode.COUPON_NOT_YET
        assert not Order.objects.exists()

    with time_machine.travel(now + timedelta(days=2, seconds=1), tick=False):
        with pytest.raises(OrderError) as error:
            place(user, address, cart)
        assert error.value.code == OrderErrorCode.COUPON_EXPIRED
        assert not Order.objects.exists()

    with time_machine.travel(now + timedelta(days=1, hours=12), tick=False):
        assert place(user, address, cart).discount == D("10.00")


def test_a_coupons_total_usage_limit():
    code = coupon(usage_limit=2, per_customer_limit=5).code
    variant = stocked_variant(price="60.00")
    first, second, third = (buyer_with_cart([(variant, 1)], coupon=code) for _ in range(3))
    assert place(*first).discount == D("10.00")
    assert place(*second).discount == D("10.00")
    with translation.override("en"), pytest.raises(OrderError) as error:
        place(*third)
    assert error.value.code == OrderErrorCode.COUPON_USED_UP
    assert error.value.message == f"The coupon “{code}” has been fully used."
    assert Order.objects.count() == 2
    assert Coupon.objects.get(code=code).used_count == 2


def test_a_coupons_per_customer_limit():
    code = coupon(per_customer_limit=1).code
    variant = stocked_variant(price="60.00")
    user, address, cart = buyer_with_cart([(variant, 1)], coupon=code)
    place(user, address, cart)
    again = Cart.objects.create(user=user, coupon_code=code)
    again.lines.create(variant=variant, quantity=1, price_seen=variant.price)
    with pytest.raises(OrderError) as error:
        place(user, address, again)
    assert error.value.code == OrderErrorCode.COUPON_CUSTOMER_LIMIT
    assert Order.objects.count() == 1
    assert place(*buyer_with_cart([(variant, 1)], coupon=code)).discount == D("10.00")  # another customer may


def test_cancelling_an_order_gives_its_coupon_use_back():
    code = coupon(usage_limit=1).code
    variant = stocked_variant(price="60.00")
    user, address, cart = buyer_with_cart([(variant, 1)], coupon=code)
    order = place(user, address, cart)
    assert Coupon.objects.get(code=code).used_count == 1

    order_cancel(order_id=order.pk, actor=user, actor_kind="customer", reason="changed my mind")
    assert Coupon.objects.get(code=code).used_count == 0
    assert not CouponRedemption.objects.exists()
    order_cancel(order_id=order.pk, actor=user, actor_kind="customer", reason="again")  # idempotent
    assert Coupon.objects.get(code=code).used_count == 0

    assert place(*buyer_with_cart([(variant, 1)], coupon=code)).discount == D("10.00")
    assert Coupon.objects.get(code=code).used_count == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("run", range(5))
def test_two_customers_race_for_the_last_use_of_a_coupon(run):
    code = coupon(usage_limit=1).code
    variant = stocked_variant(on_hand=10, price="60.00")
    buyers = [buyer_with_cart([(variant, 1)], coupon=code) for _ in range(2)]
    barrier = threading.Barrier(len(buyers))
    results: list = [None] * len(buyers)

    def buy(i, buyer):
        try:
            barrier.wait(timeout=30)
            with translation.override("en"):
                results[i] = place(*buyer)
        except Exception as exc:  # collected and asserted on below
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=buy, args=(i, b)) for i, b in enumerate(buyers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)

    orders = [r for r in results if isinstance(r, Order)]
    refused = [r for r in results if not isinstance(r, Order)]
    assert len(orders) == 1, results
    assert orders[0].discount == D("10.00")
    assert [(type(e), e.code) for e in refused] == [(OrderError, OrderErrorCode.COUPON_USED_UP)]
    assert refused[0].message == f"The coupon “{code}” has been fully used."
    loser = buyers[results.index(refused[0])][0]
    assert not Order.objects.filter(customer=loser).exists()
    assert Order.objects.count() == 1
    assert Coupon.objects.get(code=code).used_count == 1
    assert CouponRedemption.objects.count() == 1
    assert reserved(variant) == 1
    assert Cart.objects.get(user=loser).state == Cart.State.OPEN  # nothing half-done


# -- placing, cancelling, timing out --------------------------------------------------------


def test_placing_an_order_empties_the_cart_reserves_stock_and_owes_a_mail():
    variant = stocked_variant(on_hand=10, price="50.00")
    user, address, cart = buyer_with_cart([(variant, 3)])
    order = place(user, address, cart)

    assert order.status == Order.Status.PENDING_PAYMENT
    assert order.number.startswith(timezone.localdate().strftime("%Y%m%d")) and len(order.number) == 16
    assert order.pay_by == order.placed_at + timedelta(minutes=settings.ORDER_PAYMENT_MINUTES)
    assert (order.recipient, order.street) == (address.recipient, address.street)
    cart.refresh_from_db()
    assert cart.state == Cart.State.ORDERED
    fresh = services.cart_open(user=user, session={})
    assert fresh.pk != cart.pk and fresh.state == Cart.State.OPEN and not fresh.lines.exists()
    assert services.cart_summary(cart=services.cart_for(user=user, session={})).lines == []

    assert reserved(variant) == 3
    assert Reservation.objects.get(order=order).quantity == 3
    placed = Notification.objects.get(order=order)
    assert (placed.kind, placed.to) == ("order_placed", user.email)
    event = OrderEvent.objects.get(order=order)
    assert (event.from_status, event.to_status, event.actor, event.actor_kind) == (
        "",
        "pending_payment",
        user,
        "customer",
    )

    assert place(user, address, cart) == order  # a replayed "place order" finds the same order
    assert Order.objects.count() == 1 and reserved(variant) == 3


def test_placing_from_an_empty_cart_or_without_an_address_is_refused():
    user, address, cart = buyer_with_cart([])
    with pytest.raises(CartError) as error:
        place(user, address, cart)
    assert error.value.code == CartErrorCode.EMPTY
    cart.lines.create(variant=stocked_variant(), quantity=1, price_seen=D("50.00"))
    other_address = factories.AddressFactory()
    with pytest.raises(CartError) as error:
        place(user, other_address, cart)  # not theirs
    assert error.value.code == CartErrorCode.NO_ADDRESS
    with pytest.raises(CartError) as error:
        place(user, address, cart, payment_method="alipay")  # not enabled
    assert error.value.code == CartErrorCode.BAD_PAYMENT
    assert not Order.objects.exists()


def test_the_customer_cancels_an_unpaid_order(client):
    code = coupon(usage_limit=1).code
    variant = stocked_variant(on_hand=10, price="60.00")
    user, address, cart = buyer_with_cart([(variant, 2)], coupon=code)
    order = place(user, address, cart)
    client.force_login(user)

    assert client.get(f"/orders/{order.number}/cancel/").status_code == 405
    response = client.post(f"/orders/{order.number}/cancel/")
    assert response.status_code == 302 and response.url == order.get_absolute_url()
    assert last_message(response) == f"Order {order.number} cancelled."

    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert order.cancelled_at is not None
    assert reserved(variant) == 0
    assert Reservation.objects.get(order=order).released
    assert Coupon.objects.get(code=code).used_count == 0
    assert Notification.objects.filter(order=order, kind="order_cancelled").count() == 1
    event = order.events.last()
    assert (event.from_status, event.to_status, event.actor, event.actor_kind) == (
        "pending_payment",
        "cancelled",
        user,
        "customer",
    )


def test_a_paid_order_cannot_be_cancelled_by_the_customer(client):
    variant = stocked_variant(on_hand=10)
    user, address, cart = buyer_with_cart([(variant, 1)])
    order = place(user, address, cart)
    order_mark_paid(order_id=order.pk, amount=order.total, reference="P1")
    client.force_login(user)

    response = client.post(f"/orders/{order.number}/cancel/")
    assert last_message(response) == "Only an unpaid order can be cancelled here."
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert reserved(variant) == 1


def test_unpaid_orders_are_cancelled_after_the_payment_timeout_and_paid_ones_are_left_alone():
    variant = stocked_variant(on_hand=10)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        unpaid = place(*buyer_with_cart([(variant, 2)]))
        paid = place(*buyer_with_cart([(variant, 3)]))
        order_mark_paid(order_id=paid.pk, amount=paid.total, reference="P2")
    assert reserved(variant) == 5

    with time_machine.travel(start + timedelta(minutes=29), tick=False):
        assert orders_cancel_expired() == 0
    assert Order.objects.get(pk=unpaid.pk).status == Order.Status.PENDING_PAYMENT

    with time_machine.travel(start + timedelta(minutes=31), tick=False):
        assert orders_cancel_expired() == 1
        assert orders_cancel_expired() == 0  # nothing left to do

    unpaid.refresh_from_db()
    paid.refresh_from_db()
    assert (unpaid.status, unpaid.cancel_reason) == (Order.Status.CANCELLED, "payment timeout")
    assert unpaid.events.last().actor_kind == "system"
    assert Notification.objects.filter(order=unpaid, kind="order_cancelled").count() == 1
    assert paid.status == Order.Status.PAID
    assert reserved(variant) == 3  # only the paid order's units are still held
    assert not Reservation.objects.get(order=paid).released
