from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "anke.access"
    label = "access"

    def ready(self):
        from anke.access import masking  # noqa: F401 (connects the guard against saving masks)
