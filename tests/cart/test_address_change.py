"""Changing the delivery address before any parcel is packed (seed 004: 修改联系方式): the order's
address snapshot is replaced and recorded, the units re-routed when the nearest warehouse
changes, the shipping fee re-priced and the difference settled (refunded, paid from the wallet,
or collected on delivery), keeping Σ captured − Σ refunded of the order's payments equal to its
total. Refused once a parcel is packed; another customer's order is 404."""

from decimal import Decimal

import pytest
from django.core import mail
from django.db.models import Sum

from cart import services
from cart.exceptions import CartError, CartErrorCode
from fulfillment.models import Reservation, Shipment, Stock
from fulfillment.services import shipment_pack
from orders.models import Notification, Order
from orders.services import notification_deliver
from payments.models import Payment, Refund, Wallet, WalletEntry
from payments.providers import GatewayResult
from payments.services import payment_apply, wallet_top_up
from tests import factories
from tests.fulfillment.support import paid_order, placed_order, stock, variant, warehouses
from tests.purchase import messages_of

pytestmark = pytest.mark.django_db

PLACES = {
    "shanghai": ("上海", "上海"),
    "beijing": ("北京", "北京"),
    "xinjiang": ("新疆", "乌鲁木齐"),  # remote: +10.00, and never free
    "tibet": ("西藏", "拉萨"),
}
# 1 unit of 50.00, 500 g: standard shipping 8.00; 18.00 to a remote province.
FEE = {"shanghai": Decimal("8.00"), "beijing": Decimal("8.00"), "xinjiang": Decimal("18.00"), "tibet": Decimal("18.00")}


@pytest.fixture
def places():
    return warehouses()


@pytest.fixture
def tea(places):
    """One variant stocked in Shanghai and Beijing."""
    v = variant(price="50.00", weight=500)
    stock(places["sh"], v, 10)
    stock(places["bj"], v, 10)
    return v


def address(user, place: str):
    province, city = PLACES[place]
    return factories.AddressFactory(
        user=user, province=province, city=city, district="", recipient=f"收件人{place}", is_default=False
    )


def order_from(tea, place: str = "shanghai", *, paid_with: str | None = "sandbox") -> Order:
    """An order of one unit to `place`: unpaid, or paid through the gateway ("sandbox": a
    captured payment), from the wallet, or accepted for cash on delivery ("cod")."""
    province, city = PLACES[place]
    if paid_with == "cod":
        return paid_order([(tea, 1)], province=province, city=city, payment_method="cod")
    order = placed_order([(tea, 1)], province=province, city=city)
    if paid_with == "sandbox":
        payment = Payment.objects.create(
            order=order, provider="sandbox", reference=f"P-{order.number}", amount=order.total, currency="CNY"
        )
        result = GatewayResult(
            reference=payment.reference,
            transaction_id=f"T-{order.number}",
            amount=order.total,
            currency="CNY",
            merchant_id="m",
            succeeded=True,
        )
        payment_apply(payment_id=payment.pk, result=result)
    elif paid_with == "wallet":
        from payments.services import wallet_pay

        wallet_top_up(user=order.customer, amount=order.total, reference="top-up")
        wallet_pay(order_id=order.pk, user=order.customer)
    order.refresh_from_db()
    return order


def held(order: Order) -> Decimal:
    """What the order's payments hold: Σ captured − Σ refunded (payments that took money)."""
    taken = Payment.objects.filter(
        order=order, state__in=(Payment.State.CAPTURED, Payment.State.TO_REFUND, Payment.State.REFUNDED)
    )
    return sum((p.amount - p.refunded for p in taken), start=Decimal("0.00"))


def assert_money_adds_up(order: Order) -> None:
    order.refresh_from_db()
    assert order.total == order.subtotal - order.discount + order.shipping_fee + order.insurance_fee
    if order.status == Order.Status.PAID and order.payment_method != "cod":
        assert held(order) == order.total
    for wallet in Wallet.objects.filter(user=order.customer):
        assert wallet.balance == (wallet.entries.aggregate(s=Sum("amount"))["s"] or 0)


def change(order: Order, place: str):
    return services.order_change_address(
        order_id=order.pk, customer=order.customer, address_id=address(order.customer, place).pk
    )


def open_parcels(order: Order):
    return list(Shipment.objects.filter(order=order).exclude(status=Shipment.Status.CANCELLED))


def reserved_at(tea, code: str) -> int:
    return Stock.objects.get(variant=tea, warehouse__code=code).reserved


# -- re-routing -----------------------------------------------------------------------------------


def test_a_paid_order_is_rerouted_when_the_nearest_warehouse_changes(tea):
    order = order_from(tea, "shanghai")
    [parcel] = open_parcels(order)
    assert parcel.warehouse.code == "sh"

    result = change(order, "beijing")

    assert result.rerouted
    [new] = open_parcels(order)
    assert new.warehouse.code == "bj"
    assert Shipment.objects.get(pk=parcel.pk).status == Shipment.Status.CANCELLED
    assert (reserved_at(tea, "sh"), reserved_at(tea, "bj")) == (0, 1)
    order.refresh_from_db()
    assert (order.province, order.city, order.recipient) == ("北京", "北京", "收件人beijing")
    assert order.status == Order.Status.PAID
    assert_money_adds_up(order)


def test_an_unpaid_orders_reservation_moves_too(tea):
    order = order_from(tea, "shanghai", paid_with=None)
    assert reserved_at(tea, "sh") == 1

    result = change(order, "beijing")

    assert result.rerouted
    assert (reserved_at(tea, "sh"), reserved_at(tea, "bj")) == (0, 1)
    assert Reservation.objects.filter(order=order, state=Reservation.State.HELD).get().stock.warehouse.code == "bj"
    assert not Shipment.objects.filter(order=order).exists()


def test_another_street_in_the_same_city_keeps_the_route(tea):
    order = order_from(tea, "shanghai")
    [parcel] = open_parcels(order)

    result = change(order, "shanghai")

    assert not result.rerouted
    assert open_parcels(order) == [parcel]
    assert result.difference == 0
    assert not Refund.objects.filter(payment__order=order).exists()


# -- the fee and the money ------------------------------------------------------------------------


def test_a_lower_fee_is_refunded_to_the_payment(tea):
    order = order_from(tea, "xinjiang")
    assert order.shipping_fee == FEE["xinjiang"]
    payment = order.payments.get()

    result = change(order, "shanghai")

    assert (result.old_fee, result.new_fee, result.difference, result.refunded) == (
        Decimal("18.00"),
        Decimal("8.00"),
        Decimal("-10.00"),
        Decimal("10.00"),
    )
    refund = Refund.objects.get(payment=payment)
    assert (refund.amount, refund.reason, refund.note) == (
        Decimal("10.00"),
        Refund.Reason.CUSTOMER,
        "shipping re-priced",
    )
    payment.refresh_from_db()
    assert payment.refunded == Decimal("10.00")
    order.refresh_from_db()
    assert (order.shipping_fee, order.total) == (Decimal("8.00"), Decimal("58.00"))
    assert_money_adds_up(order)


def test_a_higher_fee_is_paid_from_the_wallet(tea):
    order = order_from(tea, "shanghai")
    wallet_top_up(user=order.customer, amount=Decimal("100.00"), reference="top-up")

    result = change(order, "xinjiang")

    assert (result.difference, result.from_wallet, result.refunded) == (Decimal("10.00"), Decimal("10.00"), 0)
    supplement = order.payments.get(purpose=Payment.Purpose.SUPPLEMENT)
    assert (supplement.provider, supplement.state, supplement.amount) == ("wallet", "captured", Decimal("10.00"))
    entry = WalletEntry.objects.filter(wallet__user=order.customer).first()
    assert (entry.amount, entry.reason, entry.reference) == (Decimal("-10.00"), "payment", order.number)
    assert Wallet.objects.get(user=order.customer).balance == Decimal("90.00")
    assert_money_adds_up(order)


def test_a_higher_fee_the_wallet_cannot_cover_is_refused_and_nothing_changes(tea, client):
    order = order_from(tea, "shanghai")
    wallet_top_up(user=order.customer, amount=Decimal("4.00"), reference="top-up")
    before = (order.province, order.shipping_fee, order.total, order.events.count())
    [parcel] = open_parcels(order)
    remote = address(order.customer, "xinjiang")
    client.force_login(order.customer)

    response = client.post(f"/checkout/change-address/{order.number}/", {"address": remote.pk})

    assert response.status_code == 302
    shown = messages_of(response)[-1]
    assert "¥10.00 more" in shown and "¥4.00" in shown and "not changed" in shown
    order.refresh_from_db()
    assert (order.province, order.shipping_fee, order.total, order.events.count()) == before
    assert open_parcels(order) == [parcel]
    assert Wallet.objects.get(user=order.customer).balance == Decimal("4.00")
    assert order.payments.count() == 1
    assert not Notification.objects.filter(order=order, kind=Notification.Kind.ADDRESS_CHANGED).exists()
    with pytest.raises(CartError) as caught:
        services.order_change_address(order_id=order.pk, customer=order.customer, address_id=remote.pk)
    assert caught.value.code == CartErrorCode.WALLET_SHORT


def test_an_unpaid_order_just_costs_more(tea):
    order = order_from(tea, "shanghai", paid_with=None)

    result = change(order, "tibet")

    order.refresh_from_db()
    assert (order.shipping_fee, order.total, result.difference) == (
        Decimal("18.00"),
        Decimal("68.00"),
        Decimal("10.00"),
    )
    assert order.status == Order.Status.PENDING_PAYMENT
    assert not order.payments.exists()
    assert_money_adds_up(order)


def test_a_gateway_payment_started_at_the_old_total_goes_back(tea):
    order = order_from(tea, "shanghai", paid_with=None)
    started = Payment.objects.create(
        order=order, provider="sandbox", reference="P-OLD", amount=order.total, currency="CNY"
    )
    change(order, "tibet")

    payment_apply(
        payment_id=started.pk,
        result=GatewayResult(
            reference="P-OLD",
            transaction_id="T-OLD",
            amount=started.amount,
            currency="CNY",
            merchant_id="m",
            succeeded=True,
        ),
    )

    started.refresh_from_db()
    order.refresh_from_db()
    assert started.state == Payment.State.TO_REFUND
    assert Refund.objects.get(payment=started).amount == Decimal("58.00")
    assert order.status == Order.Status.PENDING_PAYMENT  # to be paid at the new total


def test_cash_on_delivery_collects_the_new_total(tea):
    order = order_from(tea, "shanghai", paid_with="cod")
    cod = order.payments.get()
    assert cod.state == Payment.State.AWAITING_COLLECTION
    assert [p.cod_amount for p in open_parcels(order)] == [Decimal("58.00")]

    result = change(order, "xinjiang")

    order.refresh_from_db()
    cod.refresh_from_db()
    assert order.total == Decimal("68.00")
    assert cod.amount == result.cash_due == Decimal("68.00")
    assert [p.cod_amount for p in open_parcels(order)] == [Decimal("68.00")]
    assert not Refund.objects.filter(payment__order=order).exists()
    assert Wallet.objects.filter(user=order.customer, balance__gt=0).count() == 0

    change(order, "shanghai")  # and back down
    cod.refresh_from_db()
    assert cod.amount == Decimal("58.00")
    assert [p.cod_amount for p in open_parcels(order)] == [Decimal("58.00")]


def test_the_payments_keep_holding_the_order_total_through_any_changes(tea):
    """Σ captured − Σ refunded of the order's payments equals its total after every change,
    whether it goes up (wallet supplement), down (refund, supplement first) or sideways."""
    order = order_from(tea, "shanghai")
    wallet_top_up(user=order.customer, amount=Decimal("25.00"), reference="top-up")
    for place in ("xinjiang", "beijing", "tibet", "xinjiang", "shanghai", "tibet", "tibet", "beijing"):
        change(order, place)
        assert_money_adds_up(order)
        assert order.shipping_fee == FEE[place]
    order.refresh_from_db()
    assert order.total == Decimal("58.00")
    assert held(order) == Decimal("58.00")


# -- what is recorded and mailed ---------------------------------------------------------------------


def test_the_change_is_recorded_and_mailed(tea, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    order = order_from(tea, "xinjiang")
    events = order.events.count()

    change(order, "beijing")

    order.refresh_from_db()
    assert order.events.count() == events + 1
    event = order.events.last()
    assert (event.from_status, event.to_status, event.actor, event.actor_kind) == (
        "paid",
        "paid",
        order.customer,
        "customer",
    )
    assert "18.00" in event.note and "8.00" in event.note
    notification = Notification.objects.get(order=order, kind=Notification.Kind.ADDRESS_CHANGED)
    assert notification.to == order.customer.email
    assert notification_deliver(notification_id=notification.pk)
    body = mail.outbox[-1].body
    assert "收件人beijing" in body and "北京" in body


# -- refusals ----------------------------------------------------------------------------------------


def test_refused_once_a_parcel_is_packed(tea, client):
    order = order_from(tea, "shanghai")
    [parcel] = open_parcels(order)
    shipment_pack(shipment_id=parcel.pk)
    elsewhere = address(order.customer, "beijing")
    client.force_login(order.customer)

    page = client.get(f"/checkout/change-address/{order.number}/").content.decode()
    assert 'id="address-locked"' in page
    assert 'id="change-address-link"' not in client.get(f"/orders/{order.number}/").content.decode()
    response = client.post(f"/checkout/change-address/{order.number}/", {"address": elsewhere.pk})

    assert "already been packed" in messages_of(response)[-1]
    order.refresh_from_db()
    assert (order.province, order.shipping_fee) == ("上海", Decimal("8.00"))
    assert open_parcels(order) == [Shipment.objects.get(pk=parcel.pk)]


@pytest.mark.parametrize("status", [Order.Status.SHIPPED, Order.Status.COMPLETED, Order.Status.CANCELLED])
def test_refused_for_an_order_past_shipping_or_cancelled(tea, status):
    order = order_from(tea, "shanghai")
    Order.objects.filter(pk=order.pk).update(status=status)
    with pytest.raises(CartError) as caught:
        change(order, "beijing")
    assert caught.value.code == CartErrorCode.ADDRESS_LOCKED


def test_another_customers_order_answers_404_and_nothing_changes(tea, client):
    order = order_from(tea, "shanghai")
    stranger = factories.UserFactory()
    theirs = address(stranger, "beijing")
    client.force_login(stranger)

    assert client.get(f"/checkout/change-address/{order.number}/").status_code == 404
    assert client.post(f"/checkout/change-address/{order.number}/", {"address": theirs.pk}).status_code == 404
    with pytest.raises(Order.DoesNotExist):
        services.order_change_address(order_id=order.pk, customer=stranger, address_id=theirs.pk)
    order.refresh_from_db()
    assert order.province == "上海"


def test_bad_input_changes_nothing(tea, client):
    order = order_from(tea, "shanghai")
    stranger_address = address(factories.UserFactory(), "beijing")
    client.force_login(order.customer)

    for value in ("", "abc", "١", str(stranger_address.pk), "99999999"):
        response = client.post(f"/checkout/change-address/{order.number}/", {"address": value})
        assert response.status_code == 200  # the form again, with its error
    with pytest.raises(CartError) as caught:
        services.order_change_address(order_id=order.pk, customer=order.customer, address_id=stranger_address.pk)
    assert caught.value.code == CartErrorCode.NO_ADDRESS
    order.refresh_from_db()
    assert (order.province, order.shipping_fee, order.events.count()) == ("上海", Decimal("8.00"), 2)


def test_the_page_lists_the_address_book_with_each_fee(tea, client):
    order = order_from(tea, "shanghai")
    address(order.customer, "xinjiang")
    client.force_login(order.customer)

    assert 'id="change-address-link"' in client.get(f"/orders/{order.number}/").content.decode()
    page = client.get(f"/checkout/change-address/{order.number}/").content.decode()

    assert "Xinjiang Urumqi" in page and "+¥10.00" in page  # the place in the page's language
    assert 'id="change-address"' in page


def test_finance_sees_the_supplement_in_the_admin(tea, client):
    order = order_from(tea, "shanghai")
    wallet_top_up(user=order.customer, amount=Decimal("10.00"), reference="top-up")
    change(order, "xinjiang")
    client.force_login(factories.UserFactory(email="finance@example.com", is_staff=True, is_superuser=True))

    page = client.get("/admin/payments/payment/", {"purpose__exact": "supplement"}).content.decode()

    supplement = order.payments.get(purpose=Payment.Purpose.SUPPLEMENT)
    assert supplement.reference in page
    assert f"P-{order.number}" not in page  # the order's own payment is filtered out
