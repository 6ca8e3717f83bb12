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
- Warehouse staff (fulfillment.services.staff): read requests, receive returns (back into stock
  or written off), file and settle insurance claims.
"""

from django.contrib.auth.models import Group

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
]


def aftersales_groups_ensure() -> dict[str, Group]:
    """Create or correct the after-sales and finance groups, and the warehouse staff group with
    its after-sales permissions (run after every migrate). Returns the groups by name."""
    return {
        CUSTOMER_SERVICE_GROUP: group_ensure(name=CUSTOMER_SERVICE_GROUP, permissions=CUSTOMER_SERVICE_PERMISSIONS),
        SUPERVISOR_GROUP: group_ensure(name=SUPERVISOR_GROUP, permissions=SUPERVISOR_PERMISSIONS),
        FINANCE_GROUP: group_ensure(name=FINANCE_GROUP, permissions=FINANCE_PERMISSIONS),
        WAREHOUSE_GROUP: staff_groups_ensure(),
    }
