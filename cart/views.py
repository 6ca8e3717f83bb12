"""Cart and checkout pages. Every figure shown or charged is computed on the server; prices or
totals sent by the browser are never charged (the total a confirm page showed is posted back
only to be compared: an order is placed at that total or not at all)."""

from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django_ratelimit.decorators import ratelimit

from cart import services
from cart.exceptions import CartError, CartErrorCode
from cart.forms import AddressChangeForm, CheckoutChoices, CheckoutForm, wallet_short_message
from cart.shipping import insurance_fee, shipping_quotes
from orders import selectors as order_selectors
from orders.exceptions import OrderError
from orders.models import Order
from payments.exceptions import PaymentError, PaymentErrorCode
from shop.core import divisions
from shop.core.money import format_money
from shop.core.postgresql.base import bind_on_server
from shop.core.text import parse_whole_number
from shop.models import Address


def _back(request: HttpRequest, default: str = "cart:detail") -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return HttpResponseRedirect(target)  # redirect() would reverse "next=abc" as a view name: a 500
    return redirect(default)


def cart_detail(request: HttpRequest) -> HttpResponse:
    cart = services.cart_for(user=request.user, session=request.session)
    summary = services.cart_summary(cart=cart)
    # The estimator's province: chosen from the same national list as addresses (by code; a
    # name such as 新疆 is taken too), else the default address's.
    chosen = divisions.province_find(request.GET.get("province", "")[:30])
    if chosen is None and request.user.is_authenticated:
        default = Address.objects.filter(user=request.user, is_default=True).first()
        chosen = divisions.province_find(default.province_code or default.province) if default else None
    province = chosen.name if chosen else ""
    totals = None
    if summary.lines:
        totals = services.checkout_totals(
            summary=summary, province=province, shipping_method="standard", insured=False, customer=request.user
        )
    return render(
        request,
        "cart/cart.html",
        {
            "summary": summary,
            "totals": totals,
            "province": province,
            "province_code": chosen.code if chosen else "",
            "quotes": shipping_quotes(weight_grams=summary.weight_grams, province=province, goods=summary.subtotal),
            "provinces": divisions.choices(divisions.provinces()),
        },
    )


@require_GET
def csrf_token(request: HttpRequest) -> JsonResponse:
    """A CSRF token for the add-to-cart form of cached catalogue pages (they carry none)."""
    return JsonResponse({"token": get_token(request)})


@require_POST
@bind_on_server()  # a purchase's statements: bound on the server and prepared (shop/core/postgresql)
def cart_add(request: HttpRequest) -> HttpResponse:
    try:
        quantity = services.parse_quantity(request.POST.get("quantity", "1"))
        variant_id = parse_whole_number(request.POST.get("variant", ""))
        if variant_id is None:
            raise ValueError("no variant")
        services.cart_add_for(user=request.user, session=request.session, variant_id=variant_id, quantity=quantity)
    except ValueError:
        messages.error(request, _("Choose a product option first."))
    except CartError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Added to your cart."))
        if request.POST.get("buy_now"):
            return redirect("cart:checkout")
    return _back(request)


@require_POST
def cart_update(request: HttpRequest, line_id: int) -> HttpResponse:
    cart = services.cart_for(user=request.user, session=request.session)
    if cart is None:
        return redirect("cart:detail")
    try:
        quantity = services.parse_quantity(request.POST.get("quantity"))
        services.cart_set_quantity(cart=cart, line_id=line_id, quantity=quantity)
    except CartError as exc:
        messages.error(request, exc.message)
    except cart.lines.model.DoesNotExist:
        messages.error(request, _("That line is no longer in your cart."))
    return redirect("cart:detail")


@require_POST
def cart_remove(request: HttpRequest, line_id: int) -> HttpResponse:
    cart = services.cart_for(user=request.user, session=request.session)
    if cart is not None:
        services.cart_remove(cart=cart, line_id=line_id)
    return redirect("cart:detail")


@require_POST
def cart_coupon(request: HttpRequest) -> HttpResponse:
    cart = services.cart_for(user=request.user, session=request.session)
    if cart is None:
        return redirect("cart:detail")
    if request.POST.get("remove"):
        services.cart_clear_coupon(cart=cart)
        return _back(request)
    try:
        services.cart_set_coupon(cart=cart, code=request.POST.get("code", "")[:40], customer=request.user)
    except OrderError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Coupon applied."))
    return _back(request)


@require_POST
def cart_accept_prices(request: HttpRequest) -> HttpResponse:
    cart = services.cart_for(user=request.user, session=request.session)
    if cart is not None:
        services.cart_accept_prices(cart=cart)
    return redirect("cart:detail")


def _fix_place(request: HttpRequest, address_id: int, back: str) -> HttpResponse:
    """An address written before the national lists, whose names matched none of their
    divisions: the customer chooses its province, city and district again, then comes back."""
    messages.warning(
        request,
        _("Choose the province, city and district of this address from the lists, then continue."),
    )
    return redirect(reverse("accounts:address_edit", args=[address_id]) + "?" + urlencode({"next": back}))


def choice_key(*, address, shipping_method: str, insured: bool, payment_method: str) -> str:
    """The choice a confirm page's totals were computed for. The page posts it back beside the
    choice itself; they differ when a radio was changed and "place order" pressed without the
    totals shown again (no JavaScript, or a quick click), and then the order is not placed."""
    return f"{address}:{shipping_method}:{1 if insured else 0}:{payment_method}"


def _confirm_page(request: HttpRequest, data=None, *, changed: bool = False) -> HttpResponse:
    """The one-page confirm (确认订单): the lines, the default address, the cheapest shipping,
    no insurance and the payment method already chosen, their totals and "place order" (GET).
    Another choice posts the same page back (`data`) and it is shown with that choice's
    totals; a choice that cannot be placed as it stands (a wallet short for its total, an
    invalid value) is shown with its reason and "place order" disabled."""
    # The lines with their cart, the address book and the wallet's balance (one statement).
    summary, addresses, balance = services.checkout_summary(user=request.user, session=request.session)
    cart = summary.cart
    if not summary.lines:
        messages.info(request, _("Your cart is empty."))
        return redirect("cart:detail")
    if not addresses:
        messages.info(request, _("Add a delivery address first."))
        return redirect(reverse("accounts:address_new") + "?next=" + reverse("cart:checkout"))
    request.cart_count = summary.quantity  # the header's count, without its own query
    default = next((a for a in addresses if a.is_default), addresses[0])
    # The fees of the address asked for (its province sets them), else the default's.
    wanted = parse_whole_number(data.get("address", "")) if data is not None else None
    address = next((a for a in addresses if a.pk == wanted), default)
    if data is not None and address.needs_place:
        return _fix_place(request, address.pk, reverse("cart:checkout"))
    quotes = shipping_quotes(weight_grams=summary.weight_grams, province=address.province, goods=summary.subtotal)
    cheapest = min(quotes, key=lambda q: q.fee)
    try:  # the least this cart costs: the default choice, and what the wallet must cover to be offered
        least = services.checkout_totals(
            summary=summary, province=address.province, shipping_method=cheapest.method, insured=False,
            customer=request.user,
        )  # fmt: skip
    except CartError:
        least = None
    wallet_balance = _wallet_balance(balance)
    offered = CheckoutChoices(
        addresses=addresses,
        quotes=quotes,
        wallet_balance=wallet_balance,
        least_total=least.total if least else None,
        shipping_initial=cheapest.method,
    )
    # Nothing posted: the choices offered, as chosen beforehand (no form, nothing to validate).
    form = offered if data is None else CheckoutForm(data, offered=offered)
    totals, choice = None, None
    if data is None:
        choice = {
            "address": address.pk,
            "shipping_method": cheapest.method,
            "insured": False,
            "payment_method": offered.payment_initial,
            "note": "",
        }
        totals = least  # the default choice is the least: one computation of the totals
    elif form.is_valid():
        choice = form.cleaned_data
        if (choice["shipping_method"], choice["insured"]) == (cheapest.method, False):
            totals = least
        else:
            try:
                totals = services.checkout_totals(
                    summary=summary, province=address.province, shipping_method=choice["shipping_method"],
                    insured=choice["insured"], customer=request.user,
                )  # fmt: skip
            except CartError as exc:
                form.add_error(None, exc.message)
        short = wallet_balance is not None and totals is not None and wallet_balance < totals.total
        if short and choice["payment_method"] == "wallet":
            # Dearer than the least (another address, express, insurance): the wallet is short
            # for this choice; say so here rather than place an order it cannot pay.
            form.add_error("payment_method", wallet_short_message(balance=wallet_balance, total=totals.total))
    if changed:
        messages.warning(request, _("You changed your choices: check the total below, then place the order."))
    can_place = totals is not None and not form.errors
    return render(
        request,
        "cart/checkout.html",
        {
            "form": form,
            "summary": summary,
            "cart": cart,
            "address": address,
            "quotes": quotes,
            "insurance": insurance_fee(summary.subtotal),
            "rate": float(settings.SHIPPING_INSURANCE_RATE) * 1000,
            "totals": totals,
            "choice": choice,
            "shown": choice_key(**{k: choice[k] for k in CHOICE_FIELDS}) if can_place else "",
            # A string: a Decimal in a template is localized ("1,234.50" with separators on).
            "shown_total": str(totals.total) if can_place else "",
            "can_place": can_place,
            "invoice": data is not None and data.get("invoice") == "1",
        },
    )


CHOICE_FIELDS = ("address", "shipping_method", "insured", "payment_method")


@login_required
@bind_on_server()
def checkout(request: HttpRequest) -> HttpResponse:
    """The one-page confirm: GET shows it with the defaults chosen; POST shows it again for
    another choice (the page's "update" button, or its script on a change). Its "place order"
    button posts the same form to checkout_place."""
    return _confirm_page(request, request.POST if request.method == "POST" else None)


def _wallet_balance(balance: Decimal | None) -> Decimal | None:
    """The customer's wallet balance (`balance`, None: no wallet) when the wallet is offered; else None."""
    if "wallet" not in settings.PAYMENT_PROVIDERS:
        return None
    return Decimal("0.00") if balance is None else balance


@login_required
@require_POST
@ratelimit(key="user", rate=settings.RATELIMIT_PLACE_ORDER, method="POST", block=True)
@bind_on_server()
def checkout_place(request: HttpRequest) -> HttpResponse:
    data = request.POST
    insured = data.get("insured") == "1"
    shown = data.get("shown")
    if shown is not None and shown != choice_key(
        address=data.get("address", ""), shipping_method=data.get("shipping_method", ""), insured=insured,
        payment_method=data.get("payment_method", ""),
    ):  # fmt: skip
        # Not the choice whose totals the customer saw: show them this one's, place nothing.
        return _confirm_page(request, data, changed=True)
    try:
        address_id = parse_whole_number(data.get("address", ""))
        if address_id is None:
            raise ValueError("no address")
        order = services.checkout_place_order(
            cart_token=data.get("cart", ""),
            customer=request.user,
            address_id=address_id,
            shipping_method=data.get("shipping_method", ""),
            insured=insured,
            payment_method=data.get("payment_method", ""),
            expected_total=services.parse_shown_total(data.get("total")),
            note=data.get("note", ""),
        )
    except (CartError, OrderError) as exc:
        if exc.code == CartErrorCode.ADDRESS_NEEDS_PLACE:
            return _fix_place(request, address_id, reverse("cart:checkout"))
        if exc.code in (CartErrorCode.TOTAL_CHANGED, CartErrorCode.TOTAL_NOT_SHOWN):
            # The confirm page again, with the total as it is now: nothing was placed.
            messages.warning(request, exc.message)
            return _confirm_page(request, data)
        messages.error(request, exc.message)
        return redirect("cart:detail")
    except ValueError:
        messages.error(request, _("Choose a delivery address."))
        return redirect("cart:checkout")
    completed = _checkout_complete(request, order)
    if completed and data.get("invoice") == "1":
        # The invoice's details are after-sales' form (an app above cart): straight to it, for
        # the order just placed; it is kept until the order completes, then issued.
        return redirect("aftersales:invoice_request", order_number=order.number)
    return redirect(order)


def _checkout_complete(request: HttpRequest, order: Order) -> bool:
    """Cash on delivery and the wallet finish with placing (services.checkout_complete_order);
    a gateway's order, or one the wallet could not pay, lands on the order page with its pay
    box. The message says which. False when the one step failed: the customer must see the
    payment page first (the invoice form is linked from it)."""
    n = order.number
    try:
        payment = services.checkout_complete_order(order=order, customer=request.user)
    except PaymentError as exc:
        if exc.code == PaymentErrorCode.INSUFFICIENT_BALANCE:
            messages.warning(
                request,
                _(
                    "Order %(n)s is placed but not paid: your wallet was short. %(reason)s "
                    "Top up your wallet and pay, or choose another way to pay below."
                )
                % {"n": n, "reason": exc.message},
            )
        else:
            messages.error(request, exc.message)
        return False
    if payment is None:  # nothing paid here (a gateway, or a replay): how the order stands now
        order.refresh_from_db()
    if order.status == Order.Status.PENDING_PAYMENT:
        messages.success(request, _("Order %(n)s placed. Please pay to confirm it.") % {"n": n})
    elif order.status in (Order.Status.CANCELLED, Order.Status.CLOSED):  # a replay, long after
        messages.info(request, _("Order %(n)s: %(status)s.") % {"n": n, "status": order.get_status_display()})
    elif order.total == 0:  # paid as it was placed: no payment, whatever the method chosen
        messages.success(request, _("Order %(n)s placed: there is nothing to pay. Thank you!") % {"n": n})
    elif order.payment_method == "cod":
        messages.success(
            request, _("Order %(n)s placed. Cash on delivery: pay the courier when the parcel arrives.") % {"n": n}
        )
    elif order.payment_method == "wallet":
        messages.success(request, _("Order %(n)s placed and paid from your wallet. Thank you!") % {"n": n})
    else:
        messages.success(request, _("Order %(n)s placed and paid. Thank you!") % {"n": n})
    return True


def _own_order(request: HttpRequest, number: str) -> Order:
    try:
        return order_selectors.order_of(customer=request.user, number=number)
    except Order.DoesNotExist as exc:
        raise Http404(_("No such order.")) from exc


@login_required
@require_POST
def order_buy_again(request: HttpRequest, number: str) -> HttpResponse:
    """A finished order's lines back into the cart, at today's prices."""
    order = _own_order(request, number)
    cart = services.cart_open(user=request.user, session=request.session)
    try:
        result = services.cart_buy_again(cart=cart, order=order)
    except CartError as exc:
        messages.error(request, exc.message)
        return redirect(order)
    if result.added or result.fewer:
        messages.success(request, _("The items of order %(n)s are in your cart, at today's prices.") % {"n": number})
    if result.fewer:
        messages.warning(
            request, _("Fewer than ordered, as many as we have: %(names)s.") % {"names": ", ".join(result.fewer)}
        )
    if result.unavailable:
        messages.warning(request, _("No longer sold: %(names)s.") % {"names": ", ".join(result.unavailable)})
    if result.out_of_stock:
        messages.warning(request, _("Out of stock: %(names)s.") % {"names": ", ".join(result.out_of_stock)})
    if not (result.added or result.fewer):
        messages.error(request, _("Nothing of order %(n)s could be put in your cart.") % {"n": number})
        return redirect(order)
    return redirect("cart:detail")


@login_required
def order_change_address(request: HttpRequest, number: str) -> HttpResponse:
    """GET: the customer's addresses, each with the shipping fee it would cost. POST: deliver the
    order (not yet packed) there; the fee difference is settled by the service."""
    order = _own_order(request, number)
    addresses = list(Address.objects.filter(user=request.user))
    form = AddressChangeForm(request.POST or None, addresses=addresses)
    if request.method == "POST" and form.is_valid():
        chosen = next(a for a in addresses if a.pk == form.cleaned_data["address"])
        if chosen.needs_place:
            return _fix_place(request, chosen.pk, reverse("cart:change_address", args=[number]))
        try:
            change = services.order_change_address(
                order_id=order.pk, customer=request.user, address_id=form.cleaned_data["address"]
            )
        except CartError as exc:
            messages.error(request, exc.message)
            return redirect("cart:change_address", number=number)
        messages.success(request, _("Order %(n)s will be delivered to the new address.") % {"n": number})
        if change.refunded:
            messages.info(
                request,
                _("Shipping costs less: %(amount)s is refunded to your payment.")
                % {"amount": format_money(change.refunded)},
            )
        if change.from_wallet:
            messages.info(
                request,
                _("Shipping costs %(amount)s more, paid from your wallet.")
                % {"amount": format_money(change.from_wallet)},
            )
        if change.cash_due is not None and change.difference:
            messages.info(
                request,
                _("The courier will collect %(amount)s on delivery.") % {"amount": format_money(change.cash_due)},
            )
        if order.status == Order.Status.PENDING_PAYMENT and change.difference:
            messages.info(
                request, _("The order total is now %(amount)s.") % {"amount": format_money(change.order.total)}
            )
        return redirect(order)
    changeable = services.order_address_changeable(order=order)
    options = []
    if changeable:
        for address in addresses:
            try:
                fee = services.order_shipping_quote(order=order, province=address.province)
            except CartError:
                fee = None
            difference = Decimal("0.00") if fee is None else fee - order.shipping_fee
            options.append(
                {
                    "address": address,
                    "fee": fee,
                    "more": max(difference, Decimal("0.00")),
                    "less": max(-difference, Decimal("0.00")),
                    "current": address.snapshot() == order.snapshot(),
                }
            )
    return render(
        request,
        "cart/change_address.html",
        {"order": order, "form": form, "options": options, "changeable": changeable},
    )
