"""The admin's permission matrix, built from the admin itself: every URL each registered
ModelAdmin serves (change list, add, change, delete, history, import, export and custom pages)
and every action it offers, for each kind of account (superuser, each staff group, a staff
account with no permissions, a customer), checked against the table of what each role is meant
to reach.

A new admin page or action that is not in the table fails the test, and so does a new group:
whoever adds one decides here who may use it."""

from decimal import Decimal

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from aftersales.models import AfterSale, InsuranceClaim, Invoice, RefundNote, Review
from aftersales.services.staff import CUSTOMER_SERVICE_GROUP, FINANCE_GROUP, SUPERVISOR_GROUP, aftersales_groups_ensure
from cart.models import Cart
from catalog.models import Supplier
from fulfillment import services as fulfillment
from fulfillment.models import PurchaseOrder, Shipment, StockMovement
from fulfillment.services.staff import WAREHOUSE_GROUP
from orders.models import Coupon, Notification
from payments.models import GatewayNotification, Payment, Refund, Wallet
from tests import factories
from tests.fulfillment.support import paid_order, stock, variant, warehouses

pytestmark = pytest.mark.django_db

SUPERUSER, WAREHOUSE, STAFF, CUSTOMER = "superuser", "warehouse", "staff", "customer"
SERVICE, SUPERVISOR, FINANCE = "service", "supervisor", "finance"
ROLES = (SUPERUSER, WAREHOUSE, SERVICE, SUPERVISOR, FINANCE, STAFF, CUSTOMER)
# Every group there is, by the role that stands for it here.
GROUP_ROLES = {
    WAREHOUSE_GROUP: WAREHOUSE,
    CUSTOMER_SERVICE_GROUP: SERVICE,
    SUPERVISOR_GROUP: SUPERVISOR,
    FINANCE_GROUP: FINANCE,
}

SU = {SUPERUSER}
SW = {SUPERUSER, WAREHOUSE}
NOBODY: set[str] = set()
EVERYONE = set(ROLES)
# Customer service and its supervisors: the same pages (a supervisor's extra is a decision the
# service allows, not a page).
CS = {SERVICE, SUPERVISOR}
SF = {SUPERUSER, FINANCE}


def _model(name: str, *, add=SU, change=SU, delete=SU, **extra) -> dict[str, set[str]]:
    """The five pages of a model admin: the list, history and change page are open to whoever may
    view or change; add and delete to whoever may add or delete."""
    return {
        f"{name}_changelist": change,
        f"{name}_change": change,
        f"{name}_history": change,
        f"{name}_add": add,
        f"{name}_delete": delete,
        **{f"{name}{key}": roles for key, roles in extra.items()},
    }


# URL name (or "<model admin URL prefix>:<action>") -> the roles meant to reach it.
INTENDED: dict[str, set[str]] = {
    # Accounts and groups, login records: the superuser's. Nobody adds login records by hand.
    **_model("auth_group"),
    **_model("shop_user"),
    "auth_user_password_change": SU,
    **_model("axes_accessattempt", add=NOBODY),
    **_model("axes_accesslog", add=NOBODY),
    **_model("axes_accessfailurelog", add=NOBODY),
    "axes_accessattempt:delete_selected": SU,
    "axes_accessattempt:cleanup_expired_attempts": SU,
    "axes_accesslog:delete_selected": SU,
    "axes_accessfailurelog:delete_selected": SU,
    "auth_group:delete_selected": SU,
    "shop_user:delete_selected": SU,
    # Carts: customers' own.
    **_model("cart_cart"),
    "cart_cart:delete_selected": SU,
    # The catalogue and its prices: warehouse staff read products, variants and suppliers; they
    # import and export nothing but what they may (export needs view, import change).
    **_model("catalog_attribute"),
    **_model("catalog_attributevalue"),
    **_model("catalog_brand"),
    **_model("catalog_category"),
    "javascript-catalog": EVERYONE,  # treebeard's translations for its tree widget: public text
    **_model("catalog_department"),
    **_model("catalog_supplier", change=SW),
    **_model(
        "catalog_product",
        change=SW,
        _import=SU,
        _process_import=SU,
        _export=SW,
    ),
    **_model("catalog_productvariant", change=SW),
    "catalog_attribute:delete_selected": SU,
    "catalog_attributevalue:delete_selected": SU,
    "catalog_brand:delete_selected": SU,
    "catalog_category:delete_selected": SU,
    "catalog_department:delete_selected": SU,
    "catalog_supplier:delete_selected": SU,
    "catalog_product:delete_selected": SU,
    "catalog_product:make_active": SU,
    "catalog_product:make_inactive": SU,
    "catalog_productvariant:delete_selected": SU,
    # Fulfillment: warehouse staff's work. Parcels come from orders and are never deleted; stock
    # rows keep their history (never deleted; new rows only by whoever may add stock); movements
    # are written by the stock rules only.
    **_model("fulfillment_warehouse", change=SW),
    "fulfillment_warehouse:delete_selected": SU,
    "fulfillment_warehouse:mail_low_stock_digest": SW,
    **_model(
        "fulfillment_stock",
        change=SW,
        delete=NOBODY,
        _import=SW,
        _process_import=SW,
        _export=SW,
    ),
    "fulfillment_stock:delete_selected": NOBODY,
    **_model("fulfillment_stockmovement", change=SW, add=NOBODY, delete=NOBODY),
    "fulfillment_stockmovement:delete_selected": NOBODY,
    # Customer service reads parcels (where is my parcel, lost parcels), prints nothing it could
    # not read anyway, and moves none.
    **_model(
        "fulfillment_shipment",
        change=SW | CS,
        add=NOBODY,
        delete=NOBODY,
        _pick_list=SW | CS,
        _packing_slip=SW | CS,
        _delivery_note=SW | CS,
        _record_event=SW,
    ),
    "fulfillment_shipment:delete_selected": NOBODY,
    "fulfillment_shipment:mark_packed": SW,
    "fulfillment_shipment:ship": SW,
    "fulfillment_shipment:print_pick_list": SW | CS,
    "fulfillment_shipment:reroute": SW,
    "fulfillment_shipment:poll_now": SW,
    **_model("fulfillment_purchaseorder", change=SW, add=SW, _receive=SW),
    "fulfillment_purchaseorder:delete_selected": SU,
    "fulfillment_purchaseorder:place": SW,
    "fulfillment_purchaseorder:cancel": SW,
    # Orders: warehouse staff read them (to ship), customer service and finance too (requests and
    # refunds); cancelling, coupons and the outbox (mail addresses, what was sent) are not theirs.
    # Orders are placed by customers, never deleted.
    **_model("orders_order", change=SW | CS | SF, add=NOBODY, delete=NOBODY),
    "orders_order:delete_selected": NOBODY,
    "orders_order:cancel_orders": SU,
    **_model("orders_coupon"),
    "orders_coupon:delete_selected": SU,
    **_model("orders_notification", add=NOBODY),
    "orders_notification:delete_selected": SU,
    # Money: nothing for warehouse staff or customer service. Payments and gateway notifications
    # come from gateways; refunds from the payment rules; wallets change only through an
    # adjustment with a reason (the superuser's). Finance reads payments, refunds and wallets and
    # acts on a failed refund: sent again, or paid to the wallet instead (same amount, same
    # record). Money records and the gateways' word are never deleted, not even by the superuser.
    **_model("payments_payment", change=SF, add=NOBODY, delete=NOBODY),
    "payments_payment:delete_selected": NOBODY,
    **_model("payments_gatewaynotification", add=NOBODY, delete=NOBODY),
    "payments_gatewaynotification:delete_selected": NOBODY,
    **_model("payments_refund", change=SF, add=NOBODY, delete=NOBODY),
    "payments_refund:delete_selected": NOBODY,
    "payments_refund:retry": SF,
    "payments_refund:to_wallet": SF,
    **_model("payments_wallet", change=SF, add=NOBODY, delete=NOBODY, _adjust=SU),
    "payments_wallet:delete_selected": NOBODY,
    # After-sales requests: customers open them (no add), nothing is deleted or edited. Customer
    # service decides (approve, reject, escalate) and messages the customer; only warehouse staff
    # receive the goods back into stock; finance does not see requests, warehouse staff do not
    # decide them. Escalated ones are a supervisor's (the service refuses others: not a page).
    **_model(
        "aftersales_aftersale",
        change=SU | CS | {WAREHOUSE},
        add=NOBODY,
        delete=NOBODY,
        _approve=SU | CS,
        _reject=SU | CS,
        _escalate=SU | CS,
        _message=SU | CS,
        _receive=SW,
    ),
    "aftersales_aftersale:delete_selected": NOBODY,
    # Refund notes: documents, read only for everyone; finance acts on their failed payouts.
    **_model("aftersales_refundnote", change=SF | CS, add=NOBODY, delete=NOBODY),
    "aftersales_refundnote:delete_selected": NOBODY,
    "aftersales_refundnote:retry_payout": SF,
    "aftersales_refundnote:pay_to_wallet": SF,
    # Insurance claims: filed by customer service or warehouse staff (a refund remedy only by
    # those who may decide requests: the form's choice), the carrier's answer recorded by the
    # warehouse; finance reads what carriers paid. Never deleted.
    **_model(
        "aftersales_insuranceclaim",
        change=SW | CS | SF,
        add=SW | CS,
        delete=NOBODY,
        _settle=SW,
    ),
    "aftersales_insuranceclaim:delete_selected": NOBODY,
    # Reviews: customer service reads and moderates them (reply, hide with a reason, show
    # again); nobody writes or deletes one here.
    **_model("aftersales_review", change=SU | CS, add=NOBODY, delete=NOBODY, _moderate=SU | CS),
    "aftersales_review:delete_selected": NOBODY,
    "aftersales_review:show_again": SU | CS,
    # Invoices: finance issues requested ones (action or button) and downloads the PDF; customer
    # service reads them (and the PDF) to answer customers. Nobody adds, edits or deletes one.
    **_model("aftersales_invoice", change=SF | CS, add=NOBODY, delete=NOBODY, _issue=SF, _pdf=SF | CS),
    "aftersales_invoice:delete_selected": NOBODY,
    "aftersales_invoice:issue_selected": SF,
}


# -- the data every page needs one of -------------------------------------------------------------


@pytest.fixture
def world(db):
    """One object of every model the admin shows (the change, delete and history pages need one)."""
    places = warehouses()
    v = variant(price="30.00")
    stock(places["sh"], v, 10)
    order = paid_order([(v, 1)], payment_method="cod")
    parcel = order.shipments.get()
    fulfillment.shipment_ship(shipment_id=parcel.pk, carrier="own_fleet")
    supplier = Supplier.objects.create(name="供应商")
    po = PurchaseOrder.objects.create(
        number=fulfillment.purchase_order_number_new(), supplier=supplier, warehouse=places["sh"]
    )
    po.lines.create(variant=v, quantity=5, unit_cost=Decimal("8.00"))
    payment = Payment.objects.get(order=order)
    Refund.objects.create(
        payment=payment,
        amount=Decimal("1.00"),
        request_no="R-MATRIX",
        reason="customer",
        state="succeeded",
        completed_at=timezone.now(),
    )
    GatewayNotification.objects.create(provider="sandbox", payload={"x": "1"})
    Wallet.objects.get_or_create(user=order.customer)
    Coupon.objects.create(code="MATRIX", kind="fixed", value=Decimal("5.00"))
    Cart.objects.create(user=order.customer)
    factories.AttributeValueFactory()
    now = timezone.now()
    axes = {"user_agent": "test", "ip_address": "203.0.113.9", "username": "x@example.com", "path_info": "/"}
    AccessAttempt.objects.create(**axes, http_accept="*/*", get_data="", post_data="", failures_since_start=1)
    AccessLog.objects.create(**axes, http_accept="*/*", attempt_time=now)
    AccessFailureLog.objects.create(**axes, http_accept="*/*", attempt_time=now, locked_out=False)
    # After-sales: one of each (made directly: the pages need them, not their history).
    line = order.lines.get()
    request = AfterSale.objects.create(
        number="AS-MATRIX", order=order, customer=order.customer, kind=AfterSale.Kind.REFUND,
        reason=AfterSale.Reason.NOT_RECEIVED, description="没收到", due_at=now,
    )  # fmt: skip
    request.lines.create(order_line=line, quantity=1)
    note = RefundNote.objects.create(
        number="RN-MATRIX", order=order, goods_amount=Decimal("1.00"), amount=Decimal("1.00"),
        destination=AfterSale.RefundTo.ORIGINAL,
    )  # fmt: skip
    note.lines.create(order_line=line, quantity=1, amount=Decimal("1.00"))
    InsuranceClaim.objects.create(
        number="IC-MATRIX", order=order, shipment=parcel, declared_value=Decimal("30.00"),
        remedy=InsuranceClaim.Remedy.RESHIP,
    )  # fmt: skip
    Review.objects.create(order_line=line, product=v.product, customer=order.customer, rating=4, text="不错")
    Invoice.objects.create(
        order=order, state=Invoice.State.ISSUED, number="FP-MATRIX", title_type="personal", title="张三",
        email=order.customer.email, amount=Decimal("30.00"), issued_at=now,
    )  # fmt: skip
    assert Notification.objects.exists() and StockMovement.objects.exists() and Shipment.objects.exists()
    return {"warehouse": places["sh"]}


def _users() -> dict[str, object]:
    superuser = factories.UserFactory(email="root@example.com", is_staff=True, is_superuser=True)
    picker = factories.UserFactory(email="picker@example.com", is_staff=True)
    picker.groups.add(fulfillment.staff_groups_ensure())
    clerk = factories.UserFactory(email="clerk@example.com", is_staff=True)
    customer = factories.UserFactory(email="buyer@example.com")
    users = {SUPERUSER: superuser, WAREHOUSE: picker, STAFF: clerk, CUSTOMER: customer}
    for name, group in aftersales_groups_ensure().items():
        role = GROUP_ROLES[name]
        if role not in users:
            users[role] = factories.UserFactory(email=f"{role}@example.com", is_staff=True)
            users[role].groups.add(group)
    return users


# -- what the admin serves ------------------------------------------------------------------------


def _admin_pages(world) -> dict[str, tuple[str, str]]:
    """Every named URL of every registered ModelAdmin: name -> (method, path)."""
    query = {"fulfillment_shipment_pick_list": f"?warehouse={world['warehouse'].pk}"}
    pages = {}
    for model, model_admin in admin.site._registry.items():
        obj = model._default_manager.order_by("pk").first()
        assert obj is not None, f"the matrix needs one {model._meta.label}: create it in the world fixture"
        for pattern in model_admin.get_urls():
            name = getattr(pattern, "name", None)
            if not name:
                continue  # the unnamed catch-all redirect to the change page
            params = pattern.pattern.converters
            kwargs = {key: obj.pk for key in params}
            path = reverse(f"admin:{name}", kwargs=kwargs or None)
            method = "post" if name.endswith("_process_import") else "get"
            pages[name] = (method, path + query.get(name, ""))
    return pages


def _admin_actions(superuser) -> dict[str, tuple[str, int]]:
    """Every action any model admin could offer (before permissions): key -> (changelist, pk)."""
    request = RequestFactory().get("/admin/")
    request.user = superuser
    actions = {}
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        prefix = f"{opts.app_label}_{opts.model_name}"
        names = {name for _func, name, _description in model_admin._get_base_actions()}
        names |= set(model_admin.get_actions(request))  # added at run time (e.g. an export action)
        obj = model._default_manager.order_by("pk").first()
        for name in names:
            actions[f"{prefix}:{name}"] = (reverse(f"admin:{prefix}_changelist"), obj.pk)
    return actions


# -- what a response means ------------------------------------------------------------------------

LOGIN = reverse("admin:login")
INDEX = reverse("admin:index")


def _page_allowed(response) -> bool:
    if response.status_code == 200:
        return True
    if response.status_code in (301, 302):
        location = response["Location"]
        # To the login page: not signed in as staff. To the index: refused (or no such object).
        return not (location.startswith(LOGIN) or location == INDEX)
    assert response.status_code in (403, 404, 405), f"unexpected {response.status_code}"
    return False


def _action_allowed(response, changelist: str) -> bool:
    """An action ran (or showed its own page) rather than being refused: a 403, the login page,
    Django's "No action selected." (the action is not offered to this user), or the plain change
    list (no action offered at all, so the POST was not taken as one)."""
    if response.status_code == 403:
        return False
    assert response.status_code == 200, f"unexpected {response.status_code}"
    if response.redirect_chain and response.redirect_chain[0][0].startswith(LOGIN):
        return False
    messages = [str(m) for m in response.context["messages"]] if response.context else []
    if "No action selected." in messages:
        return False
    plain_list = not response.redirect_chain and response.context and "cl" in response.context
    return not plain_list


# -- the test ---------------------------------------------------------------------------------------


def test_every_admin_page_and_action_matches_the_intended_table(world):
    users = _users()
    groups = set(Group.objects.values_list("name", flat=True))
    assert groups == set(GROUP_ROLES), f"groups without a role in the matrix: {groups - set(GROUP_ROLES)}"

    pages = _admin_pages(world)
    actions = _admin_actions(users[SUPERUSER])
    served = set(pages) | set(actions)
    assert not served - set(INTENDED), (
        f"admin pages or actions missing from the table: {sorted(served - set(INTENDED))}"
    )
    assert not set(INTENDED) - served, f"stale entries in the table: {sorted(set(INTENDED) - served)}"

    wrong, cells = [], 0
    for role in ROLES:
        client = Client(HTTP_ACCEPT_LANGUAGE="en")
        client.force_login(users[role])
        for name, (method, path) in sorted(pages.items()):
            response = getattr(client, method)(path)
            cells += 1
            if _page_allowed(response) != (role in INTENDED[name]):
                wrong.append(f"{role:9} {name}: {response.status_code} {response.get('Location', '')}")
        for key, (changelist, pk) in sorted(actions.items()):
            action = key.split(":", 1)[1]
            response = client.post(changelist, {"action": action, "_selected_action": [pk]}, follow=True)
            cells += 1
            if _action_allowed(response, changelist) != (role in INTENDED[key]):
                wrong.append(f"{role:9} {key}: {response.status_code}")
    print(f"admin permission matrix: {len(served)} pages and actions x {len(ROLES)} roles = {cells} cells")
    assert not wrong, "outcomes differ from the intended table (role, page, status):\n" + "\n".join(wrong)
    assert cells == len(served) * len(ROLES)


def test_adjusting_a_wallet_that_does_not_exist_is_404_and_without_permission_403(admin_client, client):
    assert admin_client.get("/admin/payments/wallet/999999/adjust/").status_code == 404
    wallet = Wallet.objects.create(user=factories.UserFactory())
    staff = factories.UserFactory(is_staff=True)
    client.force_login(staff)
    assert client.get(f"/admin/payments/wallet/{wallet.pk}/adjust/").status_code == 403
