"""Service routes: the ticket list and the tickets of a customer."""

from django.urls import path

from anke.service import views

app_name = "service"
urlpatterns = [
    path("tickets/", views.ticket_list, name="list"),
    path("customers/<uuid:customer_pk>/tickets/new/", views.ticket_create, name="create"),
    path("tickets/<uuid:pk>/edit/", views.ticket_edit, name="edit"),
    path("tickets/<uuid:pk>/delete/", views.ticket_delete, name="delete"),
]
