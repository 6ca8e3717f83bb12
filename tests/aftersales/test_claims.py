"""Shipping insurance (保价) claims: the customer is made whole at once, the claim is the shop's."""

from decimal import Decimal

import pytest

from aftersales.exceptions import AfterSaleError, AfterSaleErrorCode
from aftersales.models import AfterSale, InsuranceClaim
from aftersales.services import claims
from fulfillment.models import Shipment, Stock
from payments.models import Payment
from payments.providers.sandbox import sandbox_refunded
from tests import factories
from tests.aftersales.support import paid, ship_all, shop

pytestmark = pytest.mark.django_db(transaction=True)


def lost_parcel(insured: bool = True):
    _places, v = shop(price="200.00")
    order = paid([(v, 2)], insured=insured)
    ship_all(order, deliver=False)
    return order, order.shipments.get(kind=Shipment.Kind.OUTBOUND), v


def test_a_lost_insured_parcel_is_claimed_for_its_declared_value_and_the_customer_refunded(client):
    order, parcel, _v = lost_parcel()
    clerk = factories.UserFactory(is_staff=True)
    with pytest.raises(AfterSaleError) as exc:  # refunding is deciding money
        claims.insurance_claim_file(shipment_id=parcel.pk, actor=clerk, loss="lost", remedy="refund")
    assert exc.value.code == AfterSaleErrorCode.REFUND_NOT_ALLOWED and not InsuranceClaim.objects.exists()
    from django.contrib.auth.models import Permission

    clerk.user_permissions.add(Permission.objects.get(codename="decide_aftersale"))
    clerk = type(clerk).objects.get(pk=clerk.pk)
    claim = claims.insurance_claim_file(shipment_id=parcel.pk, actor=clerk, loss="lost", remedy="refund")
    assert claim.declared_value == Decimal("400.00") and claim.status == InsuranceClaim.Status.FILED
    request = AfterSale.objects.get(insurance_claim=claim)
    assert request.kind == AfterSale.Kind.REFUND and request.reason == AfterSale.Reason.LOST
    assert request.refund_note.goods_amount == Decimal("400.00")
    payment = order.payments.get(provider="sandbox")
    assert sandbox_refunded(payment.reference) == Decimal("400.00")
    request.refresh_from_db()
    assert request.status == AfterSale.Status.COMPLETED
    with pytest.raises(AfterSaleError) as exc:  # one claim per parcel
        claims.insurance_claim_file(shipment_id=parcel.pk, actor=clerk, loss="lost", remedy="refund")
    assert exc.value.code == AfterSaleErrorCode.CLAIM_EXISTS
    claims.insurance_claim_settle(claim_id=claim.pk, actor=clerk, paid=True, amount="400.00", carrier_reference="SF-1")
    client.force_login(order.customer)  # the order page shows the claim
    page = client.get(order.get_absolute_url()).content.decode()
    assert claim.number in page and parcel.number in page
    claim.refresh_from_db()
    assert claim.status == InsuranceClaim.Status.PAID and claim.paid_amount == Decimal("400.00")
    with pytest.raises(AfterSaleError):
        claims.insurance_claim_settle(claim_id=claim.pk, actor=clerk, paid=False)


def test_a_damaged_parcel_can_be_sent_again_instead():
    order, parcel, v = lost_parcel()
    reserved = Stock.objects.get(variant=v).reserved
    claim = claims.insurance_claim_file(shipment_id=parcel.pk, actor=None, loss="damaged", remedy="reship")
    replacement = order.shipments.get(kind=Shipment.Kind.REPLACEMENT)
    assert sum(x.quantity for x in replacement.lines.all()) == 2
    assert Stock.objects.get(variant=v).reserved == reserved + 2
    assert not AfterSale.objects.filter(insurance_claim=claim).exists()
    assert order.payments.get(provider="sandbox").refunded == 0


def test_claims_need_an_insured_parcel_with_the_carrier_and_a_carrier_cannot_pay_more_than_declared():
    order, parcel, _v = lost_parcel(insured=False)
    with pytest.raises(AfterSaleError) as exc:
        claims.insurance_claim_file(shipment_id=parcel.pk, actor=None, loss="lost", remedy="refund")
    assert exc.value.code == AfterSaleErrorCode.NOT_INSURED
    _places, v = shop()
    unshipped = paid([(v, 1)], insured=True).shipments.get()
    with pytest.raises(AfterSaleError) as exc:
        claims.insurance_claim_file(shipment_id=unshipped.pk, actor=None, loss="lost", remedy="refund")
    assert exc.value.code == AfterSaleErrorCode.NOTHING_TO_CLAIM
    order, parcel, _v = lost_parcel()
    claim = claims.insurance_claim_file(shipment_id=parcel.pk, actor=None, loss="lost", remedy="reship")
    with pytest.raises(AfterSaleError):
        claims.insurance_claim_settle(claim_id=claim.pk, actor=None, paid=True, amount="400.01")
    assert InsuranceClaim.objects.get(pk=claim.pk).status == InsuranceClaim.Status.FILED
    assert Payment.objects.filter(order=order, refunded__gt=0).count() == 0
