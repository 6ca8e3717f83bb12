"""Signals fulfillment sends for the apps above it (which may listen; fulfillment never imports
them)."""

from django.dispatch import Signal

# A customer's return parcel (Shipment.Kind.RETURN) was delivered to the warehouse: after-sales
# notes it. Sent with `shipment`, inside the transaction that records the delivery, while the
# order and the parcel rows are locked (lock nothing a step before them), once per parcel.
return_delivered = Signal()
