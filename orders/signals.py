"""What orders tell the apps above them. Receivers call one service each."""

from django.dispatch import Signal

# Sent inside the transaction that cancelled or closed an unshipped order: fulfillment
# releases its stock. Arguments: order.
order_released = Signal()
