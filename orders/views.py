"""The customer's orders: list by status, detail with its timeline, cancel an unpaid order,
confirm receipt of a shipped one, remove a finished one from the list."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from orders import selectors
from orders.exceptions import OrderError
from orders.models import Order
from orders.services import order_cancel, order_confirm_receipt, order_hide


@login_required
def order_list(request: HttpRequest) -> HttpResponse:
    tab = request.GET.get("tab", "")
    tab = tab if tab in selectors.TABS else ""
    page = Paginator(selectors.orders_of(customer=request.user, tab=tab), 10).get_page(request.GET.get("page"))
    return render(request, "orders/order_list.html", {"page": page, "orders": page.object_list, "tab": tab})


def _own_order(request: HttpRequest, number: str) -> Order:
    try:
        return selectors.order_of(customer=request.user, number=number)
    except Order.DoesNotExist as exc:
        raise Http404(_("No such order.")) from exc


@login_required
def order_detail(request: HttpRequest, number: str) -> HttpResponse:
    order = _own_order(request, number)
    choices = [c for c in Order.PaymentMethod.choices if c[0] in settings.PAYMENT_PROVIDERS]
    return render(request, "orders/order_detail.html", {"order": order, "payment_choices": choices})


@login_required
@require_POST
def order_cancel_view(request: HttpRequest, number: str) -> HttpResponse:
    order = _own_order(request, number)
    if order.status != Order.Status.PENDING_PAYMENT:
        messages.error(request, _("Only an unpaid order can be cancelled here."))
        return redirect(order)
    try:
        order_cancel(order_id=order.pk, actor=request.user, actor_kind="customer", reason="cancelled by the customer")
    except OrderError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Order %(n)s cancelled.") % {"n": number})
    return redirect(order)


@login_required
@require_POST
def order_confirm_receipt_view(request: HttpRequest, number: str) -> HttpResponse:
    order = _own_order(request, number)
    try:
        order_confirm_receipt(order_id=order.pk, customer=request.user)
    except OrderError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Thank you! Order %(n)s is complete.") % {"n": number})
    return redirect(order)


@login_required
@require_POST
def order_hide_view(request: HttpRequest, number: str) -> HttpResponse:
    """Remove a finished order from the customer's list (the shop keeps it; its page still opens)."""
    order = _own_order(request, number)
    try:
        order_hide(order_id=order.pk, customer=request.user)
    except OrderError as exc:
        messages.error(request, exc.message)
        return redirect(order)
    messages.success(request, _("Order %(n)s was removed from your list.") % {"n": number})
    return redirect("orders:list")
