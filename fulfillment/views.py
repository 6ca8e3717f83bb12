"""The customer's parcel tracking page."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from orders.models import Order


@login_required
def tracking(request: HttpRequest, number: str) -> HttpResponse:
    # Another customer's order answers 404, exactly like an order that does not exist.
    order = Order.objects.filter(number=number, customer=request.user).first()
    if order is None:
        raise Http404(_("No such order."))
    return render(request, "fulfillment/tracking.html", {"order": order})
