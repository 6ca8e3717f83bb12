"""Customer pages of invoices: ask for one for an order, download an issued one (own orders
only: anything else answers 404)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from aftersales.exceptions import InvoiceError, InvoiceErrorCode
from aftersales.forms import InvoiceRequestForm
from aftersales.models import Invoice
from aftersales.services import invoices as invoice_services
from aftersales.services.invoice_pdf import invoice_document
from aftersales.views.requests import aftersales_write_limit
from orders.models import Order
from orders.selectors import order_of

# Which field a refusal of the service is about (the rest go above the form).
ERROR_FIELDS = {
    InvoiceErrorCode.TITLE_TYPE: "title_type",
    InvoiceErrorCode.TITLE_REQUIRED: "title",
    InvoiceErrorCode.TITLE_TOO_LONG: "title",
    InvoiceErrorCode.TAXPAYER_ID_REQUIRED: "taxpayer_id",
    InvoiceErrorCode.TAXPAYER_ID_LENGTH: "taxpayer_id",
    InvoiceErrorCode.TAXPAYER_ID_CHARACTERS: "taxpayer_id",
    InvoiceErrorCode.TAXPAYER_ID_CHECK: "taxpayer_id",
    InvoiceErrorCode.BAD_EMAIL: "email",
}


@login_required
@aftersales_write_limit
def invoice_request(request: HttpRequest, order_number: str) -> HttpResponse:
    try:
        order = order_of(customer=request.user, number=order_number)
    except Order.DoesNotExist as exc:
        raise Http404(_("No such order.")) from exc
    current = order.invoices.filter(kind=Invoice.Kind.BLUE).first()
    if current is not None and current.state == Invoice.State.ISSUED:
        messages.info(request, _("Invoice %(number)s has been issued for this order.") % {"number": current.number})
        return redirect(order)
    initial = {"email": request.user.email}
    if current is not None:
        initial = {f: getattr(current, f) for f in ("title_type", "title", "taxpayer_id", "email")}
    form = InvoiceRequestForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            invoice = invoice_services.invoice_request(
                order_id=order.pk,
                customer=request.user,
                title_type=data["title_type"],
                title=data["title"],
                taxpayer_id=data["taxpayer_id"],
                email=data["email"],
            )
        except InvoiceError as exc:
            form.add_error(ERROR_FIELDS.get(exc.code), exc.message)
        else:
            if invoice.state == Invoice.State.ISSUED:
                messages.success(
                    request, _("Invoice %(number)s has been issued and emailed.") % {"number": invoice.number}
                )
            else:
                messages.success(
                    request, _("We have your invoice details; the invoice is issued when the order completes.")
                )
            return redirect(order)
    return render(request, "aftersales/invoices/request.html", {"order": order, "form": form, "current": current})


@login_required
def invoice_pdf(request: HttpRequest, number: str) -> HttpResponse:
    invoice = (
        Invoice.objects.select_related("order", "original", "refund_note")
        .filter(number=number, state=Invoice.State.ISSUED, order__customer=request.user)
        .first()
    )
    if invoice is None:
        raise Http404(_("No such invoice."))
    response = HttpResponse(invoice_document(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice.number}.pdf"'
    return response
