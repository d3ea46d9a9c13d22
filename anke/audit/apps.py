from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "anke.audit"
    label = "audit"
