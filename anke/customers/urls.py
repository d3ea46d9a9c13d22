"""Customer routes; the detail page, which spans apps, is added by anke.web.urls."""

from django.urls import path

from anke.customers import views

app_name = "customers"
urlpatterns = [
    path("", views.customer_list, name="list"),
    path("new/", views.customer_create, name="create"),
    path("<uuid:pk>/edit/", views.customer_edit, name="edit"),
    path("<uuid:pk>/delete/", views.customer_delete, name="delete"),
    path("<uuid:customer_pk>/contacts/new/", views.contact_create, name="contact_create"),
    path("contacts/<uuid:pk>/edit/", views.contact_edit, name="contact_edit"),
    path("contacts/<uuid:pk>/delete/", views.contact_delete, name="contact_delete"),
]
