"""The customer's parcel tracking page, and "tell me when it is back" (stock alerts)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from catalog.models import ProductVariant, StockAlert
from fulfillment import services
from fulfillment.exceptions import FulfillmentError
from orders.models import Order
from shop.core.text import parse_whole_number


@login_required
def tracking(request: HttpRequest, number: str) -> HttpResponse:
    # Another customer's order answers 404, exactly like an order that does not exist.
    order = Order.objects.filter(number=number, customer=request.user).first()
    if order is None:
        raise Http404(_("No such order."))
    return render(request, "fulfillment/tracking.html", {"order": order})


@require_POST
def stock_alert_create(request: HttpRequest) -> HttpResponse:
    """The product page's "tell me when it is back" button. A visitor who is not signed in is
    sent to log in and comes back to the product (the page is cached for visitors: it cannot
    know who is asking, so the server decides)."""
    variant_id = parse_whole_number(request.POST.get("variant", ""))
    variant = (
        ProductVariant.objects.select_related("product").filter(pk=variant_id).first()
        if variant_id is not None
        else None
    )
    if variant is None:
        raise Http404(_("No such product."))
    product_url = variant.product.get_absolute_url()
    if not request.user.is_authenticated:
        messages.info(request, _("Log in, then ask again: we will email you when it is back in stock."))
        return redirect_to_login(product_url)
    try:
        _alert, created = services.stock_alert_create(customer=request.user, variant_id=variant.pk)
    except FulfillmentError as exc:
        messages.error(request, exc.message)
    else:
        if created:
            messages.success(request, _("We will email you once when it is back in stock."))
        else:
            messages.info(request, _("You have already asked: we will email you once when it is back in stock."))
    return redirect(product_url)


@login_required
@require_POST
def stock_alert_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    # Another customer's alert answers 404, exactly like one that does not exist: ids cannot be probed.
    get_object_or_404(StockAlert, pk=pk, customer=request.user)
    if services.stock_alert_cancel(customer=request.user, alert_id=pk):
        messages.success(request, _("You will not be emailed about that product."))
    else:
        messages.info(request, _("That alert was already sent or withdrawn."))
    return redirect("accounts:overview")
