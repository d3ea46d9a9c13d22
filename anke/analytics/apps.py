from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "anke.analytics"
    label = "analytics"
