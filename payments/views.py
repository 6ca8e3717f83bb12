"""Paying: start a payment for an order, the gateways' notify endpoint, the return page, and
the sandbox gateway's hosted page."""

from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from orders.exceptions import OrderError
from orders.models import Order
from payments import services
from payments.exceptions import PaymentError
from payments.models import Payment
from payments.providers import NOTIFICATION_MAX_BYTES
from payments.providers.sandbox import sandbox_trade_settle
from payments.tasks import sandbox_notify_queue


@login_required
@require_POST
def order_pay(request: HttpRequest, number: str) -> HttpResponse:
    order = get_object_or_404(Order, number=number, customer=request.user)
    method = request.POST.get("method") or order.payment_method
    if method not in settings.PAYMENT_PROVIDERS:
        messages.error(request, _("This payment method is not available."))
        return redirect(order)
    try:
        if method == "wallet":
            services.wallet_pay(order_id=order.pk, user=request.user)
            messages.success(request, _("Paid from your wallet. Thank you!"))
            return redirect(order)
        if method == "cod":
            services.cod_accept(order_id=order.pk, user=request.user)
            messages.success(request, _("Cash on delivery: pay the courier when the parcel arrives."))
            return redirect(order)
        url = services.payment_start(
            order=order,
            provider=method,
            return_url=settings.SITE_URL + reverse("payments:return"),
            notify_url=settings.SITE_URL + reverse("payments:notify", kwargs={"provider": method}),
        )
    except PaymentError as exc:
        messages.error(request, exc.message)
        return redirect(order)
    return redirect(url)


@csrf_exempt  # server-to-server from the gateway: authenticated by its signature, not a cookie
@require_POST
def notify(request: HttpRequest, provider: str) -> HttpResponse:
    if provider not in settings.PAYMENT_PROVIDERS or provider in ("wallet", "cod"):
        raise Http404
    # Bounded before anything reads the body: the site-wide upload limit is sized for images.
    # Django reads no more than CONTENT_LENGTH, so the header is the bound.
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = -1
    if not 0 <= length <= NOTIFICATION_MAX_BYTES:
        return HttpResponse("fail", status=413, content_type="text/plain")
    try:
        services.notification_accept(provider=provider, data=request.POST.dict())
    except (PaymentError, OrderError):  # rejected, nothing changed; a real gateway retries later
        return HttpResponseBadRequest("fail", content_type="text/plain")
    return HttpResponse("success", content_type="text/plain")


# How long the return page waits (refreshing) for a gateway's notification: past it, the
# page says none has come yet instead of "waiting" forever (a notification lost, a broker down).
RETURN_WAIT = timedelta(minutes=5)


def _own_payment(request: HttpRequest) -> Payment:
    reference = request.GET.get("out_trade_no", "")
    payment = Payment.objects.select_related("order").filter(reference=reference, order__customer=request.user).first()
    if payment is None:
        raise Http404(_("No such payment."))
    return payment


@login_required
def payment_return(request: HttpRequest) -> HttpResponse:
    """Where the gateway sends the browser back. It shows the order's state as we know it; it
    never marks anything paid: only the signed notification does."""
    payment = _own_payment(request)
    order = payment.order
    open_ = order.status == Order.Status.PENDING_PAYMENT and payment.state == Payment.State.PENDING
    waiting = open_ and timezone.now() - payment.created_at < RETURN_WAIT
    return render(
        request,
        "payments/return.html",
        {"order": order, "payment": payment, "waiting": waiting, "unconfirmed": open_ and not waiting},
    )


@login_required
def payment_abandoned(request: HttpRequest) -> HttpResponse:
    """Where a gateway sends the browser when the customer leaves its page without paying (the
    sandbox's "Abandon", Alipay's quit_url): back to the order page, saying where things stand.
    A GET that changes nothing: the payment stays as the gateway left it (a gateway may still
    report it paid; the order is then paid as usual)."""
    payment = _own_payment(request)
    order = payment.order
    if order.is_payable:
        # The time alone reads as today's: a deadline on another day (an order placed just before
        # midnight, a long payment window) says its date too.
        deadline = timezone.localtime(order.pay_by)
        until = deadline.strftime("%H:%M" if deadline.date() == timezone.localdate() else "%Y-%m-%d %H:%M")
        messages.warning(
            request,
            _("Payment not completed: nothing was charged. You can pay again until %(time)s, or cancel the order.")
            % {"time": until},
        )
    elif order.status == Order.Status.PENDING_PAYMENT or order.status == Order.Status.CANCELLED:
        messages.warning(request, _("Payment not completed. This order can no longer be paid."))
    return redirect(order)


@login_required
def sandbox_page(request: HttpRequest, reference: str) -> HttpResponse:
    """The sandbox gateway's hosted page: pay, fail or abandon. A test stand-in that moves no
    money, so it is served only where enabled, and only to the customer whose order it is
    (anyone else: 404, as if the payment did not exist).

    The return and notify addresses are the shop's own, built here: the ones the start URL
    carries (as Alipay's does) are ignored, since taken from the request they were an open
    redirect and a server-side request to wherever the requester liked."""
    if not settings.SANDBOX_GATEWAY_ENABLED or "sandbox" not in settings.PAYMENT_PROVIDERS:
        raise Http404
    payment = get_object_or_404(
        Payment.objects.select_related("order"), reference=reference, provider="sandbox", order__customer=request.user
    )
    query = "?" + urlencode({"out_trade_no": payment.reference})
    return_url = settings.SITE_URL + reverse("payments:return") + query
    if request.method == "POST":
        outcome = request.POST.get("outcome")
        if outcome == "abandon":
            # As a gateway does with the merchant's quit URL: no notification, the trade stays open.
            return redirect(settings.SITE_URL + reverse("payments:abandoned") + query)
        # A gateway takes money for an open trade only: a paid or failed one is not paid again here,
        # nor one the shop closed at the gateway (its order was cancelled).
        if outcome in ("pay", "fail") and payment.state == Payment.State.PENDING:
            closed = outcome == "pay" and sandbox_trade_settle(trade=payment.reference, outcome="paid") == "closed"
            if not closed:
                sandbox_notify_queue(reference=payment.reference, outcome=outcome)
        return redirect(return_url)
    return render(
        request,
        "payments/sandbox_page.html",
        {"payment": payment, "merchant": settings.SANDBOX_GATEWAY["MERCHANT_ID"]},
    )
