from django.conf import settings


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
        lines = CartLine.objects.filter(cart__state="open")
        if user.is_authenticated:
            lines = lines.filter(cart__user=user)
        elif request.session.get("cart_token"):
            lines = lines.filter(cart__token=request.session["cart_token"], cart__user__isnull=True)
        else:
            return context
        context["cart_count"] = lines.aggregate(n=Sum("quantity"))["n"] or 0
    return context
