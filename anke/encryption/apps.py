from django.apps import AppConfig


class EncryptionConfig(AppConfig):
    name = "anke.encryption"
    label = "encryption"
