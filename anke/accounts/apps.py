from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "anke.accounts"
    label = "accounts"

    def ready(self):
        from anke.accounts import signals  # noqa: F401  (connects the audit receivers)
