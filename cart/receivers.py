from cart import services


def merge_cart_on_login(sender, request, user, **kwargs) -> None:
    services.cart_merge_on_login(user=user, session=request.session)
