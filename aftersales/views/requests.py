"""Customer pages: open a request from an order, follow it, cancel, appeal, message, send the
return; open a refund note.

Thin: each view finds the customer's own request (another customer's answers 404), parses the
form and calls one service; the rules and their messages are the service's (AfterSaleError).
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_ratelimit.decorators import ratelimit

from aftersales.exceptions import AfterSaleError
from aftersales.forms import AppealForm, MessageForm, RequestForm, ReturnShipmentForm
from aftersales.models import AfterSale, RefundNote
from aftersales.selectors import requests as selectors
from aftersales.services import requests as request_services
from fulfillment.carriers import carriers_available
from fulfillment.models import Shipment
from orders.models import Order
from orders.selectors import order_of


def _own_request(request: HttpRequest, number: str) -> AfterSale:
    try:
        return selectors.request_of(customer=request.user, number=number)
    except AfterSale.DoesNotExist as exc:
        raise Http404(_("No such after-sales request.")) from exc


def _carriers() -> list[tuple[str, str]]:
    available = set(carriers_available())
    return [(value, label) for value, label in Shipment.Carrier.choices if value in available]


# Every customer write that mails someone (requests, messages, invoice requests) shares one
# allowance per customer: RATELIMIT_AFTERSALES.
aftersales_write_limit = ratelimit(
    group="aftersales-writes",
    key="user",
    rate=lambda group, request: settings.RATELIMIT_AFTERSALES,
    method="POST",
    block=True,
)


@login_required
def request_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.requests_of(customer=request.user), 10).get_page(request.GET.get("page"))
    return render(request, "aftersales/requests/list.html", {"page": page, "requests": page.object_list})


@login_required
@aftersales_write_limit
def request_new(request: HttpRequest, order_number: str) -> HttpResponse:
    try:
        order = order_of(customer=request.user, number=order_number)
    except Order.DoesNotExist as exc:
        raise Http404(_("No such order.")) from exc
    eligibility = request_services.aftersale_eligibility(order=order)
    if request.method == "POST":
        form = RequestForm(eligibility, request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                aftersale = request_services.aftersale_open(
                    order_id=order.pk,
                    customer=request.user,
                    kind=data["kind"],
                    reason=data["reason"],
                    quantities=form.quantities(),
                    description=data["description"],
                    photos=data["photos"],
                    exchange_variants=form.exchange_variants() or None,
                    refund_to=data["refund_to"] or AfterSale.RefundTo.ORIGINAL,
                )
            except AfterSaleError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Request %(n)s sent.") % {"n": aftersale.number})
                return redirect(aftersale)
        status = 400
    else:
        form = RequestForm(eligibility, initial=_initial(request, eligibility))
        status = 200
    context = {
        "order": order,
        "eligibility": eligibility,
        "no_reason": any(line.no_reason for line in eligibility.lines),
        "form": form,
    }
    return render(request, "aftersales/requests/new.html", context, status=status)


def _initial(request: HttpRequest, eligibility) -> dict:
    """Links from the order page preselect a kind (?kind=cancel), one line (?line=<id>: one
    unit) or every unit still available (?all=1, "cancel the order")."""
    initial = {}
    kind = request.GET.get("kind", "")
    if kind in eligibility.kinds:
        initial["kind"] = kind
    elif len(eligibility.kinds) == 1:
        initial["kind"] = eligibility.kinds[0]
    line_id = request.GET.get("line", "")
    for line in eligibility.lines:
        if line.available <= 0:
            continue
        if request.GET.get("all") == "1":
            initial[f"qty_{line.line_id}"] = line.available
        elif line_id.isascii() and line_id.isdigit() and int(line_id) == line.line_id:
            initial[f"qty_{line.line_id}"] = 1
    return initial


@login_required
def request_detail(request: HttpRequest, number: str) -> HttpResponse:
    aftersale = _own_request(request, number)
    return render(request, "aftersales/requests/detail.html", _detail_context(aftersale))


def _detail_context(aftersale: AfterSale) -> dict:
    now = timezone.now()
    status = aftersale.status
    S = AfterSale.Status
    can_appeal = (
        status == S.REJECTED and aftersale.appealed_at is None and (aftersale.due_at is None or aftersale.due_at > now)
    )
    try:
        refund_note = aftersale.refund_note
    except RefundNote.DoesNotExist:
        refund_note = None
    return {
        "aftersale": aftersale,
        "refund_note": refund_note,
        "can_cancel": status in (S.PENDING, S.ESCALATED, S.REJECTED, S.AWAITING_RETURN),
        "can_appeal": can_appeal,
        "appeal_form": AppealForm() if can_appeal else None,
        "message_form": MessageForm(),
        "return_form": ReturnShipmentForm(carriers=_carriers()) if status == S.AWAITING_RETURN else None,
    }


@login_required
@require_POST
def request_cancel(request: HttpRequest, number: str) -> HttpResponse:
    aftersale = _own_request(request, number)
    try:
        request_services.aftersale_cancel(request_id=aftersale.pk, customer=request.user)
    except AfterSaleError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Request %(n)s withdrawn.") % {"n": number})
    return redirect(aftersale)


@login_required
@require_POST
def request_appeal(request: HttpRequest, number: str) -> HttpResponse:
    aftersale = _own_request(request, number)
    form = AppealForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Please say why the request should be looked at again."))
        return redirect(aftersale)
    try:
        request_services.aftersale_appeal(
            request_id=aftersale.pk, customer=request.user, text=form.cleaned_data["text"]
        )
    except AfterSaleError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Your appeal is with a supervisor."))
    return redirect(aftersale)


@login_required
@require_POST
@aftersales_write_limit
def request_message(request: HttpRequest, number: str) -> HttpResponse:
    aftersale = _own_request(request, number)
    form = MessageForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The message is empty or too long (at most 1000 characters)."))
        return redirect(aftersale)
    try:
        request_services.aftersale_message_post(
            request_id=aftersale.pk, author=request.user, body=form.cleaned_data["body"], from_staff=False
        )
    except AfterSaleError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Message sent."))
    return redirect(aftersale)


@login_required
@require_POST
def request_return_shipped(request: HttpRequest, number: str) -> HttpResponse:
    aftersale = _own_request(request, number)
    form = ReturnShipmentForm(request.POST, carriers=_carriers())
    if not form.is_valid():
        messages.error(request, _("Choose a carrier and enter the tracking number."))
        return redirect(aftersale)
    try:
        request_services.aftersale_return_shipped(
            request_id=aftersale.pk,
            customer=request.user,
            carrier=form.cleaned_data["carrier"],
            tracking_number=form.cleaned_data["tracking_number"].strip(),
        )
    except AfterSaleError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Thank you: the shop has your return's tracking number."))
    return redirect(aftersale)


@login_required
def refund_note(request: HttpRequest, number: str) -> HttpResponse:
    try:
        note = selectors.refund_note_of(customer=request.user, number=number)
    except RefundNote.DoesNotExist as exc:
        raise Http404(_("No such refund note.")) from exc
    return render(request, "aftersales/requests/refund_note.html", {"note": note})
