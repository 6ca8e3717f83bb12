"""Customer pages: open a request from an order, follow it, cancel, appeal, message, send the
return; open a refund note."""
