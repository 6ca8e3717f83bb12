"""Alipay's asynchronous notifications, as an attacker or a confused gateway could send them.

Signed with locally generated RSA2 keys, by helpers written here from Alipay's published rules
(not the code under test). A notification is taken only when it is signed RSA2 by Alipay, for
our app id and our seller account, names a payment we started with its exact amount written
"27.00"-style, and reports a final status; the signature is checked before anything is stored,
and what is stored is bounded.
"""

import base64
import json
from decimal import Decimal
from urllib.parse import parse_qsl

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from django.test import Client

from orders.models import Order
from payments.models import GatewayNotification, Payment, Refund
from payments.providers import REFUSED_FIELDS, sandbox
from payments.sandbox_gateway import notification_for
from payments.services import payment_start
from tests import factories
from tests.payments.conftest import APP_ID, SELLER_ID, notification_string, rsa2_sign
from tests.purchase import buyer_with_cart, place, stocked_variant

pytestmark = pytest.mark.django_db

NOTIFY = "/payments/notify/alipay/"


def sign(data: dict, private_pem: str) -> str:
    return rsa2_sign(notification_string(data), private_pem)


def order_for(price: str = "19.00") -> Order:
    user, address, cart = buyer_with_cart([(stocked_variant(on_hand=10, price=price), 1)])
    return place(user, address, cart, payment_method="alipay")


def started(order: Order) -> Payment:
    payment_start(order=order, provider="alipay", return_url="http://testserver/r", notify_url="http://t/n")
    return order.payments.order_by("pk").last()


@pytest.fixture
def payment(alipay) -> Payment:
    return started(order_for())


def notification(payment: Payment, keys: dict, *, drop: tuple[str, ...] = (), **changes) -> dict:
    amount = f"{payment.amount:.2f}"
    data = {
        "notify_time": "2025-06-01 12:00:05",
        "notify_type": "trade_status_sync",
        "notify_id": "ac05099524730693a8b330c5ecf72da9786",
        "app_id": APP_ID,
        "charset": "utf-8",
        "version": "1.0",
        "sign_type": "RSA2",
        "trade_no": f"2025060122001400{payment.pk:012d}",
        "out_trade_no": payment.reference,
        "buyer_id": "2088102122524333",
        "seller_id": SELLER_ID,
        "trade_status": "TRADE_SUCCESS",
        "total_amount": amount,
        "receipt_amount": amount,
        "buyer_pay_amount": amount,
        "subject": f"订单 {payment.order.number}",
        "gmt_create": "2025-06-01 12:00:00",
        "gmt_payment": "2025-06-01 12:00:04",
        **changes,
    }
    data = {k: v for k, v in data.items() if k not in drop}
    data["sign"] = sign(data, keys["alipay_private"])
    return data


def state(payment: Payment) -> tuple[str, str]:
    payment.refresh_from_db()
    return payment.state, Order.objects.get(pk=payment.order_id).status


def post(client, data: dict) -> tuple[int, bytes]:
    response = client.post(NOTIFY, data)
    return response.status_code, response.content


REFUSED = (400, b"fail")
TAKEN = (200, b"success")


# -- whose trade ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"seller_id": "2088999999999999"}, id="another-merchants-seller-id"),
        pytest.param({"seller_id": ""}, id="empty-seller-id"),
        pytest.param({"app_id": "2021000999999999"}, id="another-app-id"),
    ],
)
def test_a_trade_signed_by_alipay_for_another_merchant_is_refused(client, alipay, payment, changes):
    assert post(client, notification(payment, alipay, **changes)) == REFUSED
    assert state(payment) == ("pending", "pending_payment")
    record = GatewayNotification.objects.get()
    assert record.outcome == "rejected: wrong_merchant"
    assert record.payload["seller_id"] == changes.get("seller_id", SELLER_ID)  # signed: kept for finance


def test_a_missing_seller_id_is_refused(client, alipay, payment):
    assert post(client, notification(payment, alipay, drop=("seller_id",))) == REFUSED
    assert state(payment) == ("pending", "pending_payment")


def test_without_a_configured_seller_id_nothing_is_taken(client, alipay, payment, settings):
    settings.ALIPAY = {**settings.ALIPAY, "SELLER_ID": ""}
    assert post(client, notification(payment, alipay, seller_id="")) == REFUSED
    assert post(client, notification(payment, alipay)) == REFUSED
    assert state(payment) == ("pending", "pending_payment")


def test_enabling_alipay_without_a_seller_id_refuses_to_start(tmp_path):
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "shop.settings",
        "PAYMENT_PROVIDERS": "wallet,alipay",
        "ALIPAY_APP_ID": APP_ID,
        "ALIPAY_PRIVATE_KEY": "x",
        "ALIPAY_PUBLIC_KEY": "y",
        "ALIPAY_SELLER_ID": "",
    }
    code = "import django; django.setup()"
    refused = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert refused.returncode != 0 and "ALIPAY_SELLER_ID" in refused.stderr
    env["ALIPAY_SELLER_ID"] = SELLER_ID
    started_ok = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert started_ok.returncode == 0, started_ok.stderr


# -- which statuses change a payment -------------------------------------------------------------


def test_waiting_for_the_buyer_changes_nothing_and_the_payment_can_still_be_paid(client, alipay, payment):
    assert post(client, notification(payment, alipay, trade_status="WAIT_BUYER_PAY")) == TAKEN
    assert state(payment) == ("pending", "pending_payment")
    assert post(client, notification(payment, alipay)) == TAKEN
    assert state(payment) == ("captured", "paid")
    # Out of order: a late "waiting" never undoes a capture.
    assert post(client, notification(payment, alipay, trade_status="WAIT_BUYER_PAY")) == TAKEN
    assert state(payment) == ("captured", "paid")


def test_a_closed_trade_fails_the_payment(client, alipay, payment):
    assert post(client, notification(payment, alipay, trade_status="TRADE_CLOSED")) == TAKEN
    assert state(payment) == ("failed", "pending_payment")


def test_a_finished_trade_captures(client, alipay, payment):
    assert post(client, notification(payment, alipay, trade_status="TRADE_FINISHED")) == TAKEN
    assert state(payment) == ("captured", "paid")


@pytest.mark.parametrize("status", ["TRADE_PENDING", "trade_success", "REFUND_SUCCESS", "TRADE_SUCCESS "])
def test_an_unknown_status_is_refused(client, alipay, payment, status):
    assert post(client, notification(payment, alipay, trade_status=status)) == REFUSED
    assert state(payment) == ("pending", "pending_payment")
    assert GatewayNotification.objects.get().outcome == "rejected: unknown_status"


# -- exact amounts ------------------------------------------------------------------------------


def badly_written(total: Decimal) -> list[str]:
    good = f"{total:.2f}"
    return [
        good + "4",  # "27.004"
        f"{float(total):.6E}",  # "2.700000E+01"
        str(int(total)),  # "27"
        f"{total:.1f}",  # "27.0"
        " " + good,
        good + " ",
        "+" + good,
        "0" + good,
        good.translate(str.maketrans("0123456789.", "０１２３４５６７８９．")),  # full width
        good.replace(".", ","),
    ]


def test_the_order_is_27_yuan(payment):
    assert payment.amount == Decimal("27.00")  # 19.00 + 8.00 standard shipping


@pytest.mark.parametrize("index", range(10))
def test_an_alipay_amount_not_written_exactly_is_refused(client, alipay, payment, index):
    amount = badly_written(payment.amount)[index]
    assert post(client, notification(payment, alipay, total_amount=amount)) == REFUSED
    assert state(payment) == ("pending", "pending_payment")


@pytest.mark.parametrize("index", range(10))
def test_a_sandbox_amount_not_written_exactly_is_refused(client, db, index):
    user, address, cart = buyer_with_cart([(stocked_variant(on_hand=10, price="19.00"), 1)])
    order = place(user, address, cart)
    payment_start(order=order, provider="sandbox", return_url="http://t/r", notify_url="http://t/n")
    payment = order.payments.get()
    data = notification_for(reference=payment.reference, outcome="pay")
    data = {k: v for k, v in data.items() if k != "sign"}
    data["total_amount"] = badly_written(payment.amount)[index]
    data["sign"] = sandbox.sign(data)
    response = client.post("/payments/notify/sandbox/", data)
    assert (response.status_code, response.content) == REFUSED
    assert state(payment) == ("pending", "pending_payment")


# -- the signature's algorithm ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "sign_type", [pytest.param("RSA", id="RSA"), pytest.param("rsa2", id="lower"), pytest.param(None, id="missing")]
)
def test_a_sign_type_other_than_rsa2_is_refused(client, alipay, payment, sign_type):
    data = notification(payment, alipay, drop=("sign_type",) if sign_type is None else ())
    if sign_type:
        data["sign_type"] = sign_type  # outside the signed string: the signature still verifies
    assert post(client, data) == REFUSED
    assert state(payment) == ("pending", "pending_payment")
    assert GatewayNotification.objects.get().outcome == "refused: bad_sign_type"


# -- verify first, then store, bounded --------------------------------------------------------------


def test_a_large_post_is_refused_before_it_is_read(client, alipay, payment):
    junk = {"out_trade_no": payment.reference, "junk": "x" * (1024 * 1024)}
    response = client.post(NOTIFY, junk)
    assert (response.status_code, response.content) == (413, b"fail")
    assert not GatewayNotification.objects.exists()
    assert state(payment) == ("pending", "pending_payment")


def test_an_unverified_notification_keeps_a_bounded_excerpt(client, alipay, payment):
    forged = {
        **notification(payment, alipay),
        "sign": "bm90IGEgc2lnbmF0dXJl",
        "out_trade_no": "P" * 5000,
        "subject": "s" * 20000,
        **{f"field{i}": "y" * 20 for i in range(200)},
    }
    assert post(client, forged) == REFUSED
    record = GatewayNotification.objects.get()
    assert (record.accepted, record.outcome) == (False, "refused: bad_signature")
    stored = json.dumps(record.payload)
    assert len(stored) < 2048
    assert record.payload["out_trade_no"] == "P" * 80
    assert "subject" not in record.payload and "sign" not in record.payload and "field1" not in record.payload
    # sign, subject, field0…field199 and the rest are counted, not kept.
    assert record.payload["_unknown_fields"] == len(set(forged) - set(REFUSED_FIELDS))


def test_a_verified_notification_keeps_its_known_fields(client, alipay, payment):
    data = {**notification(payment, alipay), "extra": "not an Alipay field"}
    data["sign"] = sign(data, alipay["alipay_private"])
    assert post(client, data) == TAKEN
    record = GatewayNotification.objects.get()
    assert record.accepted
    assert record.payload["subject"] == data["subject"] and record.payload["seller_id"] == SELLER_ID
    assert "sign" not in record.payload and "extra" not in record.payload
    assert record.payload["_unknown_fields"] == 2


def test_the_notification_admin_shows_no_signature(alipay, payment):
    Client().post(NOTIFY, notification(payment, alipay))
    admin = Client()
    admin.force_login(factories.UserFactory(is_staff=True, is_superuser=True))
    record = GatewayNotification.objects.get()
    page = admin.get(f"/admin/payments/gatewaynotification/{record.pk}/change/").content.decode()
    assert payment.reference in page
    assert notification(payment, alipay)["sign"] not in page


# -- paid twice through Alipay: refunded through Alipay -------------------------------------------


def signed_refund_answer(private_pem: str, answer: dict) -> str:
    text = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    signature = base64.b64encode(key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()
    return '{"alipay_trade_refund_response":' + text + ',"sign":"' + signature + '"}'


def test_a_second_alipay_payment_is_refunded_through_alipay(
    client, alipay, monkeypatch, django_capture_on_commit_callbacks
):
    order = order_for()
    first, second = started(order), started(order)
    sent = []

    class Answer:
        def __init__(self, body: str) -> None:
            self.body = body.encode()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self) -> bytes:
            return self.body

    def fake_urlopen(request, timeout):
        params = dict(parse_qsl(request.data.decode(), keep_blank_values=True))
        sent.append(params)
        biz = json.loads(params["biz_content"])
        answer = {"code": "10000", "msg": "Success", "trade_no": "2025-REFUNDED", "out_trade_no": biz["out_trade_no"]}
        return Answer(signed_refund_answer(alipay["alipay_private"], answer))

    monkeypatch.setattr("payments.providers.alipay.urlopen", fake_urlopen)
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, notification(first, alipay)) == TAKEN
        assert post(client, notification(second, alipay)) == TAKEN

    assert state(first) == ("captured", "paid")
    assert state(second) == ("refunded", "paid")
    refund = Refund.objects.get()
    assert len(sent) == 1
    assert sent[0]["method"] == "alipay.trade.refund"
    assert json.loads(sent[0]["biz_content"]) == {
        "out_trade_no": second.reference,
        "refund_amount": "27.00",
        "out_request_no": refund.request_no,
    }
    assert (refund.state, refund.gateway_reference) == ("succeeded", "2025-REFUNDED")
