from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "anke.web"
    label = "web"
