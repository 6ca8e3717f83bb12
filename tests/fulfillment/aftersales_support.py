"""Checks shared by the after-sales fulfillment tests (partial release, returns, replacements)."""

from collections import defaultdict

from django.db.models import Sum

from fulfillment.models import Reservation, ShipmentLine, Stock, StockMovement


def assert_stock_invariants() -> None:
    """Every stock row: on_hand = Σ on_hand_delta, reserved = Σ reserved_delta,
    0 <= reserved <= on_hand, reserved = Σ its held reservations; every parcel line holds
    exactly its reservation's units."""
    moved = {
        row["stock_id"]: (row["on_hand"], row["reserved"])
        for row in StockMovement.objects.values("stock_id").annotate(
            on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta")
        )
    }
    held: dict[int, int] = defaultdict(int)
    for stock_id, quantity in Reservation.objects.filter(state=Reservation.State.HELD).values_list(
        "stock_id", "quantity"
    ):
        held[stock_id] += quantity
    for row in Stock.objects.all():
        assert moved.get(row.pk, (0, 0)) == (row.on_hand, row.reserved), row
        assert 0 <= row.reserved <= row.on_hand, row
        assert held[row.pk] == row.reserved, row
    for line in ShipmentLine.objects.select_related("reservation"):
        assert line.quantity == line.reservation.quantity, line
