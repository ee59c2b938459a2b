from django.apps import AppConfig


class ModesConfig(AppConfig):
    name = "modes"
    default_auto_field = "django.db.models.BigAutoField"
