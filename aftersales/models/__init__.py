"""What happens after the sale: requests and refunds (requests.py), the monthly settlement with
the departments (settlement.py)."""

from aftersales.models.invoices import Invoice, InvoiceLine
from aftersales.models.requests import (
    MONEY,
    AfterSale,
    AfterSaleEvent,
    AfterSaleLine,
    AfterSaleMessage,
    AfterSalePhoto,
    InsuranceClaim,
    RefundNote,
    RefundNoteLine,
    Review,
    ReviewPhoto,
    photo_path,
)
from aftersales.models.settlement import (
    SettlementRun,
    Statement,
    StatementAdjustment,
    StatementLine,
)

__all__ = [
    "MONEY",
    "AfterSale",
    "AfterSaleEvent",
    "AfterSaleLine",
    "AfterSaleMessage",
    "AfterSalePhoto",
    "InsuranceClaim",
    "Invoice",
    "InvoiceLine",
    "RefundNote",
    "RefundNoteLine",
    "Review",
    "ReviewPhoto",
    "SettlementRun",
    "Statement",
    "StatementAdjustment",
    "StatementLine",
    "photo_path",
]
