"""The wallet (a ledger whose entries sum to the balance), cash on delivery, and Alipay page pay
with locally generated RSA2 keys: the signed request, signed async notifications, and signed
refund answers."""

import base64
import json
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.test import Client
from django.utils import translation
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from orders.models import Order, OrderEvent
from payments.exceptions import PaymentError, PaymentErrorCode
from payments.models import GatewayNotification, Payment, Wallet, WalletEntry
from payments.providers.alipay import AlipayGateway
from payments.services import payment_start, wallet_adjust, wallet_for, wallet_pay, wallet_top_up
from tests import factories
from tests.payments.conftest import APP_ID, GATEWAY_URL, SELLER_ID, notification_string, rsa2_sign
from tests.purchase import buyer_with_cart, english, last_message, place, stocked_variant

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture(autouse=True)
def _default_language_afterwards():
    """English pages leave their language active in this thread: restore the default."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def ledger_holds(user) -> None:
    """The wallet's invariant: its balance is the sum of its entries, and every entry's
    balance_after is the running sum up to it."""
    wallet = Wallet.objects.get(user=user)
    entries = list(wallet.entries.order_by("created_at", "pk"))
    running = D("0.00")
    for entry in entries:
        running += entry.amount
        assert entry.balance_after == running, entry
    assert wallet.balance == running == (wallet.entries.aggregate(s=Sum("amount"))["s"] or 0)
    assert wallet.balance >= 0


@pytest.fixture
def customer_order():
    """A customer and an unpaid order of ¥88.00 × 2 (free shipping over ¥99)."""
    user, address, cart = buyer_with_cart([(stocked_variant(on_hand=10, price="88.00"), 2)])
    order = place(user, address, cart, payment_method="wallet")
    assert order.total == D("176.00")
    return user, order


def state_of(order) -> tuple:
    order.refresh_from_db()
    wallet = Wallet.objects.filter(user=order.customer).first()
    return (
        order.status,
        list(order.payments.values_list("provider", "state", "amount")),
        order.events.count(),
        wallet.balance if wallet else None,
        WalletEntry.objects.filter(wallet__user=order.customer).count(),
    )


# -- wallet ---------------------------------------------------------------------------------


def test_paying_from_a_wallet_with_enough_balance(customer_order):
    user, order = customer_order
    wallet_top_up(user=user, amount=D("200.00"), reference="T1")
    client = english(Client())
    client.force_login(user)

    response = client.post(f"/payments/pay/{order.number}/", {"method": "wallet"})

    assert response.status_code == 302 and response.url == order.get_absolute_url()
    assert last_message(response) == "Paid from your wallet. Thank you!"
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    payment = Payment.objects.get(order=order)
    assert (payment.provider, payment.state, payment.amount) == ("wallet", "captured", D("176.00"))
    entry = WalletEntry.objects.get(reason=WalletEntry.Reason.PAYMENT)
    assert (entry.amount, entry.balance_after, entry.reference) == (D("-176.00"), D("24.00"), order.number)
    assert wallet_for(user).balance == D("24.00")
    ledger_holds(user)

    assert wallet_pay(order_id=order.pk, user=user) == payment  # paying again takes nothing more
    assert wallet_for(user).balance == D("24.00")
    assert OrderEvent.objects.filter(order=order, to_status="paid").count() == 1


def test_a_wallet_without_enough_balance_is_refused_and_nothing_changes(customer_order):
    user, order = customer_order
    wallet_top_up(user=user, amount=D("10.00"), reference="T1")
    before = state_of(order)
    client = english(Client())
    client.force_login(user)

    response = client.post(f"/payments/pay/{order.number}/", {"method": "wallet"})

    assert last_message(response) == "Your wallet balance (¥10.00) is less than the order total (¥176.00)."
    assert state_of(order) == before == ("pending_payment", [], 1, D("10.00"), 1)
    with pytest.raises(PaymentError) as error:
        wallet_pay(order_id=order.pk, user=user)
    assert error.value.code == PaymentErrorCode.INSUFFICIENT_BALANCE
    assert state_of(order) == before
    ledger_holds(user)


def test_a_customer_with_no_wallet_cannot_pay_from_it(customer_order):
    user, order = customer_order
    with pytest.raises(PaymentError) as error:
        wallet_pay(order_id=order.pk, user=user)
    assert error.value.code == PaymentErrorCode.INSUFFICIENT_BALANCE
    assert state_of(order)[:3] == ("pending_payment", [], 1)
    assert wallet_for(user).balance == D("0.00")


def test_the_ledger_sums_to_the_balance_through_top_ups_payments_and_adjustments(customer_order):
    user, order = customer_order
    staff = factories.UserFactory(is_staff=True)
    wallet_top_up(user=user, amount=D("100.00"), reference="T1")
    wallet_top_up(user=user, amount=D("100.50"), reference="T2")
    wallet_pay(order_id=order.pk, user=user)
    wallet_adjust(user=user, amount=D("5.00"), note="goodwill", actor=staff)
    wallet_adjust(user=user, amount=D("-20.25"), note="correction", actor=staff)
    with pytest.raises(PaymentError):
        wallet_adjust(user=user, amount=D("-1000.00"), note="too much", actor=staff)

    assert wallet_for(user).balance == D("9.25")
    assert list(WalletEntry.objects.filter(wallet__user=user).order_by("pk").values_list("reason", "amount")) == [
        ("top_up", D("100.00")),
        ("top_up", D("100.50")),
        ("payment", D("-176.00")),
        ("adjustment", D("5.00")),
        ("adjustment", D("-20.25")),
    ]
    ledger_holds(user)


amounts = st.decimals(min_value=-500, max_value=500, places=2).filter(lambda d: d != 0)


@hypothesis_settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moves=st.lists(st.tuples(st.sampled_from(["top_up", "adjust"]), amounts), max_size=12))
def test_the_ledger_invariant_holds_for_any_sequence_of_moves(db, moves):
    user = factories.UserFactory()  # a new customer, so a new wallet, for each example
    expected = D("0.00")
    for kind, amount in moves:
        try:
            if kind == "top_up":
                wallet_top_up(user=user, amount=abs(amount), reference="T")
            else:
                wallet_adjust(user=user, amount=amount, note="test", actor=None)
        except PaymentError as exc:
            assert exc.code == PaymentErrorCode.INSUFFICIENT_BALANCE
            assert expected + amount < 0
        else:
            expected += abs(amount) if kind == "top_up" else amount
    wallet_for(user)
    assert Wallet.objects.get(user=user).balance == expected
    ledger_holds(user)


@pytest.mark.parametrize("note", ["", "   "])
def test_a_staff_adjustment_needs_a_reason(note):
    user = factories.UserFactory()
    wallet_top_up(user=user, amount=D("50.00"), reference="T1")
    with pytest.raises(PaymentError) as error:
        wallet_adjust(user=user, amount=D("-10.00"), note=note, actor=factories.UserFactory(is_staff=True))
    assert error.value.code == PaymentErrorCode.REASON_REQUIRED
    assert wallet_for(user).balance == D("50.00")
    assert WalletEntry.objects.count() == 1


def test_the_database_refuses_an_adjustment_without_a_note_a_zero_entry_and_a_negative_balance():
    wallet = wallet_for(factories.UserFactory())
    with pytest.raises(IntegrityError), transaction.atomic():
        WalletEntry.objects.create(wallet=wallet, amount=D("5.00"), balance_after=D("5.00"), reason="adjustment")
    with pytest.raises(IntegrityError), transaction.atomic():
        WalletEntry.objects.create(wallet=wallet, amount=D("0"), balance_after=D("0"), reason="top_up")
    with pytest.raises(IntegrityError), transaction.atomic():
        Wallet.objects.filter(pk=wallet.pk).update(balance=D("-0.01"))
    WalletEntry.objects.create(wallet=wallet, amount=D("5.00"), balance_after=D("5.00"), reason="adjustment", note="ok")


def test_the_admin_adjusts_a_wallet_with_a_reason_and_records_who(client):
    customer = factories.UserFactory()
    wallet_top_up(user=customer, amount=D("20.00"), reference="T1")
    wallet = Wallet.objects.get(user=customer)
    admin = factories.UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    url = f"/admin/payments/wallet/{wallet.pk}/adjust/"

    page = client.get(url)
    assert page.status_code == 200
    assert 'name="note"' in page.content.decode()

    refused = client.post(url, {"amount": "-5.00", "note": ""})
    assert refused.status_code == 200 and refused.context["form"].errors["note"]
    assert WalletEntry.objects.count() == 1

    response = client.post(url, {"amount": "-5.50", "note": "damaged parcel refund reversed"})
    assert response.status_code == 302
    assert response.url == f"/admin/payments/wallet/{wallet.pk}/change/"
    entry = WalletEntry.objects.get(reason="adjustment")
    assert (entry.amount, entry.balance_after, entry.actor, entry.note) == (
        D("-5.50"),
        D("14.50"),
        admin,
        "damaged parcel refund reversed",
    )
    assert Wallet.objects.get(pk=wallet.pk).balance == D("14.50")
    ledger_holds(customer)
    assert client.get(response.url).status_code == 200


def test_the_wallet_adjust_page_is_for_staff_with_permission(client):
    wallet = wallet_for(factories.UserFactory())
    url = f"/admin/payments/wallet/{wallet.pk}/adjust/"
    client.force_login(factories.UserFactory())  # a customer
    assert client.post(url, {"amount": "100.00", "note": "free money"}).status_code == 302
    client.force_login(factories.UserFactory(is_staff=True))  # staff without the permission
    assert client.post(url, {"amount": "100.00", "note": "free money"}).status_code == 403
    assert not WalletEntry.objects.exists()
    assert Wallet.objects.get(pk=wallet.pk).balance == D("0.00")


# -- cash on delivery -----------------------------------------------------------------------


def test_cash_on_delivery_moves_the_order_on_with_the_money_due():
    user, address, cart = buyer_with_cart([(stocked_variant(price="40.00"), 1)])
    order = place(user, address, cart, payment_method="cod")
    client = english(Client())
    client.force_login(user)

    response = client.post(f"/payments/pay/{order.number}/", {"method": "cod"})
    assert last_message(response) == "Cash on delivery: pay the courier when the parcel arrives."
    client.post(f"/payments/pay/{order.number}/", {"method": "cod"})  # a double click

    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    payment = Payment.objects.get(order=order)
    assert (payment.provider, payment.state, payment.amount) == ("cod", "cod_due", order.total)
    assert payment.transaction_id is None and payment.captured_at is None
    event = order.events.last()
    assert (event.to_status, event.actor, event.actor_kind) == ("paid", user, "customer")


# -- Alipay ---------------------------------------------------------------------------------


# Written here from Alipay's published rules, not imported from the code under test.
def rsa2_verifies(message: str, signature: str, public_pem: str) -> bool:
    key = serialization.load_pem_public_key(public_pem.encode())
    try:
        key.verify(base64.b64decode(signature), message.encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def request_string(params: dict) -> str:
    """A request's signed content: every parameter but `sign` (sign_type included) with a
    value, sorted by name, as k=v joined by &."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign" and params[k] != "")


@pytest.fixture
def alipay_order(alipay):
    user, address, cart = buyer_with_cart([(stocked_variant(on_hand=10, price="88.80"), 2)])
    return place(user, address, cart, payment_method="alipay")


def test_starting_an_alipay_payment_gives_a_signed_page_pay_url(alipay, alipay_order):
    client = Client()
    client.force_login(alipay_order.customer)

    response = client.post(f"/payments/pay/{alipay_order.number}/", {"method": "alipay"})

    assert response.status_code == 302
    payment = Payment.objects.get(order=alipay_order)
    assert (payment.provider, payment.state, payment.amount) == ("alipay", "pending", D("177.60"))
    url = urlsplit(response.url)
    assert f"{url.scheme}://{url.netloc}{url.path}" == GATEWAY_URL
    pairs = parse_qsl(url.query, keep_blank_values=True)
    params = dict(pairs)
    assert len(params) == len(pairs)  # each parameter once
    assert params["method"] == "alipay.trade.page.pay"
    assert params["sign_type"] == "RSA2"
    assert (params["app_id"], params["charset"], params["version"], params["format"]) == (
        APP_ID,
        "utf-8",
        "1.0",
        "JSON",
    )
    assert params["notify_url"] == settings.SITE_URL + "/payments/notify/alipay/"
    assert params["return_url"] == settings.SITE_URL + "/payments/return/"
    biz = json.loads(params["biz_content"])
    assert biz["out_trade_no"] == payment.reference
    assert biz["total_amount"] == "177.60"
    assert biz["product_code"] == "FAST_INSTANT_TRADE_PAY"
    assert alipay_order.number in biz["subject"]

    assert rsa2_verifies(request_string(params), params["sign"], alipay["merchant_public"])
    assert not rsa2_verifies(request_string(params), params["sign"], alipay["alipay_public"])
    tampered = {**params, "biz_content": params["biz_content"].replace("177.60", "1.00")}
    assert not rsa2_verifies(request_string(tampered), params["sign"], alipay["merchant_public"])


@pytest.fixture
def alipay_payment(alipay, alipay_order):
    payment_start(order=alipay_order, provider="alipay", return_url="http://testserver/r", notify_url="http://t/n")
    return Payment.objects.get(order=alipay_order)


def alipay_notification(payment, private_pem: str, **changes) -> dict:
    amount = f"{payment.amount:.2f}"
    data = {
        "notify_time": "2025-06-01 12:00:05",
        "notify_type": "trade_status_sync",
        "notify_id": "ac05099524730693a8b330c5ecf72da9786",
        "app_id": APP_ID,
        "charset": "utf-8",
        "version": "1.0",
        "sign_type": "RSA2",
        "trade_no": "2025060122001400001234567890",
        "out_trade_no": payment.reference,
        "out_biz_no": "",
        "buyer_id": "2088102122524333",
        "seller_id": SELLER_ID,
        "trade_status": "TRADE_SUCCESS",
        "total_amount": amount,
        "receipt_amount": amount,
        "buyer_pay_amount": amount,
        "subject": f"订单 {payment.order.number}",
        "gmt_create": "2025-06-01 12:00:00",
        "gmt_payment": "2025-06-01 12:00:04",
        "fund_bill_list": json.dumps([{"amount": amount, "fundChannel": "ALIPAYACCOUNT"}]),
        **changes,
    }
    data["sign"] = rsa2_sign(notification_string(data), private_pem)
    return data


def alipay_state(payment) -> tuple:
    payment.refresh_from_db()
    order = Order.objects.get(pk=payment.order_id)
    return payment.state, payment.transaction_id, order.status, order.events.count()


NOTIFY = "/payments/notify/alipay/"


def test_a_signed_alipay_notification_pays_the_order(client, alipay, alipay_payment):
    data = alipay_notification(alipay_payment, alipay["alipay_private"])

    response = client.post(NOTIFY, data)

    assert (response.status_code, response.content) == (200, b"success")
    assert alipay_state(alipay_payment) == ("captured", "2025060122001400001234567890", "paid", 2)
    assert GatewayNotification.objects.get().accepted
    again = client.post(NOTIFY, data)  # Alipay retries until it reads "success"
    assert (again.status_code, again.content) == (200, b"success")
    assert alipay_state(alipay_payment) == ("captured", "2025060122001400001234567890", "paid", 2)


def test_alipay_notifications_are_refused_while_alipay_is_not_enabled(client, settings, keys):
    settings.PAYMENT_PROVIDERS = ["sandbox", "wallet", "cod"]
    assert client.post(NOTIFY, {"out_trade_no": "P1"}).status_code == 404


def signed(payment, keys, key="alipay_private", **changes) -> dict:
    return alipay_notification(payment, keys[key], **changes)


FORGERIES = {
    "tampered-amount": lambda p, k: {**signed(p, k), "total_amount": "0.01"},
    "tampered-trade-no": lambda p, k: {**signed(p, k), "trade_no": "2025999"},
    "signed-by-the-wrong-key": lambda p, k: signed(p, k, key="merchant_private"),
    "wrong-app-id": lambda p, k: signed(p, k, app_id="2021000999999999"),
    "wrong-amount-signed": lambda p, k: signed(p, k, total_amount="177.59"),
    "unknown-payment": lambda p, k: signed(p, k, out_trade_no="P20250101FFFFFFFFFFFF"),
    "unsigned": lambda p, k: {name: v for name, v in signed(p, k).items() if name != "sign"},
    "garbage-signature": lambda p, k: {**signed(p, k), "sign": "not base64!"},
}


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
def test_forged_alipay_notifications_are_refused_and_change_nothing(client, alipay, alipay_payment, forge):
    before = alipay_state(alipay_payment)

    response = client.post(NOTIFY, forge(alipay_payment, alipay))

    assert (response.status_code, response.content) == (400, b"fail")
    assert alipay_state(alipay_payment) == before == ("pending", None, "pending_payment", 1)
    assert not GatewayNotification.objects.get().accepted


def test_a_closed_trade_notification_marks_the_payment_failed_not_the_order_paid(client, alipay, alipay_payment):
    data = alipay_notification(alipay_payment, alipay["alipay_private"], trade_status="TRADE_CLOSED")
    assert client.post(NOTIFY, data).status_code == 200
    assert alipay_state(alipay_payment)[::2] == ("failed", "pending_payment")


def signed_refund_answer(private_pem: str, answer: dict, *, pretty: bool = False) -> str:
    """An alipay.trade.refund answer: the signature covers the response object's exact text."""
    if pretty:
        text = json.dumps(answer, ensure_ascii=False, indent=2)
        return '{\n "alipay_trade_refund_response": ' + text + ',\n "sign": "' + rsa2_sign(text, private_pem) + '"\n}'
    text = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
    return '{"alipay_trade_refund_response":' + text + ',"sign":"' + rsa2_sign(text, private_pem) + '"}'


REFUND_ANSWER = {
    "code": "10000",
    "msg": "Success",
    "trade_no": "2025060122001400001234567890",
    "out_trade_no": "P20250601ABCDEF123456",
    "buyer_logon_id": "159****5620",
    "fund_change": "Y",
    "refund_fee": "88.80",
    "gmt_refund_pay": "2025-06-02 10:00:00",
    "buyer_user_id": "2088102122524333",
}


@pytest.mark.parametrize("pretty", [False, True])
def test_a_signed_refund_answer_is_verified(alipay, pretty):
    raw = signed_refund_answer(alipay["alipay_private"], REFUND_ANSWER, pretty=pretty)
    assert AlipayGateway().parse_refund_response(raw) == "2025060122001400001234567890"


@pytest.mark.parametrize(
    ("raw_of", "code"),
    [
        pytest.param(
            lambda k: signed_refund_answer(k["alipay_private"], REFUND_ANSWER).replace("88.80", "888.80"),
            PaymentErrorCode.BAD_SIGNATURE,
            id="tampered",
        ),
        pytest.param(
            lambda k: signed_refund_answer(k["merchant_private"], REFUND_ANSWER),
            PaymentErrorCode.BAD_SIGNATURE,
            id="wrong-key",
        ),
        pytest.param(
            lambda k: signed_refund_answer(
                k["alipay_private"], {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST"}
            ),
            PaymentErrorCode.GATEWAY_ERROR,
            id="refused-by-alipay",
        ),
    ],
)
def test_a_refund_answer_that_does_not_verify_or_says_no_is_refused(alipay, raw_of, code):
    with pytest.raises(PaymentError) as error:
        AlipayGateway().parse_refund_response(raw_of(alipay))
    assert error.value.code == code


def test_a_refund_request_is_signed_and_its_answer_verified(alipay, alipay_payment, monkeypatch):
    sent = {}

    class Answer:
        def __init__(self, body: str):
            self.body = body.encode()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return self.body

    def fake_urlopen(request, timeout):
        sent["url"] = request.full_url
        sent["params"] = dict(parse_qsl(request.data.decode(), keep_blank_values=True))
        return Answer(signed_refund_answer(alipay["alipay_private"], REFUND_ANSWER))

    monkeypatch.setattr("payments.providers.alipay.urlopen", fake_urlopen)

    result = AlipayGateway().refund(payment=alipay_payment, amount=D("88.80"), request_no="R1")

    assert result == "2025060122001400001234567890"
    params = sent["params"]
    assert sent["url"] == GATEWAY_URL
    assert (params["method"], params["sign_type"], params["app_id"]) == ("alipay.trade.refund", "RSA2", APP_ID)
    assert json.loads(params["biz_content"]) == {
        "out_trade_no": alipay_payment.reference,
        "refund_amount": "88.80",
        "out_request_no": "R1",
    }
    assert rsa2_verifies(request_string(params), params["sign"], alipay["merchant_public"])
