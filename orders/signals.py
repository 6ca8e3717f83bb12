"""What orders tell the apps above them. Receivers call one service each."""

from django.dispatch import Signal

# Sent inside the transaction that cancelled or closed an unshipped order: fulfillment
# releases its stock. Arguments: order.
order_released = Signal()

# Sent inside the transaction that marked an order paid (captured, or cash on delivery
# accepted): fulfillment turns its reservations into shipments. Arguments: order.
order_paid = Signal()

# Sent inside the transaction in which a courier collected cash on delivery: payments captures
# the order's cash-on-delivery payment. Arguments: order, amount (Decimal), reference (str).
cod_collected = Signal()

# Sent inside the transaction in which an order that was to be paid in cash on delivery got
# paid online instead: fulfillment stops its parcels collecting cash. Arguments: order.
cod_withdrawn = Signal()

# Sent inside the transaction that completed an order (received, confirmed or automatically):
# aftersales issues its requested invoice. Arguments: order.
order_completed = Signal()
