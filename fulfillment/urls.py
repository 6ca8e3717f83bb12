from django.urls import path

from fulfillment import views

app_name = "fulfillment"

urlpatterns = [
    path("<str:number>/tracking/", views.tracking, name="tracking"),
]
