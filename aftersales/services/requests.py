"""After-sales requests: what a customer may ask for, opening it, the shop's decision, returns,
exchanges, appeals and the deadlines the beat job enforces.

Every status change goes through `_transition` with the request row locked (and the order row
before it: lock order is order → request → payment, everywhere), records an AfterSaleEvent and
writes the mail it owes in the same transaction.
"""

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass
class LineEligibility:
    """What a customer may still ask for one order line."""

    line_id: int
    name: str
    options: str
    bought: int
    requested: int  # units already in live requests (open, refunding, done, or rejected)
    requests: int  # requests on this line so far (all states)
    available: int  # units that may go into a new request
    kinds: list[str] = field(default_factory=list)  # AfterSale.Kind values possible now
    reasons: dict[str, list[str]] = field(default_factory=dict)  # kind -> AfterSale.Reason values
    no_reason: bool = False  # 7-day no-reason return possible for this product now
    why_not: str = ""  # translated: why nothing is possible (shown instead of the form)
    exchange_options: list[tuple[int, str]] = field(default_factory=list)  # (variant id, label)


@dataclass
class Eligibility:
    order_id: int
    kinds: list[str]  # kinds possible for at least one line
    lines: list[LineEligibility]
    whole_order_cancel: bool  # nothing shipped: cancelling every unit closes the order
    no_reason_until: object = None  # datetime or None
    quality_until: object = None  # datetime or None
    why_not: str = ""  # translated, when `kinds` is empty

    def line(self, line_id: int) -> LineEligibility | None:
        return next((x for x in self.lines if x.line_id == line_id), None)


@dataclass
class RefundAmounts:
    """A refund computed on the server: goods less their pro-rata share of the discount, the
    fees only when nothing has shipped and the last units go."""

    lines: dict[int, tuple[int, Decimal]]  # order line id -> (units, amount)
    goods: Decimal
    shipping: Decimal
    insurance: Decimal
    total: Decimal
