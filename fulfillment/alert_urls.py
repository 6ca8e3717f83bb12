"""Stock alerts ("tell me when it is back"), mounted at /stock-alerts/ by shop.urls: fulfillment's
own URLs sit under /orders/, where a path like "stock-alerts/" would be read as an order number."""

from django.urls import path

from fulfillment import views

app_name = "stock_alerts"

urlpatterns = [
    path("", views.stock_alert_create, name="create"),
    path("<int:pk>/cancel/", views.stock_alert_cancel, name="cancel"),
]
