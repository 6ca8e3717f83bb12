"""What payments tells the apps above it. Receivers call one service each."""

from django.dispatch import Signal

# Sent inside the transaction in which a refund was paid (the gateway or the ledger confirmed
# it) or given up on (FAILED, for finance): after-sales moves its refund note on and mails the
# customer. Arguments: refund (payments.models.Refund).
refund_settled = Signal()
