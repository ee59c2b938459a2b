from django.apps import AppConfig


class ModesConfig(AppConfig):
    """The modes app: built-in and per-account custom OCR modes."""

    name = "modes"
    default_auto_field = "django.db.models.BigAutoField"
