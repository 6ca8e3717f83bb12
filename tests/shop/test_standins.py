"""Test stand-ins outside DEBUG: the sandbox payment gateway, the express carrier's sandbox and
the benchmark's ceiling view are off and unrouted unless enabled, and the shop refuses to start
with a public default secret or key for one that is enabled."""

import importlib
import json
import os
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client, override_settings
from django.urls import clear_url_caches
from django.utils import timezone

from fulfillment import carriers
from fulfillment.admin import ShipForm
from fulfillment.exceptions import FulfillmentError, FulfillmentErrorCode
from fulfillment.models import Shipment
from fulfillment.services import shipment_ship, shipments_due_for_poll
from orders.models import Order
from payments.models import Payment
from payments.sandbox_gateway import notification_for
from payments.services import payment_start
from tests.fulfillment.support import paid_order, stock, variant, warehouses
from tests.purchase import buyer_with_cart, place, stocked_variant

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_SANDBOX_SECRET = "sandbox-shared-secret"  # the public default, refused outside DEBUG


# -- a fresh interpreter, from nothing but the environment ---------------------------------------

fresh = pytest.mark.skipif(
    (ROOT / ".env").exists(), reason="a .env file in the project would feed these fresh interpreters"
)


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DJANGO_SETTINGS_MODULE": "shop.settings"}
    if "HOME" in os.environ:
        base["HOME"] = os.environ["HOME"]
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60
    )


def _check(**env: str) -> subprocess.CompletedProcess:
    """`manage.py check` in production mode (DEBUG off, a real SECRET_KEY) plus `env`."""
    return _run(["manage.py", "check"], DEBUG="0", SECRET_KEY=secrets.token_urlsafe(38)[:50], **env)


REPORT = """
import json
import django
django.setup()
from django.conf import settings as s
from django.urls import NoReverseMatch, Resolver404, resolve, reverse
from cart.forms import CheckoutForm
from fulfillment.carriers import carriers_available

def routed(path):
    try:
        resolve(path)
    except Resolver404:
        return False
    return True

try:
    reverse("payments:sandbox_page", kwargs={"reference": "P1"})
    sandbox_reversible = True
except NoReverseMatch:
    sandbox_reversible = False
print(json.dumps({
    "sandbox_enabled": s.SANDBOX_GATEWAY_ENABLED,
    "providers": s.PAYMENT_PROVIDERS,
    "checkout_methods": [c[0] for c in CheckoutForm(addresses=[], quotes=[]).fields["payment_method"].choices],
    "sandbox_page_routed": routed("/payments/sandbox/P1/"),
    "sandbox_reversible": sandbox_reversible,
    "bench_routed": routed("/bench/ceiling/"),
    "carrier_url": s.CARRIER_EXPRESS_URL,
    "carriers": carriers_available(),
    "site_url": s.SITE_URL,
}))
"""


def _report(**env: str) -> dict:
    done = _run(["-c", REPORT], **env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@fresh
def test_outside_debug_the_stand_ins_are_off_and_unrouted_by_default():
    resolved = _report(DEBUG="0", SECRET_KEY=secrets.token_urlsafe(38)[:50])
    assert resolved["sandbox_enabled"] is False
    assert resolved["providers"] == ["wallet", "cod"]
    assert resolved["checkout_methods"] == ["wallet", "cod"]
    assert resolved["sandbox_page_routed"] is False and resolved["sandbox_reversible"] is False
    assert resolved["bench_routed"] is False
    assert resolved["carrier_url"] == "" and resolved["carriers"] == ["own_fleet"]


@fresh
def test_in_debug_the_stand_ins_are_there_for_a_first_look():
    resolved = _report(DEBUG="1", PORT="8123")
    assert resolved["sandbox_enabled"] is True and resolved["providers"] == ["sandbox", "wallet", "cod"]
    assert resolved["sandbox_page_routed"] is True and resolved["bench_routed"] is True
    assert resolved["carriers"] == ["own_fleet", "express"]
    assert resolved["site_url"] == "http://127.0.0.1:8123"  # follows the port it is served on


@fresh
def test_enabled_outside_debug_with_a_real_secret_they_are_routed():
    resolved = _report(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(38)[:50],
        SANDBOX_GATEWAY_ENABLED="1",
        SANDBOX_SECRET=secrets.token_urlsafe(32),
        BENCH_VIEWS_ENABLED="1",
        CARRIER_EXPRESS_URL="https://api.carrier.example",
        CARRIER_EXPRESS_KEY=secrets.token_urlsafe(24),
    )
    assert "sandbox" in resolved["providers"] and "sandbox" in resolved["checkout_methods"]
    assert resolved["sandbox_page_routed"] is True and resolved["bench_routed"] is True
    assert resolved["carriers"] == ["own_fleet", "express"]


SANDBOX_REFUSAL = "needs a real SANDBOX_SECRET"
CARRIER_REFUSAL = "needs a real CARRIER_EXPRESS_KEY"


@fresh
@pytest.mark.parametrize(
    ("env", "refusal"),
    [
        pytest.param({"SANDBOX_GATEWAY_ENABLED": "1"}, SANDBOX_REFUSAL, id="sandbox-without-secret"),
        pytest.param(
            {"SANDBOX_GATEWAY_ENABLED": "1", "SANDBOX_SECRET": PUBLIC_SANDBOX_SECRET},
            SANDBOX_REFUSAL,
            id="sandbox-with-the-public-secret",
        ),
        pytest.param(
            {"SANDBOX_GATEWAY_ENABLED": "1", "SANDBOX_SECRET": "x" * 31}, SANDBOX_REFUSAL, id="sandbox-short-secret"
        ),
        pytest.param(
            {"PAYMENT_PROVIDERS": "sandbox,wallet,cod"}, "SANDBOX_GATEWAY_ENABLED=1", id="sandbox-listed-not-enabled"
        ),
        pytest.param({"CARRIER_EXPRESS_URL": "http://127.0.0.1:8001"}, CARRIER_REFUSAL, id="carrier-without-key"),
        pytest.param(
            {"CARRIER_EXPRESS_URL": "http://127.0.0.1:8001", "CARRIER_EXPRESS_KEY": "sandbox-key"},
            CARRIER_REFUSAL,
            id="carrier-with-the-sandbox-key",
        ),
    ],
)
def test_production_refuses_to_start_with_a_default_secret_or_key(env, refusal):
    done = _check(**env)
    assert done.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured" in done.stderr
    assert refusal in done.stderr


@fresh
def test_production_starts_with_real_secrets_for_what_it_enables():
    done = _check(
        SANDBOX_GATEWAY_ENABLED="1",
        SANDBOX_SECRET=secrets.token_urlsafe(32),
        CARRIER_EXPRESS_URL="https://api.carrier.example",
        CARRIER_EXPRESS_KEY=secrets.token_urlsafe(24),
    )
    assert done.returncode == 0, done.stderr


# -- in this process: what the running shop answers ------------------------------------------


def _reload_urls() -> None:
    """The stand-ins are routed when shop.urls is imported: import it again under the settings
    in force."""
    import payments.urls
    import shop.urls

    importlib.reload(payments.urls)
    importlib.reload(shop.urls)
    clear_url_caches()


@pytest.fixture
def stand_ins_off():
    """The shop as production runs it without the flags: DEBUG off, stand-ins disabled."""
    off = {"SANDBOX_GATEWAY_ENABLED": False, "BENCH_VIEWS_ENABLED": False, "PAYMENT_PROVIDERS": ["wallet", "cod"]}
    with override_settings(**off):
        _reload_urls()
        yield
    _reload_urls()


@pytest.fixture
def sandbox_order(db):
    """A customer's unpaid order with a sandbox payment started (while the gateway was on)."""
    user, address, cart = buyer_with_cart([(stocked_variant(on_hand=5), 1)])
    order = place(user, address, cart, payment_method="sandbox")
    payment_start(order=order, provider="sandbox", return_url="http://testserver/r", notify_url="http://testserver/n")
    return user, order, Payment.objects.get(order=order)


def _unpaid(order: Order) -> bool:
    return Order.objects.get(pk=order.pk).status == Order.Status.PENDING_PAYMENT


def test_without_the_flags_the_stand_ins_answer_404_and_sandbox_is_not_offered(sandbox_order, stand_ins_off):
    user, order, payment = sandbox_order
    client = Client()
    client.force_login(user)

    assert client.get(f"/payments/sandbox/{payment.reference}/").status_code == 404
    assert client.post(f"/payments/sandbox/{payment.reference}/", {"outcome": "pay"}).status_code == 404
    assert client.get("/bench/ceiling/").status_code == 404
    # Its notify endpoint refuses it, even signed with the real secret.
    notified = Client().post("/payments/notify/sandbox/", notification_for(reference=payment.reference, outcome="pay"))
    assert notified.status_code == 404
    assert _unpaid(order)
    # Not a payment method at checkout or on the order's page, and refused if asked for.
    page = client.get(order.get_absolute_url())
    assert page.status_code == 200
    assert [c[0] for c in page.context["payment_choices"]] == ["wallet", "cod"]
    assert b'value="sandbox"' not in page.content
    assert client.post(f"/payments/pay/{order.number}/", {"method": "sandbox"}).status_code == 302
    assert Payment.objects.filter(order=order).count() == 1
    user2, _address, _cart = buyer_with_cart([(stocked_variant(on_hand=5), 1)])
    client.force_login(user2)
    checkout = client.get("/checkout/")
    assert checkout.status_code == 200
    assert b'value="sandbox"' not in checkout.content and b'value="wallet"' in checkout.content


def test_the_views_check_their_flag_on_every_request(sandbox_order, settings):
    """Routed at startup, then switched off (e.g. a test, or a settings reload): still 404."""
    user, _order, payment = sandbox_order
    client = Client()
    client.force_login(user)
    settings.SANDBOX_GATEWAY_ENABLED = False
    settings.BENCH_VIEWS_ENABLED = False

    assert client.get(f"/payments/sandbox/{payment.reference}/").status_code == 404
    assert client.get("/bench/ceiling/").status_code == 404


def test_the_sandbox_gateway_cannot_be_started_when_disabled(sandbox_order, settings):
    from payments.exceptions import PaymentError, PaymentErrorCode
    from payments.providers.sandbox import SandboxGateway

    _user, _order, payment = sandbox_order
    settings.SANDBOX_GATEWAY_ENABLED = False
    with pytest.raises(PaymentError) as refused:
        SandboxGateway().start(payment=payment, subject="x", return_url="r", notify_url="n")
    assert refused.value.code == PaymentErrorCode.UNKNOWN_PROVIDER


def test_a_notification_signed_with_the_public_default_secret_is_refused(sandbox_order, settings):
    _user, order, payment = sandbox_order
    real = settings.SANDBOX_GATEWAY["SECRET"]
    assert real != PUBLIC_SANDBOX_SECRET and len(real) >= 32  # bin/test sets a random one

    forged = notification_for(reference=payment.reference, outcome="pay", secret=PUBLIC_SANDBOX_SECRET)
    refused = Client().post("/payments/notify/sandbox/", forged)
    assert (refused.status_code, refused.content) == (400, b"fail")
    assert _unpaid(order)

    genuine = notification_for(reference=payment.reference, outcome="pay")
    assert Client().post("/payments/notify/sandbox/", genuine).status_code == 200
    assert not _unpaid(order)


# -- the express carrier, not configured ---------------------------------------------------------


@pytest.fixture
def express_unconfigured(settings):
    settings.CARRIER_EXPRESS_URL = ""
    settings.CARRIER_EXPRESS_KEY = ""


def _parcel() -> Shipment:
    places = warehouses()
    v = variant()
    stock(places["sh"], v, 5)
    return paid_order([(v, 1)]).shipments.get()


def test_an_unconfigured_express_carrier_is_not_offered_and_refuses_cleanly(db, express_unconfigured):
    assert carriers.carriers_available() == ["own_fleet"]
    assert [code for code, _label in ShipForm().fields["carrier"].choices] == ["own_fleet"]
    assert not ShipForm({"carrier": "express"}).is_valid()
    parcel = _parcel()

    with pytest.raises(FulfillmentError) as refused:
        shipment_ship(shipment_id=parcel.pk, carrier="express")
    assert refused.value.code == FulfillmentErrorCode.CARRIER_REFUSED
    parcel.refresh_from_db()
    assert parcel.is_open


def test_parcels_of_an_unconfigured_express_carrier_are_not_polled(db, settings):
    parcel = shipment_ship(shipment_id=_parcel().pk, carrier="own_fleet")
    due = timezone.now() - timedelta(minutes=1)
    Shipment.objects.filter(pk=parcel.pk).update(carrier="express", tracking_number="SX1", next_poll_at=due)
    settings.CARRIER_EXPRESS_URL, settings.CARRIER_EXPRESS_KEY = "http://127.0.0.1:9", "k" * 20
    assert shipments_due_for_poll() == [parcel.pk]  # configured: polled

    Shipment.objects.filter(pk=parcel.pk).update(next_poll_at=due)
    settings.CARRIER_EXPRESS_URL, settings.CARRIER_EXPRESS_KEY = "", ""
    assert shipments_due_for_poll() == []  # not configured: skipped, not an error
