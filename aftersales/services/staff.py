"""The staff groups of after-sales and money, created or corrected after every migrate (like the
warehouse staff group, which also gains its after-sales permissions here: it is ensured again
once the after-sales permissions exist).

Each group holds only what its work needs; the admin permission matrix
(tests/shop/test_admin_permissions.py) checks every admin page and action against it:
- Customer service: read and decide requests (approve, reject, escalate, message the customer),
  read refund notes, orders and parcels, file insurance claims, moderate reviews. Never
  receives stock, never moves money, never decides an escalated or appealed request.
- After-sales supervisors: customer service, and decide escalated and appealed requests.
- Finance: read refund notes, payments, refunds and wallets; issue invoices; send a failed refund again or pay
  it to the wallet instead (payments.change_refund); record cash collected on delivery. Never
  decides a request nor changes an amount (every amount is read only everywhere).
- Finance also: adjust a wallet with a reason (payments.change_wallet), statements (read, confirm,
  pay, adjust), settlement runs (read), commission rates (set on the department's page; the
  department itself stays read only), customers' pages (read).
- Customer service also reads customers' pages (用户信息管理; never staff accounts).
- Catalogue managers and department staff (catalog.services): ensured again here, once the
  statement permissions department staff read exist.
- Warehouse staff (fulfillment.services.staff): read requests, receive returns (back into stock
  or written off), file and settle insurance claims.
"""

from django.contrib.auth.models import Group

from catalog.services import catalog_groups_ensure
from fulfillment.services.staff import WAREHOUSE_GROUP, group_ensure, staff_groups_ensure

CUSTOMER_SERVICE_GROUP = "Customer service"
SUPERVISOR_GROUP = "After-sales supervisors"
FINANCE_GROUP = "Finance"

CUSTOMER_SERVICE_PERMISSIONS = [
    "aftersales.view_aftersale",
    "aftersales.decide_aftersale",
    "aftersales.view_refundnote",
    "aftersales.view_insuranceclaim",
    "aftersales.add_insuranceclaim",
    "aftersales.view_review",
    "aftersales.moderate_review",
    "aftersales.view_invoice",  # what the customer asked for, to answer questions about it
    "shop.view_user",  # customers' pages (the admin shows them no staff accounts)
    "orders.view_order",
    "orders.view_orderline",
    # Where a parcel is, for "not received" and lost-parcel requests.
    "fulfillment.view_shipment",
    "fulfillment.view_shipmentline",
    "fulfillment.view_trackingevent",
]

SUPERVISOR_PERMISSIONS = [*CUSTOMER_SERVICE_PERMISSIONS, "aftersales.supervise_aftersale"]

FINANCE_PERMISSIONS = [
    "aftersales.view_refundnote",
    "aftersales.view_insuranceclaim",  # what the carriers paid for lost parcels
    "aftersales.view_invoice",
    "aftersales.issue_invoice",  # issue requested invoices (and download their PDF)
    "orders.view_order",
    "orders.view_orderline",
    "payments.view_payment",
    "payments.view_refund",
    "payments.change_refund",  # send a failed refund again, or pay it to the wallet instead
    "payments.view_wallet",
    "payments.view_walletentry",
    "payments.record_cash_collection",
    "payments.change_wallet",  # adjust a balance, with a reason (payments' adjust page)
    "shop.view_user",  # a customer's page: their wallet, orders, and the adjust link
    "aftersales.view_statement",
    "aftersales.change_statement",
    "aftersales.view_statementline",
    "aftersales.change_statementline",
    "aftersales.view_statementadjustment",
    "aftersales.add_statementadjustment",
    "aftersales.view_settlementrun",
    "catalog.view_department",
    "catalog.change_department",  # to save its commission rates inline (its own fields stay read only)
    "catalog.view_commissionrate",
    "catalog.add_commissionrate",
    "catalog.change_commissionrate",
]


def aftersales_groups_ensure() -> dict[str, Group]:
    """Create or correct the after-sales and finance groups, and the warehouse staff group with
    its after-sales permissions (run after every migrate). Returns the groups by name."""
    return {
        CUSTOMER_SERVICE_GROUP: group_ensure(name=CUSTOMER_SERVICE_GROUP, permissions=CUSTOMER_SERVICE_PERMISSIONS),
        SUPERVISOR_GROUP: group_ensure(name=SUPERVISOR_GROUP, permissions=SUPERVISOR_PERMISSIONS),
        FINANCE_GROUP: group_ensure(name=FINANCE_GROUP, permissions=FINANCE_PERMISSIONS),
        WAREHOUSE_GROUP: staff_groups_ensure(),
        **catalog_groups_ensure(),
    }
