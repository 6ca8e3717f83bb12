from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CartConfig(AppConfig):
    name = "cart"
    verbose_name = _("Cart")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from cart import receivers

        user_logged_in.connect(receivers.merge_cart_on_login, dispatch_uid="cart-merge-on-login")
