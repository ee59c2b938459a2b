from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """The accounts app: users, tiers, API keys and usage counters."""

    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"
