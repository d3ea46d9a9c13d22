from django.urls import path

from anke.service import views

app_name = "service"
urlpatterns = [
    path("tickets/", views.ticket_list, name="list"),
    path("customers/<uuid:customer_pk>/tickets/new/", views.ticket_list, name="create"),
    path("tickets/<uuid:pk>/edit/", views.ticket_list, name="edit"),
]
