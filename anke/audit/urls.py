"""Audit viewer routes: the trail, its export, and one customer's access history."""

from django.urls import path

from anke.audit import views

app_name = "audit"
urlpatterns = [
    path("", views.event_list, name="list"),
    path("export/", views.export_events, name="export"),
    path("customers/<uuid:customer_id>/", views.customer_history, name="customer"),
]
