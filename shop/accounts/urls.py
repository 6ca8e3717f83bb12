from django.contrib.auth import views as auth_views
from django.urls import path

from shop.accounts import favourites, views

app_name = "accounts"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("register/", views.register, name="register"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("profile/", views.profile, name="profile"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("password/reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password/reset/sent/", views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password/reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("favourites/", favourites.favourite_list, name="favourites"),
    path("favourites/<int:product_id>/add/", favourites.favourite_add_view, name="favourite_add"),
    path("favourites/<int:product_id>/remove/", favourites.favourite_remove_view, name="favourite_remove"),
    path("addresses/", views.address_list, name="addresses"),
    path("addresses/new/", views.address_edit, name="address_new"),
    path("addresses/<int:pk>/", views.address_edit, name="address_edit"),
    path("addresses/<int:pk>/delete/", views.address_delete, name="address_delete"),
    path("addresses/divisions/<str:code>/", views.divisions_of, name="divisions"),
]
