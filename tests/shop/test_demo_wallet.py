"""`make run`'s demo customer can pay from the wallet and try coupons: the wallet is topped up
with ¥500 through the ledger (a top-up entry, once however often the demo runs) and two coupons
exist, named in what `make run` prints."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from orders.models import Coupon
from orders.services import coupon_check
from payments.models import Wallet
from shop.demo import DEMO_COUPONS, DEMO_CUSTOMER, DemoBuilder
from tests import factories

pytestmark = pytest.mark.django_db


def test_the_demo_customer_has_a_topped_up_wallet_and_coupons_to_try():
    customer = factories.UserFactory(email=DEMO_CUSTOMER)
    for _ in range(2):  # a second run adds nothing
        DemoBuilder(products=0, progress=False)._wallet_and_coupons()

    wallet = Wallet.objects.get(user=customer)
    assert wallet.balance == Decimal("500.00")
    entry = wallet.entries.get()
    assert (entry.reason, entry.amount, entry.balance_after) == ("top_up", Decimal("500.00"), Decimal("500.00"))
    assert sorted(Coupon.objects.values_list("code", flat=True)) == sorted(code for code, *_ in DEMO_COUPONS)
    assert coupon_check(code="welcome20", subtotal=Decimal("120.00"), customer=customer)[1] == Decimal("20.00")
    assert coupon_check(code="VIP10", subtotal=Decimal("300.00"), customer=customer)[1] == Decimal("30.00")


def test_seed_demo_names_the_coupons_and_the_wallet(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.DEBUG = True  # `make run`: a live database (DEBUG off) is left alone
    factories.ProductFactory()  # a catalogue already there: `make run` a second time
    out = StringIO()
    call_command("seed_demo", "--if-empty", stdout=out)
    printed = out.getvalue()
    assert "Coupons: WELCOME20 (¥20 off orders of ¥99 or more, once); VIP10" in printed
    assert "Demo customer wallet: ¥500.00 topped up" in printed
    assert Coupon.objects.count() == len(DEMO_COUPONS)  # an older demo database gets them too
