"""Role administration routes (mounted at ``/roles/``)."""

from django.urls import path

from anke.access import views

app_name = "roles"
urlpatterns = [
    path("", views.role_list, name="list"),
    path("new/", views.role_create, name="create"),
    path("<int:pk>/", views.role_detail, name="detail"),
    path("<int:pk>/edit/", views.role_edit, name="edit"),
    path("<int:pk>/delete/", views.role_delete, name="delete"),
]
