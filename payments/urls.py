from django.urls import path

from payments import views

app_name = "payments"

urlpatterns = [
    path("pay/<str:number>/", views.order_pay, name="pay"),
    path("notify/<str:provider>/", views.notify, name="notify"),
    path("return/", views.payment_return, name="return"),
    path("sandbox/<str:reference>/", views.sandbox_page, name="sandbox_page"),
]
