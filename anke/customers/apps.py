from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "anke.customers"
    label = "customers"
