"""Account pages: register, log in and out, password change and reset, profile, addresses."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.decorators import method_decorator
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django_ratelimit.decorators import ratelimit
from django_ratelimit.exceptions import Ratelimited

from orders.selectors import orders_of
from shop.accounts import forms, services
from shop.accounts.busy import login_busy_page, safe_next
from shop.accounts.exceptions import HashingBusy
from shop.core import divisions
from shop.models import Address


def _next_or(request: HttpRequest, default: str) -> HttpResponse:
    """Redirect to the safe next target, else to `default`."""
    if target := safe_next(request):
        return HttpResponseRedirect(target)  # redirect() would reverse "next=abc" as a view name: a 500
    return redirect(default)


@ratelimit(key="ip", rate=settings.RATELIMIT_REGISTER, method="POST", block=True)
def register(request: HttpRequest) -> HttpResponse:
    form = forms.RegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = services.customer_register(
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
            phone=form.cleaned_data["phone"],
            language=get_language() or "",
        )
        login(request, user, backend="shop.accounts.backends.AddressThrottledModelBackend")
        messages.success(request, _("Welcome! Your account is ready."))
        return _next_or(request, "accounts:overview")
    # The next target rides along (hidden field, login link) so a guest sent here from checkout returns there.
    return render(request, "shop/accounts/register.html", {"form": form, "next": safe_next(request)})


class LoginView(auth_views.LoginView):
    template_name = "shop/accounts/login.html"
    authentication_form = forms.LoginForm
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        # First one of the host's password-checking slots (one Redis round trip), held for the whole
        # login: with none free the customer is answered at once, before anything else is read.
        try:
            with services.password_check_slot(request=request):
                # An address that failed too often with any usernames, or a username that failed
                # too often from any addresses, gets the 429 page before a password is hashed (the
                # admin's login is refused by the same rules in the authentication backend).
                if services.login_blocked(request=request, username=request.POST.get("username", "")):
                    raise Ratelimited
                return super().post(request, *args, **kwargs)
        except HashingBusy as busy:
            # Only without LoginSlotMiddleware (or with a session cookie): it takes the slot first.
            return login_busy_page(request, busy)


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "shop/accounts/form.html"
    success_url = reverse_lazy("accounts:overview")
    # Lazy: a class attribute is made at import, in no request's language.
    extra_context = {"title": gettext_lazy("Change password")}

    def form_valid(self, form):
        messages.success(self.request, _("Your password has been changed."))
        return super().form_valid(form)


@method_decorator(
    ratelimit(
        group="accounts.password-reset-per-address",
        key="ip",
        rate=lambda group, request: settings.RATELIMIT_PASSWORD_RESET_PER_ADDRESS,
        method="POST",
    ),
    name="post",
)
class PasswordResetView(auth_views.PasswordResetView):
    """Reset by mail, limited per client address (the 429 page) and per address typed: past
    that limit the same "check your mail" page, and no mail, so nobody learns whether an
    account exists and nobody can flood a mailbox."""

    template_name = "shop/accounts/form.html"
    form_class = forms.OutboxPasswordResetForm
    success_url = reverse_lazy("accounts:password_reset_done")
    extra_context = {
        "title": gettext_lazy("Reset your password"),
        "intro": gettext_lazy("We will mail you a link to set a new one."),
    }

    def form_valid(self, form):
        if services.password_reset_allowed(request=self.request, email=form.cleaned_data["email"]):
            return super().form_valid(form)
        return HttpResponseRedirect(self.get_success_url())


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "shop/accounts/message.html"
    extra_context = {
        "title": gettext_lazy("Check your mail"),
        "text": gettext_lazy("If an account uses that address, a link to reset the password is on its way."),
    }


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "shop/accounts/form.html"
    success_url = reverse_lazy("accounts:login")
    extra_context = {"title": gettext_lazy("Choose a new password")}

    def form_valid(self, form):
        messages.success(self.request, _("Your password has been set. You can log in now."))
        return super().form_valid(form)


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    orders = orders_of(customer=request.user)[:5]  # as the order list: without those removed from it
    return render(
        request,
        "shop/accounts/overview.html",
        {
            "orders": orders,  # the wallet: payments' {% wallet_summary %} tag
            "default_address": Address.objects.filter(user=request.user, is_default=True).first(),
        },
    )


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    form = forms.ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Profile saved."))
        return redirect("accounts:overview")
    return render(request, "shop/accounts/form.html", {"form": form, "title": _("Your profile")})


@login_required
def address_list(request: HttpRequest) -> HttpResponse:
    return render(request, "shop/accounts/addresses.html", {"addresses": Address.objects.filter(user=request.user)})


@login_required
def address_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    address = get_object_or_404(Address, pk=pk, user=request.user) if pk else Address(user=request.user)
    form = forms.AddressForm(request.POST or None, instance=address)
    if request.method == "POST" and form.is_valid():
        services.address_save(address=form.save(commit=False), user=request.user)
        messages.success(request, _("Address saved."))
        return _next_or(request, "accounts:addresses")
    title = _("Edit address") if pk else _("New address")
    return render(request, "shop/accounts/address_form.html", {"form": form, "title": title})


@require_GET
def divisions_of(request: HttpRequest, code: str) -> JsonResponse:
    """The cities of a province or the districts of a city, in the page's language, for the
    address form's dependent selects (static/shop/address.js). Public data, the same for all."""
    division = divisions.division_get(code)
    if division is None:
        raise Http404
    options = divisions.children(division.code)
    if division.parent:  # a city: its districts
        empty = _("Choose a district") if options else _("No districts in this city")
    else:
        empty = _("Choose a city")
    response = JsonResponse({"empty": empty, "options": divisions.choices(options)})
    patch_cache_control(response, public=True, max_age=86400)
    patch_vary_headers(response, ["Cookie", "Accept-Language"])
    return response


@login_required
@require_POST
def address_delete(request: HttpRequest, pk: int) -> HttpResponse:
    services.address_delete(address=get_object_or_404(Address, pk=pk, user=request.user))
    messages.success(request, _("Address deleted."))
    return redirect("accounts:addresses")
