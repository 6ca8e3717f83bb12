from django.conf import settings
from django.db import router

from shop.core.prepared import ServerBoundRead


def _open_lines_of(marker: int):
    from django.db.models import Sum

    from cart.models import CartLine

    # One row (the open cart's state is the one group) or none; the sum as aggregate() gives it.
    lines = CartLine.objects.filter(cart__state="open", cart__user=marker)
    return lines.values("cart__state").annotate(n=Sum("quantity")).values_list("n")


# A signed-in customer's cart count, read on every page they see but the confirm page: building
# and compiling the aggregate cost about 0.55 ms of the 0.65 ms the count took (CPU, in-process),
# so it is compiled once per process, as the signed-in user's row is (shop.accounts.backends),
# for the same reasons (ServerBoundRead). Still read on every page.
_CUSTOMERS_CART_COUNT = ServerBoundRead("shop_customers_cart_count", _open_lines_of)


def _customers_cart_count(user) -> int:
    from cart.models import CartLine

    using = router.db_for_read(CartLine)  # where the queryset read it (the primary: cart data)
    rows = _CUSTOMERS_CART_COUNT.rows(user.pk, using=using)
    return (rows[0][0] if rows else None) or 0


def shop(request) -> dict:
    """Site-wide template values. The cart count costs a query only for visitors with a
    session: anonymous first visits (the cached pages) never touch the database here."""
    context = {"SHOP_CURRENCY": settings.SHOP_CURRENCY, "SITE_URL": settings.SITE_URL, "cart_count": 0}
    known = getattr(request, "cart_count", None)  # a page that read the cart anyway (checkout) set it
    if known is not None:
        context["cart_count"] = known
    elif settings.SESSION_COOKIE_NAME in request.COOKIES and hasattr(request, "user"):
        from django.db.models import Sum

        from cart.models import CartLine

        user = request.user
        if user.is_authenticated:
            context["cart_count"] = _customers_cart_count(user)
            return context
        if not request.session.get("cart_token"):
            return context
        lines = CartLine.objects.filter(cart__state="open")
        lines = lines.filter(cart__token=request.session["cart_token"], cart__user__isnull=True)
        context["cart_count"] = lines.aggregate(n=Sum("quantity"))["n"] or 0
    return context
