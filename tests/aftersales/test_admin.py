"""After-sales in the admin, driven through the admin's pages as each staff group: the queue,
approve / reject / escalate / message / receive, insurance claims, finance's payout actions, the
refusals (a service's message shown, nothing changed; a missing permission: 403), and two staff
approving the same request at once (one refund)."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from aftersales.models import AfterSale, AfterSaleMessage, InsuranceClaim, RefundNote
from aftersales.services import requests as svc
from aftersales.services.staff import CUSTOMER_SERVICE_GROUP, FINANCE_GROUP, SUPERVISOR_GROUP, aftersales_groups_ensure
from fulfillment.models import Shipment, Stock, StockMovement, Warehouse
from fulfillment.services import shipment_pack
from fulfillment.services.staff import WAREHOUSE_GROUP
from orders.models import Notification
from payments.models import Refund, Wallet, WalletEntry
from payments.signals import refund_settled
from tests import factories
from tests.aftersales.support import completed, line_of, paid, photo, ship_all, shop
from tests.purchase import messages_of

pytestmark = pytest.mark.django_db

Kind, Reason, Status = AfterSale.Kind, AfterSale.Reason, AfterSale.Status
QUEUE = reverse("admin:aftersales_aftersale_changelist")


def member(group: str, email: str | None = None):
    user = factories.UserFactory(is_staff=True, **({"email": email} if email else {}))
    user.groups.add(aftersales_groups_ensure()[group])
    return user


def signed_in(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def url(name: str, pk: int) -> str:
    return reverse(f"admin:aftersales_aftersale_{name}", args=[pk])


def open_request(order, kind, reason, quantities, **kwargs):
    kwargs.setdefault("description", "坏了")
    return svc.aftersale_open(
        order_id=order.pk, customer=order.customer, kind=kind, reason=reason, quantities=quantities, **kwargs
    )


def a_return(quantity: int = 2, **kwargs) -> AfterSale:
    """A pending return of `quantity` units of a completed order paid at the gateway."""
    _places, v = shop()
    order = completed([(v, quantity)])
    return open_request(order, Kind.RETURN, Reason.QUALITY, {line_of(order).pk: quantity}, **kwargs)


def a_packed_cancel() -> AfterSale:
    """A pending refund before shipping: the parcel is packed, so staff decide."""
    _places, v = shop()
    order = paid([(v, 1)])
    shipment_pack(shipment_id=order.shipments.get().pk)
    return open_request(order, Kind.CANCEL, Reason.CHANGED_MIND, {line_of(order).pk: 1})


def test_migrate_leaves_every_staff_group_with_its_after_sales_permissions():
    """Made after migrate by the post_migrate receivers (fulfillment's runs before the
    after-sales permissions exist; aftersales' runs again after them)."""
    from django.contrib.auth.models import Group

    def codenames(name: str) -> set[str]:
        group = Group.objects.get(name=name)
        return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}

    assert {"aftersales.view_aftersale", "aftersales.receive_return", "aftersales.add_insuranceclaim"} <= codenames(
        WAREHOUSE_GROUP
    )
    assert "aftersales.decide_aftersale" not in codenames(WAREHOUSE_GROUP)
    service = codenames(CUSTOMER_SERVICE_GROUP)
    assert {"aftersales.decide_aftersale", "aftersales.moderate_review"} <= service
    assert not service & {"aftersales.receive_return", "aftersales.supervise_aftersale", "payments.change_refund"}
    assert codenames(SUPERVISOR_GROUP) == service | {"aftersales.supervise_aftersale"}
    finance = codenames(FINANCE_GROUP)
    assert "payments.change_refund" in finance
    assert not any(c.endswith("_aftersale") for c in finance)  # finance neither sees nor decides requests
    # Amounts are never editable: no group may change a payment, a wallet or a refund note. Finance
    # alone adjusts a wallet, through the adjust page (a reason, a ledger entry): its wallet page
    # saves nothing (payments.admin.WalletAdmin.save_model).
    for name in (WAREHOUSE_GROUP, CUSTOMER_SERVICE_GROUP, SUPERVISOR_GROUP, FINANCE_GROUP):
        assert not codenames(name) & {
            "payments.change_payment", "aftersales.change_refundnote", "aftersales.change_aftersale",
            "orders.change_order",
        }  # fmt: skip
        assert ("payments.change_wallet" in codenames(name)) == (name == FINANCE_GROUP)


# -- the queue ----------------------------------------------------------------------------------


def test_the_queue_puts_open_overdue_requests_first_then_by_deadline_and_marks_them():
    _places, v = shop()
    order = completed([(v, 1)])
    now = timezone.now()

    def made(number, status, due):
        return AfterSale.objects.create(
            number=number, order=order, customer=order.customer, kind=Kind.RETURN, reason=Reason.QUALITY,
            status=status, due_at=due,
        )  # fmt: skip

    later = made("AS-LATER", Status.PENDING, now + timedelta(hours=20))
    done = made("AS-DONE", Status.COMPLETED, None)
    overdue = made("AS-OVERDUE", Status.RETURN_SHIPPED, now - timedelta(hours=1))
    soon = made("AS-SOON", Status.PENDING, now + timedelta(hours=2))
    very_overdue = made("AS-VERY", Status.PENDING, now - timedelta(days=2))

    client = signed_in(member(CUSTOMER_SERVICE_GROUP))
    response = client.get(QUEUE)
    assert response.status_code == 200
    assert [r.number for r in response.context["cl"].result_list] == [
        very_overdue.number, overdue.number, soon.number, later.number, done.number,
    ]  # fmt: skip
    html = response.content.decode()
    assert html.count('class="aftersale-overdue"') == 2

    overdue_only = client.get(QUEUE, {"overdue": "yes"})
    assert {r.number for r in overdue_only.context["cl"].result_list} == {"AS-VERY", "AS-OVERDUE"}
    found = client.get(QUEUE, {"q": order.number})
    assert len(found.context["cl"].result_list) == 5


def test_the_lists_query_count_does_not_grow_with_their_rows():
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    _places, v = shop()
    order = completed([(v, 1)])
    parcel = order.shipments.get()
    client = signed_in(factories.UserFactory(is_staff=True, is_superuser=True))
    lists = [QUEUE, NOTES, reverse("admin:aftersales_insuranceclaim_changelist")]

    def add_rows(n: int, start: int) -> None:
        for i in range(start, start + n):
            request = AfterSale.objects.create(
                number=f"AS-Q{i}", order=order, customer=order.customer, kind=Kind.RETURN, reason=Reason.QUALITY,
                due_at=timezone.now(),
            )  # fmt: skip
            request.lines.create(order_line=line_of(order), quantity=1)
            request.messages.create(author=order.customer, body="?")
            RefundNote.objects.create(
                number=f"RN-Q{i}", order=order, request=request, goods_amount=1, amount=1, destination="original"
            )
        for i in range(start, start + n):  # a claim per parcel: more parcels of the same order
            shipment = Shipment.objects.create(
                number=f"P-Q{i}", order=order, warehouse=parcel.warehouse, status=Shipment.Status.SHIPPED,
                carrier="own_fleet", tracking_number=f"Q{i}",
            )  # fmt: skip
            InsuranceClaim.objects.create(
                number=f"IC-Q{i}", order=order, shipment=shipment, declared_value=1, remedy="reship"
            )

    def counts() -> list[int]:
        found = []
        for changelist in lists:
            with CaptureQueriesContext(db) as queries:
                assert client.get(changelist).status_code == 200
            found.append(len(queries))
        return found

    add_rows(1, 0)
    few = counts()
    add_rows(5, 1)
    assert counts() == few


def test_the_queue_flags_a_customer_message_until_staff_answer():
    request = a_return()
    client = signed_in(member(CUSTOMER_SERVICE_GROUP))
    waiting = {"new_message": "yes"}
    assert not client.get(QUEUE, waiting).context["cl"].result_list
    svc.aftersale_message_post(request_id=request.pk, author=request.customer, body="什么时候处理?", from_staff=False)
    assert [r.pk for r in client.get(QUEUE, waiting).context["cl"].result_list] == [request.pk]

    response = client.post(url("message", request.pk), {"message-body": "今天处理。"}, follow=True)
    assert "Message sent on" in " ".join(messages_of(response))
    reply = AfterSaleMessage.objects.get(request=request, from_staff=True)
    assert reply.body == "今天处理。"
    assert Notification.objects.filter(kind="aftersale_message", to=request.customer.email).exists()
    assert not client.get(QUEUE, waiting).context["cl"].result_list


def test_the_request_page_shows_lines_photos_messages_and_history_and_only_the_buttons_one_may_use():
    request = a_return(photos=[photo()])
    page = signed_in(member(CUSTOMER_SERVICE_GROUP)).get(url("change", request.pk)).content.decode()
    image = request.photos.get().image.url
    assert f'<a href="{image}"' in page and f'<img src="{image}"' in page
    assert line_of(request.order).product_name in page
    assert 'id="approve-form"' in page and 'id="reject-form"' in page and 'id="escalate-form"' in page
    assert 'id="receive-link"' not in page  # customer service never receives stock

    warehouse_page = signed_in(member(WAREHOUSE_GROUP)).get(url("change", request.pk)).content.decode()
    assert 'id="approve-form"' not in warehouse_page and 'name="message-body"' not in warehouse_page


# -- decisions ----------------------------------------------------------------------------------


def test_approving_a_return_sends_it_to_the_warehouse_that_shipped_unless_another_is_chosen():
    request = a_return()
    shipped_from = request.order.shipments.get().warehouse
    client = signed_in(member(CUSTOMER_SERVICE_GROUP))
    form = client.get(url("approve", request.pk)).context["form"]
    assert form["warehouse"].initial == shipped_from.pk

    response = client.post(url("approve", request.pk), {"approve-warehouse": "", "approve-note": ""}, follow=True)
    assert f"Request {request.number} approved." in messages_of(response)
    request.refresh_from_db()
    assert request.status == Status.AWAITING_RETURN and request.return_warehouse == shipped_from

    other = a_return()
    elsewhere = Warehouse.objects.get(code="bj")
    client.post(url("approve", other.pk), {"approve-warehouse": elsewhere.pk})
    other.refresh_from_db()
    assert other.status == Status.AWAITING_RETURN and other.return_warehouse == elsewhere


def test_approving_a_refund_decides_the_refund_note_and_a_second_approval_is_refused_with_nothing_changed():
    request = a_packed_cancel()
    client = signed_in(member(CUSTOMER_SERVICE_GROUP))
    response = client.post(url("approve", request.pk), {}, follow=True)
    assert f"Request {request.number} approved." in messages_of(response)
    request.refresh_from_db()
    assert request.status == Status.REFUNDING
    note = request.refund_note
    assert note.amount == line_of(request.order).line_total and note.payment_refund is not None

    again = client.post(url("approve", request.pk), {}, follow=True)
    assert "This request is no longer open." in messages_of(again)
    assert RefundNote.objects.filter(request=request).count() == 1
    assert Refund.objects.filter(payment__order=request.order).count() == 1


def test_rejecting_needs_a_reason_the_customer_sees():
    request = a_return()
    client = signed_in(member(CUSTOMER_SERVICE_GROUP))
    blank = client.post(url("reject", request.pk), {"reject-reason": "  "})
    assert blank.status_code == 200 and blank.context["form"].errors  # the form again, nothing done
    request.refresh_from_db()
    assert request.status == Status.PENDING

    client.post(url("reject", request.pk), {"reject-reason": "照片显示是人为损坏。"})
    request.refresh_from_db()
    assert request.status == Status.REJECTED and request.reject_reason == "照片显示是人为损坏。"
    assert Notification.objects.filter(kind="aftersale_rejected", to=request.customer.email).exists()


def test_an_escalated_request_is_decided_by_a_supervisor_only():
    request = a_return()
    service = signed_in(member(CUSTOMER_SERVICE_GROUP))
    service.post(url("escalate", request.pk), {"escalate-note": "金额大"})
    request.refresh_from_db()
    assert request.status == Status.ESCALATED

    page = service.get(url("change", request.pk)).content.decode()
    assert 'id="approve-form"' not in page and 'id="reject-form"' not in page
    assert "decided by a supervisor" in page
    refused = service.post(url("approve", request.pk), {}, follow=True)  # a hand-made POST
    assert "An escalated or appealed request is decided by a supervisor." in messages_of(refused)
    refused = service.post(url("reject", request.pk), {"reject-reason": "不行"}, follow=True)
    assert "An escalated or appealed request is decided by a supervisor." in messages_of(refused)
    request.refresh_from_db()
    assert request.status == Status.ESCALATED and request.decided_at is None

    supervisor = signed_in(member(SUPERVISOR_GROUP))
    assert 'id="approve-form"' in supervisor.get(url("change", request.pk)).content.decode()
    supervisor.post(url("approve", request.pk), {})
    request.refresh_from_db()
    assert request.status == Status.AWAITING_RETURN


@pytest.mark.parametrize("group", [WAREHOUSE_GROUP, FINANCE_GROUP, None])
@pytest.mark.parametrize("action", ["approve", "reject", "escalate", "message"])
def test_only_those_who_decide_may_decide_or_message(group, action):
    request = a_return()
    user = member(group) if group else factories.UserFactory(is_staff=True)
    client = signed_in(user)
    data = {"reject-reason": "x", "message-body": "x"}
    assert client.get(url(action, request.pk)).status_code == 403
    assert client.post(url(action, request.pk), data).status_code == 403
    request.refresh_from_db()
    assert request.status == Status.PENDING and not request.messages.exists()


def test_nobody_adds_deletes_or_edits_a_request_not_even_the_superuser():
    request = a_return()
    root = signed_in(factories.UserFactory(is_staff=True, is_superuser=True))
    assert root.get(reverse("admin:aftersales_aftersale_add")).status_code == 403
    assert root.get(reverse("admin:aftersales_aftersale_delete", args=[request.pk])).status_code == 403
    assert root.post(url("change", request.pk), {"status": "completed", "kind": "cancel"}).status_code == 403
    request.refresh_from_db()
    assert request.status == Status.PENDING and request.kind == Kind.RETURN
    assert signed_in(member(FINANCE_GROUP)).get(QUEUE).status_code == 403


# -- receiving a return -------------------------------------------------------------------------


def shipped_back(request: AfterSale) -> AfterSale:
    svc.aftersale_approve(request_id=request.pk, actor=None)
    return svc.aftersale_return_shipped(
        request_id=request.pk, customer=request.customer, carrier="own_fleet", tracking_number=f"RT{request.pk}"
    )


def test_warehouse_staff_receive_a_return_into_stock_and_write_off_the_damaged_unit():
    request = shipped_back(a_return(quantity=2))
    line = request.lines.get()
    stock = Stock.objects.get(variant=line.order_line.variant, warehouse=request.return_warehouse)
    client = signed_in(member(WAREHOUSE_GROUP))
    assert client.get(url("receive", request.pk)).status_code == 200

    wrong = client.post(url("receive", request.pk), {f"restock-{line.pk}": 1, f"writeoff-{line.pk}": 0}, follow=True)
    assert "must add up to the 2 units" in " ".join(messages_of(wrong))
    request.refresh_from_db()
    assert request.status == Status.RETURN_SHIPPED
    assert not StockMovement.objects.filter(reference=request.number).exists()

    response = client.post(
        url("receive", request.pk), {f"restock-{line.pk}": 1, f"writeoff-{line.pk}": 1, "note": "一件破损"}, follow=True
    )
    assert f"Return of {request.number} received." in messages_of(response)
    request.refresh_from_db()
    line.refresh_from_db()
    assert request.status == Status.REFUNDING and (line.restocked, line.written_off) == (1, 1)
    movements = StockMovement.objects.filter(reference=request.number)
    assert sorted(m.reason for m in movements) == sorted([StockMovement.Reason.RETURN, StockMovement.Reason.WRITE_OFF])
    assert Stock.objects.get(pk=stock.pk).on_hand == stock.on_hand + 1
    assert request.refund_note.amount == line.order_line.line_total


def test_customer_service_cannot_receive_stock_and_nothing_is_received_before_the_return_ships():
    request = a_return(quantity=1)
    line = request.lines.get()
    warehouse = signed_in(member(WAREHOUSE_GROUP))
    early = warehouse.get(url("receive", request.pk), follow=True)
    assert "has no return on its way" in " ".join(messages_of(early))

    shipped_back(request)
    for group in (CUSTOMER_SERVICE_GROUP, SUPERVISOR_GROUP, FINANCE_GROUP):
        client = signed_in(member(group))
        response = client.post(url("receive", request.pk), {f"restock-{line.pk}": 1, f"writeoff-{line.pk}": 0})
        assert response.status_code == 403
    request.refresh_from_db()
    assert request.status == Status.RETURN_SHIPPED and request.received_at is None


# -- insurance claims ---------------------------------------------------------------------------


def insured_parcel() -> Shipment:
    """An insured order paid from the wallet, its parcel with our own fleet and not delivered."""
    _places, v = shop()
    order = paid([(v, 1)], how="wallet", insured=True)
    ship_all(order, deliver=False)
    return order.shipments.get()


CLAIMS_ADD = reverse("admin:aftersales_insuranceclaim_add")


def test_customer_service_files_a_claim_and_refunds_the_customer_at_once():
    parcel = insured_parcel()
    wallet_before = Wallet.objects.get(user=parcel.order.customer).balance
    client = signed_in(member(CUSTOMER_SERVICE_GROUP))
    form = client.get(CLAIMS_ADD).context["form"]
    assert list(form.fields["shipment"].queryset) == [parcel]
    response = client.post(
        CLAIMS_ADD, {"shipment": parcel.pk, "loss": "lost", "remedy": "refund", "note": "快递丢件"}, follow=True
    )
    claim = InsuranceClaim.objects.get(shipment=parcel)
    assert f"Claim {claim.number} filed." in messages_of(response)
    assert claim.declared_value > 0 and claim.filed_by is not None
    request = claim.requests.get()
    assert request.kind == Kind.REFUND and request.status in (Status.REFUNDING, Status.COMPLETED)
    assert Wallet.objects.get(user=parcel.order.customer).balance == wallet_before + request.refund_note.amount

    again = client.post(CLAIMS_ADD, {"shipment": parcel.pk, "loss": "lost", "remedy": "refund"})
    assert again.status_code == 200 and again.context["form"].errors  # no longer offered
    assert InsuranceClaim.objects.count() == 1

    order_page = client.get(reverse("admin:orders_order_change", args=[parcel.order_id])).content.decode()
    assert claim.number in order_page and request.number in order_page


def test_warehouse_staff_file_a_reship_claim_but_never_a_refund_and_record_the_carriers_answer():
    parcel = insured_parcel()
    client = signed_in(member(WAREHOUSE_GROUP))
    choices = [value for value, _label in client.get(CLAIMS_ADD).context["form"].fields["remedy"].choices]
    assert choices == ["reship"]
    refused = client.post(CLAIMS_ADD, {"shipment": parcel.pk, "loss": "lost", "remedy": "refund"})
    assert refused.status_code == 200 and "remedy" in refused.context["form"].errors
    assert not InsuranceClaim.objects.exists() and not AfterSale.objects.exists()

    client.post(CLAIMS_ADD, {"shipment": parcel.pk, "loss": "damaged", "remedy": "reship"})
    claim = InsuranceClaim.objects.get(shipment=parcel)
    assert parcel.order.shipments.filter(kind=Shipment.Kind.REPLACEMENT).count() == 1

    settle = reverse("admin:aftersales_insuranceclaim_settle", args=[claim.pk])
    assert signed_in(member(CUSTOMER_SERVICE_GROUP)).post(settle, {"outcome": "refused"}).status_code == 403
    no_amount = client.post(settle, {"outcome": "paid", "carrier_reference": "C-1"})
    assert no_amount.status_code == 200 and "amount" in no_amount.context["form"].errors
    too_much = client.post(settle, {"outcome": "paid", "amount": claim.declared_value + 1}, follow=True)
    assert "The refund would exceed what was paid." in messages_of(too_much)
    claim.refresh_from_db()
    assert claim.status == InsuranceClaim.Status.FILED

    client.post(settle, {"outcome": "paid", "amount": "10.00", "carrier_reference": "C-1"})
    claim.refresh_from_db()
    assert (claim.status, claim.paid_amount, claim.carrier_reference) == ("paid", Decimal("10.00"), "C-1")
    twice = client.post(settle, {"outcome": "refused"}, follow=True)
    assert "This claim is already settled." in messages_of(twice)
    claim.refresh_from_db()
    assert claim.status == InsuranceClaim.Status.PAID


def test_an_uninsured_parcel_cannot_be_claimed():
    _places, v = shop()
    order = paid([(v, 1)], how="wallet")
    ship_all(order, deliver=False)
    client = signed_in(member(CUSTOMER_SERVICE_GROUP))
    response = client.post(CLAIMS_ADD, {"shipment": order.shipments.get().pk, "loss": "lost", "remedy": "reship"})
    assert response.status_code == 200 and "shipment" in response.context["form"].errors
    assert not InsuranceClaim.objects.exists()


# -- finance: failed payouts --------------------------------------------------------------------


def failed_payout() -> RefundNote:
    """A cancellation refunded through the sandbox gateway whose payout failed for good."""
    _places, v = shop()
    order = paid([(v, 1)])
    request = open_request(order, Kind.CANCEL, Reason.CHANGED_MIND, {line_of(order).pk: 1})
    note = RefundNote.objects.get(request=request)
    Refund.objects.filter(pk=note.payment_refund_id).update(
        state=Refund.State.FAILED, attempts=8, last_error="ACQ.TRADE_HAS_CLOSE"
    )
    refund_settled.send(sender=Refund, refund=Refund.objects.get(pk=note.payment_refund_id))
    note.refresh_from_db()
    assert note.state == RefundNote.State.FAILED
    return note


def run_action(client, changelist: str, action: str, pk: int):
    return client.post(changelist, {"action": action, "_selected_action": [pk]}, follow=True)


NOTES = reverse("admin:aftersales_refundnote_changelist")
REFUNDS = reverse("admin:payments_refund_changelist")


def test_finance_sees_failed_payouts_and_pays_one_to_the_wallet_instead():
    note = failed_payout()
    finance = signed_in(member(FINANCE_GROUP))
    listed = finance.get(NOTES, {"payout": "failed"})
    assert [n.pk for n in listed.context["cl"].result_list] == [note.pk]
    assert "ACQ.TRADE_HAS_CLOSE" in listed.content.decode()

    response = run_action(finance, NOTES, "pay_to_wallet", note.pk)
    assert "1 refund paid to the wallet." in messages_of(response)
    note.refresh_from_db()
    refund = note.payment_refund
    assert refund.state == Refund.State.SUCCEEDED and refund.destination == Refund.Destination.WALLET
    assert note.state == RefundNote.State.PAID
    assert Wallet.objects.get(user=note.order.customer).balance == note.amount
    assert note.request.status == Status.COMPLETED

    twice = run_action(finance, NOTES, "pay_to_wallet", note.pk)
    assert Wallet.objects.get(user=note.order.customer).balance == note.amount  # once only
    assert any("failed" in m for m in messages_of(twice))


def test_finance_sends_a_failed_payout_again_from_the_refund_note_or_the_payments_refund():
    note = failed_payout()
    finance = signed_in(member(FINANCE_GROUP))
    run_action(finance, NOTES, "retry_payout", note.pk)
    refund = Refund.objects.get(pk=note.payment_refund_id)
    assert (refund.state, refund.attempts) == (Refund.State.PENDING, 0)

    Refund.objects.filter(pk=refund.pk).update(state=Refund.State.FAILED)
    run_action(finance, REFUNDS, "to_wallet", refund.pk)
    refund.refresh_from_db()
    assert refund.state == Refund.State.SUCCEEDED
    assert Wallet.objects.get(user=note.order.customer).balance == note.amount


@pytest.mark.parametrize("group", [CUSTOMER_SERVICE_GROUP, SUPERVISOR_GROUP, WAREHOUSE_GROUP])
def test_only_finance_acts_on_payouts(group):
    note = failed_payout()
    client = signed_in(member(group))
    for changelist, action, pk in (
        (NOTES, "pay_to_wallet", note.pk),
        (NOTES, "retry_payout", note.pk),
        (REFUNDS, "to_wallet", note.payment_refund_id),
    ):
        response = run_action(client, changelist, action, pk)
        # Refused: forbidden, or the action is not offered ("No action selected.", or the plain
        # list when no action at all is offered to this user).
        plain_list = not response.redirect_chain and "cl" in (response.context or {})
        assert response.status_code == 403 or "No action selected." in messages_of(response) or plain_list
    refund = Refund.objects.get(pk=note.payment_refund_id)
    assert refund.state == Refund.State.FAILED and not WalletEntry.objects.filter(wallet__user=note.order.customer)


def test_a_refund_note_is_read_only_even_for_the_superuser():
    note = failed_payout()
    root = signed_in(factories.UserFactory(is_staff=True, is_superuser=True))
    change = reverse("admin:aftersales_refundnote_change", args=[note.pk])
    assert root.get(change).status_code == 200
    assert root.post(change, {"amount": "9999.00", "goods_amount": "9999.00"}).status_code == 403
    assert root.get(reverse("admin:aftersales_refundnote_add")).status_code == 403
    refund_change = reverse("admin:payments_refund_change", args=[note.payment_refund_id])
    root.post(refund_change, {"amount": "9999.00", "state": "succeeded"})
    note.refresh_from_db()
    assert note.amount == line_of(note.order).line_total
    assert note.payment_refund.amount == note.amount and note.payment_refund.state == Refund.State.FAILED


def test_saving_the_read_only_refund_page_never_writes_back_a_stale_state(monkeypatch):
    """The payments refund page has a Save button (finance may change refunds, through actions);
    the worker may pay the refund between the page loading the row and saving it."""
    from payments.admin import RefundAdmin

    note = failed_payout()
    refund_id = note.payment_refund_id
    original = RefundAdmin.save_form

    def worker_pays_meanwhile(self, request, form, change):
        Refund.objects.filter(pk=refund_id).update(state=Refund.State.SUCCEEDED, completed_at=timezone.now())
        return original(self, request, form, change)

    monkeypatch.setattr(RefundAdmin, "save_form", worker_pays_meanwhile)
    finance = signed_in(member(FINANCE_GROUP))
    finance.post(reverse("admin:payments_refund_change", args=[refund_id]), {"_save": "Save"})
    assert Refund.objects.get(pk=refund_id).state == Refund.State.SUCCEEDED


# -- two staff at once ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_staff_approving_the_same_refund_at_once_refund_it_once():
    request = a_packed_cancel()
    clients = [signed_in(member(CUSTOMER_SERVICE_GROUP, email=f"cs{n}@example.com")) for n in range(2)]
    barrier = threading.Barrier(2)
    said: list[list[str]] = []

    def approve(client):
        try:
            barrier.wait()
            response = client.post(url("approve", request.pk), {}, follow=True)
            said.append(messages_of(response))
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    flat = sorted(m for messages in said for m in messages)
    assert flat == sorted([f"Request {request.number} approved.", "This request is no longer open."])
    assert RefundNote.objects.filter(request=request).count() == 1
    assert Refund.objects.filter(payment__order=request.order, reason=Refund.Reason.CUSTOMER).count() == 1
    assert request.events.filter(to_status=Status.REFUNDING).count() == 1
