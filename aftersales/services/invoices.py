"""Invoices (发票): the customer's request, issuing (by finance, or on the order's completion),
red invoices for refunds written after issue, their PDF and their mail.

Lock order is the order row, then its invoices (the same as refunds take: order → request →
payment), so issuing an invoice and writing a refund for its order never interleave: a refund is
either in the issued amount or gets its red invoice.

What an invoice is for (decided here, shown to finance in the admin's help): what the customer
paid for the goods (each line's total less its share of the order's discount), shipping and
shipping insurance, less every refund note of the order written by the time it is issued
(approved ones too: their money is going back). A later refund note is a red invoice for its
amount. Issued invoices never change.
"""

from collections import defaultdict
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy

from aftersales.exceptions import InvoiceError, InvoiceErrorCode
from aftersales.models import Invoice, InvoiceLine, RefundNote, RefundNoteLine
from orders.models import Notification, Order
from orders.services import notification_queue, order_line_discount_shares
from shop.core.money import format_money, money
from shop.models import sequence_next

# Orders that can have an invoice: paid for and not refunded in full.
INVOICEABLE = (Order.Status.PAID, Order.Status.SHIPPED, Order.Status.COMPLETED)
# Orders an invoice may be asked for: those, and one just placed (checkout's "I need an invoice").
REQUESTABLE = (Order.Status.PENDING_PAYMENT, *INVOICEABLE)

# 统一社会信用代码 (GB 32100-2015): 18 characters of this alphabet (no I, O, S, V, Z); the 18th
# is a check character over the first 17, weights 3^i mod 31.
CREDIT_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def taxpayer_id_clean(value: str) -> str:
    """A unified social credit code, upper-cased and without spaces, if its form and check
    character are right. Raises InvoiceError(TAXPAYER_ID_LENGTH, TAXPAYER_ID_CHARACTERS or
    TAXPAYER_ID_CHECK)."""
    code = "".join(str(value).split()).upper()
    if len(code) != 18:
        raise InvoiceError(InvoiceErrorCode.TAXPAYER_ID_LENGTH)
    if any(c not in CREDIT_CODE_CHARS for c in code) or not code[2:8].isdigit():
        raise InvoiceError(InvoiceErrorCode.TAXPAYER_ID_CHARACTERS)
    total = sum(CREDIT_CODE_CHARS.index(c) * w for c, w in zip(code[:17], CREDIT_CODE_WEIGHTS, strict=True))
    if CREDIT_CODE_CHARS[(31 - total % 31) % 31] != code[17]:
        raise InvoiceError(InvoiceErrorCode.TAXPAYER_ID_CHECK)
    return code


def invoice_number() -> str:
    """FP + year + 8 digits, gap-free per year across blue and red invoices. Precondition: inside
    the transaction that writes the invoice (a rollback gives the number back)."""
    year = timezone.localdate().year
    return f"FP{year}{sequence_next(f'invoice:{year}'):08d}"


# -- the customer's request -------------------------------------------------------------------


@transaction.atomic
def invoice_request(
    *, order_id: int, customer, title_type: str, title: str, taxpayer_id: str = "", email: str = ""
) -> Invoice:
    """Ask for (or correct, until it is issued) the order's electronic ordinary invoice. An
    individual's taxpayer ID is ignored; an organisation's is required and checked. The email
    defaults to the account's. On a completed order with INVOICE_AUTO_ISSUE it is issued at once.

    Raises Order.DoesNotExist for another customer's order, InvoiceError otherwise (nothing is
    written then)."""
    order = Order.objects.select_for_update().get(pk=order_id, customer=customer)
    if order.status not in REQUESTABLE:
        raise InvoiceError(InvoiceErrorCode.NOT_INVOICEABLE)
    if title_type not in Invoice.TitleType.values:
        raise InvoiceError(InvoiceErrorCode.TITLE_TYPE)
    title = " ".join(str(title).split())
    if not title:
        raise InvoiceError(InvoiceErrorCode.TITLE_REQUIRED)
    if len(title) > 100:
        raise InvoiceError(InvoiceErrorCode.TITLE_TOO_LONG)
    if title_type == Invoice.TitleType.ORGANISATION:
        if not str(taxpayer_id).strip():
            raise InvoiceError(InvoiceErrorCode.TAXPAYER_ID_REQUIRED)
        taxpayer_id = taxpayer_id_clean(taxpayer_id)
    else:
        taxpayer_id = ""
    email = str(email).strip() or customer.email
    try:
        validate_email(email)
    except ValidationError as exc:
        raise InvoiceError(InvoiceErrorCode.BAD_EMAIL) from exc
    invoice = Invoice.objects.select_for_update().filter(order=order, kind=Invoice.Kind.BLUE).first()
    if invoice is not None and invoice.state == Invoice.State.ISSUED:
        raise InvoiceError(InvoiceErrorCode.ALREADY_ISSUED, number=invoice.number)
    if invoice is None:
        invoice = Invoice(order=order, kind=Invoice.Kind.BLUE)
    invoice.title_type, invoice.title, invoice.taxpayer_id, invoice.email = title_type, title, taxpayer_id, email
    invoice.requested_at = timezone.now()
    invoice.save()
    if order.status == Order.Status.COMPLETED and settings.INVOICE_AUTO_ISSUE:
        _issue(order, invoice, actor=None)
    return invoice


# -- issuing -----------------------------------------------------------------------------------


@transaction.atomic
def invoice_issue(*, invoice_id: int, actor=None) -> Invoice:
    """Issue a requested invoice: number, amount, lines, PDF mailed. Idempotent (an issued
    invoice is returned as is). Raises InvoiceError(NOT_INVOICEABLE) for an order not paid or
    refunded in full, NOTHING_TO_INVOICE when refunds left nothing."""
    order_id = Invoice.objects.values_list("order_id", flat=True).get(pk=invoice_id)
    order = Order.objects.select_for_update().get(pk=order_id)
    invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
    if invoice.state == Invoice.State.ISSUED:
        return invoice
    return _issue(order, invoice, actor=actor)


def invoice_issue_on_completion(*, order: Order) -> Invoice | None:
    """The order completed: issue its requested invoice if INVOICE_AUTO_ISSUE. Precondition: the
    order is locked (orders' completion transaction). A refund that left nothing to invoice
    leaves the request for finance rather than failing the completion."""
    if not settings.INVOICE_AUTO_ISSUE:
        return None
    invoice = (
        Invoice.objects.select_for_update()
        .filter(order=order, kind=Invoice.Kind.BLUE, state=Invoice.State.REQUESTED)
        .first()
    )
    if invoice is None:
        return None
    try:
        with transaction.atomic():
            return _issue(order, invoice, actor=None)
    except InvoiceError:
        return None


def _issue(order: Order, invoice: Invoice, *, actor) -> Invoice:
    """Precondition: order and invoice locked, the invoice requested."""
    if order.status not in INVOICEABLE:
        raise InvoiceError(InvoiceErrorCode.NOT_INVOICEABLE)
    lines = invoice_lines_due(order)
    amount = sum((line.amount for line in lines), Decimal("0.00"))
    if amount <= 0:
        raise InvoiceError(InvoiceErrorCode.NOTHING_TO_INVOICE)
    invoice.number = invoice_number()
    invoice.state = Invoice.State.ISSUED
    invoice.amount = amount
    invoice.issued_at = timezone.now()
    invoice.issued_by = actor if getattr(actor, "pk", None) else None
    invoice.save(update_fields=["number", "state", "amount", "issued_at", "issued_by"])
    for line in lines:
        line.invoice = invoice
    InvoiceLine.objects.bulk_create(lines)
    _mail(invoice, Notification.Kind.INVOICE_ISSUED)
    return invoice


def invoice_lines_due(order: Order) -> list[InvoiceLine]:
    """What the customer paid and kept, line by line (unsaved): each order line's total less its
    discount share less what its refund notes gave back; shipping and insurance less theirs."""
    order_lines = list(order.lines.all())
    shares = order_line_discount_shares(order, order_lines)
    refunded_units: dict[int, int] = defaultdict(int)
    refunded_goods: dict[int, Decimal] = defaultdict(Decimal)
    for line_id, quantity, amount in RefundNoteLine.objects.filter(note__order=order).values_list(
        "order_line_id", "quantity", "amount"
    ):
        refunded_units[line_id] += quantity
        refunded_goods[line_id] += amount
    fees = RefundNote.objects.filter(order=order).aggregate(
        shipping=Sum("shipping_amount"), insurance=Sum("insurance_amount")
    )
    lines = []
    for line in order_lines:
        amount = money(line.line_total - shares[line.pk] - refunded_goods[line.pk])
        quantity = line.quantity - refunded_units[line.pk]
        if amount > 0 and quantity > 0:
            lines.append(InvoiceLine(**_line_names(line), quantity=quantity, amount=amount))
    shipping = money(order.shipping_fee - (fees["shipping"] or 0))
    if shipping > 0:
        lines.append(InvoiceLine(**_fee_names(SHIPPING), quantity=1, amount=shipping))
    insurance = money(order.insurance_fee - (fees["insurance"] or 0))
    if insurance > 0:
        lines.append(InvoiceLine(**_fee_names(INSURANCE), quantity=1, amount=insurance))
    return lines


SHIPPING, INSURANCE = gettext_lazy("Shipping"), gettext_lazy("Shipping insurance")


def _line_names(line) -> dict[str, str]:
    """An invoice line's names from its order line, in both languages."""
    return {
        "name": line.product_name,
        "options": line.variant_label,
        "name_en": line.product_name_en,
        "options_en": line.variant_label_en,
    }


def _fee_names(label) -> dict[str, str]:
    """A fee's line named in both languages, whoever issues it (staff in English, a task)."""
    with translation.override(settings.LANGUAGE_CODE):
        name = str(label)
    with translation.override("en"):
        return {"name": name, "name_en": str(label)}


# -- red invoices ------------------------------------------------------------------------------


def invoice_red_for_refund(*, note: RefundNote) -> Invoice | None:
    """A refund note written after the order's invoice was issued: a red invoice for its amount,
    referencing the invoice, numbered from the same sequence, mailed. One per refund note
    (idempotent); none when nothing was invoiced yet (the issue will count the refund) or the
    note refunds nothing. Precondition: the order is locked (the refund's transaction)."""
    if note.amount <= 0:
        return None
    existing = Invoice.objects.filter(refund_note=note).first()
    if existing is not None:
        return existing
    original = (
        Invoice.objects.select_for_update()
        .filter(order_id=note.order_id, kind=Invoice.Kind.BLUE, state=Invoice.State.ISSUED)
        .first()
    )
    if original is None:
        return None
    now = timezone.now()
    red = Invoice.objects.create(
        order_id=note.order_id,
        kind=Invoice.Kind.RED,
        state=Invoice.State.ISSUED,
        number=invoice_number(),
        title_type=original.title_type,
        title=original.title,
        taxpayer_id=original.taxpayer_id,
        email=original.email,
        amount=-note.amount,
        original=original,
        refund_note=note,
        requested_at=now,
        issued_at=now,
    )
    lines = [
        InvoiceLine(
            invoice=red,
            **_line_names(line.order_line),
            quantity=-line.quantity,
            amount=-line.amount,
        )
        for line in note.lines.select_related("order_line")
        if line.amount > 0
    ]
    if note.shipping_amount > 0:
        lines.append(InvoiceLine(invoice=red, **_fee_names(SHIPPING), quantity=-1, amount=-note.shipping_amount))
    if note.insurance_amount > 0:
        lines.append(InvoiceLine(invoice=red, **_fee_names(INSURANCE), quantity=-1, amount=-note.insurance_amount))
    # Capped refunds (a fee re-priced down) can leave the lines short of the note: the goods
    # lines then carry what the note says, so that the lines add up to the red invoice.
    gap = red.amount - sum((x.amount for x in lines), Decimal("0.00"))
    if gap and lines:
        lines[0].amount += gap
    InvoiceLine.objects.bulk_create(lines)
    _mail(red, Notification.Kind.INVOICE_RED)
    return red


# -- mail and PDF ------------------------------------------------------------------------------


def _mail(invoice: Invoice, kind: str) -> None:
    order = invoice.order
    customer = order.customer
    notification_queue(
        kind=kind,
        key=f"{kind}:{invoice.pk}",
        to=invoice.email,
        language=customer.language,
        context={
            "invoice_id": invoice.pk,
            "number": invoice.number,
            "order": order.number,
            "amount": format_money(abs(invoice.amount)),
            "title": invoice.title,
            "original": invoice.original.number if invoice.original_id else "",
            "url": order.get_absolute_url(),
            "pdf_url": invoice.get_absolute_url(),
        },
        order=order,
        user=customer,
    )


def invoice_attachments(notification: Notification) -> list[tuple[str, bytes, str]]:
    """The invoice's PDF for its mail (registered with orders' outbox in AppConfig.ready)."""
    from aftersales.services.invoice_pdf import invoice_document

    invoice = Invoice.objects.filter(pk=notification.context.get("invoice_id")).first()
    if invoice is None or invoice.state != Invoice.State.ISSUED:
        return []
    return [(f"{invoice.number}.pdf", invoice_document(invoice), "application/pdf")]
