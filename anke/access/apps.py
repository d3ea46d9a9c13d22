from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "anke.access"
    label = "access"
