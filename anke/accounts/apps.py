from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "anke.accounts"
    label = "accounts"
