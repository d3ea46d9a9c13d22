from django.apps import AppConfig


class ServiceConfig(AppConfig):
    name = "anke.service"
    label = "service"
