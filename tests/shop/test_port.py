"""`PORT=8123 make run` works end to end: with SITE_URL unset, the settings derive it from PORT,
so the gateway's return and notify addresses, the notification the sandbox gateway posts and the
links in mail all name the port the shop is served on (they named :8000, and the notification
that could not be delivered answered the payment with a 500)."""

import json
import subprocess
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from django.core import mail
from django.test import Client

from orders.models import Order
from payments import tasks
from payments.models import Payment
from tests.purchase import buyer_with_cart, place, stocked_variant
from tests.shop.test_settings import ROOT, _run

pytestmark = pytest.mark.skipif(
    (ROOT / ".env").exists(), reason="a .env file in the project would feed these fresh interpreters"
)
PORT = "8123"
SITE = f"http://127.0.0.1:{PORT}"

REPORT = """
import json
import django
django.setup()
from django.conf import settings as s
print(json.dumps({"SITE_URL": s.SITE_URL, "form_action": s.CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"]}))
"""


def site_settings(**env: str) -> dict:
    done = _run(REPORT, DEBUG="1", **env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_site_url_follows_port_when_unset():
    resolved = site_settings(PORT=PORT)
    assert resolved["SITE_URL"] == SITE
    assert SITE in resolved["form_action"]  # the CSP lets the return redirect through
    assert site_settings()["SITE_URL"] == "http://127.0.0.1:8000"  # no PORT: runserver's default
    # Set, SITE_URL wins: the public address behind a proxy is not the local port.
    assert site_settings(PORT=PORT, SITE_URL="https://shop.example/")["SITE_URL"] == "https://shop.example"


def test_make_run_exports_the_site_url_of_its_port():
    """bin/run's own lines (the rest of it installs, migrates and serves)."""
    lines = [line for line in (ROOT / "bin/run").read_text().splitlines() if line.startswith("export ")]
    script = "\n".join([*lines, 'echo "$PORT $SITE_URL"'])
    done = subprocess.run(
        ["bash", "-c", script], env={"PATH": "/usr/bin:/bin", "PORT": PORT}, capture_output=True, text=True
    )
    assert done.stdout.split() == [PORT, SITE]


class Gateway:
    """The sandbox gateway's HTTP client (payments.tasks.urlopen): records where it posts and
    delivers what is addressed to the shop, on this port, to the shop."""

    def __init__(self) -> None:
        self.posted_to: list[str] = []

    def urlopen(self, request, timeout=None):
        self.posted_to.append(request.full_url)
        assert request.full_url.startswith(SITE + "/"), request.full_url
        answer = Client().post(
            urlsplit(request.full_url).path, request.data.decode(), content_type="application/x-www-form-urlencoded"
        )
        assert answer.status_code == 200, answer.content  # never a 500
        return _Answer(answer.content)


class _Answer:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def read(self) -> bytes:
        return self.body

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


@pytest.mark.django_db
def test_paying_with_the_sandbox_on_another_port(client, settings, monkeypatch, django_capture_on_commit_callbacks):
    settings.SITE_URL = site_settings(PORT=PORT)["SITE_URL"]  # as `PORT=8123 make run` has it
    gateway = Gateway()
    monkeypatch.setattr(tasks, "urlopen", gateway.urlopen)
    user, address, cart = buyer_with_cart([(stocked_variant(on_hand=5, price="39.00"), 1)])
    order = place(user, address, cart, payment_method="sandbox")
    client.force_login(user)

    start = client.post(f"/payments/pay/{order.number}/", {"method": "sandbox"})
    assert start.status_code == 302
    carried = dict(parse_qsl(urlsplit(start["Location"]).query))
    assert carried["return_url"] == f"{SITE}/payments/return/"
    assert carried["notify_url"] == f"{SITE}/payments/notify/sandbox/"

    with django_capture_on_commit_callbacks(execute=True):
        paid = client.post(start["Location"], {"outcome": "pay"})
    payment = Payment.objects.get(order=order)
    assert (paid.status_code, paid["Location"]) == (
        302,
        f"{SITE}/payments/return/?{urlencode({'out_trade_no': payment.reference})}",
    )
    assert gateway.posted_to == [f"{SITE}/payments/notify/sandbox/"]
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert client.get(paid["Location"]).status_code == 200

    bodies = [m.body for m in mail.outbox] + [alt[0] for m in mail.outbox for alt in getattr(m, "alternatives", [])]
    assert any(f"{SITE}/orders/{order.number}/" in body for body in bodies)
    assert not any(":8000" in body for body in bodies)
