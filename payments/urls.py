from django.conf import settings
from django.urls import path

from payments import views

app_name = "payments"

urlpatterns = [
    path("pay/<str:number>/", views.order_pay, name="pay"),
    path("notify/<str:provider>/", views.notify, name="notify"),
    path("return/", views.payment_return, name="return"),
    path("abandoned/", views.payment_abandoned, name="abandoned"),
]

# The sandbox gateway's hosted page is a test stand-in: unrouted unless enabled (DEBUG, or
# SANDBOX_GATEWAY_ENABLED). The view checks the setting again on every request.
if settings.SANDBOX_GATEWAY_ENABLED:
    urlpatterns.append(path("sandbox/<str:reference>/", views.sandbox_page, name="sandbox_page"))
