from django.urls import path

from orders import views

app_name = "orders"

urlpatterns = [
    path("", views.order_list, name="list"),
    path("<str:number>/", views.order_detail, name="detail"),
    path("<str:number>/cancel/", views.order_cancel_view, name="cancel"),
    path("<str:number>/confirm-receipt/", views.order_confirm_receipt_view, name="confirm_receipt"),
    path("<str:number>/remove/", views.order_hide_view, name="hide"),
]
