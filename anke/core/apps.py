from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "anke.core"
    label = "core"
