from django.urls import path

from cart import views

app_name = "cart"

urlpatterns = [
    path("cart/", views.cart_detail, name="detail"),
    path("cart/add/", views.cart_add, name="add"),
    path("cart/csrf/", views.csrf_token, name="csrf"),
    path("cart/line/<int:line_id>/", views.cart_update, name="update"),
    path("cart/line/<int:line_id>/remove/", views.cart_remove, name="remove"),
    path("cart/coupon/", views.cart_coupon, name="coupon"),
    path("cart/accept-prices/", views.cart_accept_prices, name="accept_prices"),
    path("checkout/", views.checkout, name="checkout"),
    path("checkout/place/", views.checkout_place, name="place"),
    # After the order: its lines back into the cart; its delivery address while not packed.
    path("cart/buy-again/<str:number>/", views.order_buy_again, name="buy_again"),
    path("checkout/change-address/<str:number>/", views.order_change_address, name="change_address"),
]
