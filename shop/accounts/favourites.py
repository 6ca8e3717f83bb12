"""收藏: a customer's favourite products. The product page's button posts here; the list has its
own page, linked from the account page with a count."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from catalog.models import Product
from catalog.selectors import favourites_of
from catalog.services import favourite_add, favourite_remove

# The account pages' one rule for a posted next target (no open redirect), not a copy of it.
from shop.accounts.busy import safe_next
from shop.accounts.views import _next_or

PAGE_SIZE = 24


def _login_and_back(request: HttpRequest) -> HttpResponse:
    # Not @login_required: it would send the visitor back to this POST-only address with a GET.
    # Back to the product page instead, where the button waits.
    return redirect_to_login(safe_next(request) or request.get_full_path())


@login_required
def favourite_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(favourites_of(customer_id=request.user.pk), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "shop/accounts/favourites.html", {"page": page})


@require_POST
def favourite_add_view(request: HttpRequest, product_id: int) -> HttpResponse:
    if not request.user.is_authenticated:
        return _login_and_back(request)
    try:
        added = favourite_add(customer=request.user, product_id=product_id)
    except Product.DoesNotExist as exc:
        raise Http404(_("No such product.")) from exc
    messages.success(request, _("Added to your favourites.") if added else _("Already in your favourites."))
    return _next_or(request, "accounts:favourites")


@require_POST
def favourite_remove_view(request: HttpRequest, product_id: int) -> HttpResponse:
    if not request.user.is_authenticated:
        return _login_and_back(request)
    if favourite_remove(customer=request.user, product_id=product_id):
        messages.success(request, _("Removed from your favourites."))
    return _next_or(request, "accounts:favourites")
