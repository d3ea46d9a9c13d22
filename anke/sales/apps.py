from django.apps import AppConfig


class SalesConfig(AppConfig):
    name = "anke.sales"
    label = "sales"
