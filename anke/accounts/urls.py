"""User administration routes, under ``/users/``."""

from django.urls import path

from anke.accounts import views

app_name = "accounts"
urlpatterns = [
    path("", views.user_list, name="list"),
    path("<int:pk>/", views.user_detail, name="detail"),
    path("<int:pk>/edit/", views.user_edit, name="edit"),
    path("<int:pk>/deactivate/", views.user_deactivate, name="deactivate"),
    path("<int:pk>/reactivate/", views.user_reactivate, name="reactivate"),
]
