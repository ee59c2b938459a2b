from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The shared kernel. As an app it only registers the deployment checks (`manage.py check --deploy`)."""

    name = "core"
    label = "deepread_core"

    def ready(self) -> None:
        """Register the deployment checks."""
        from core import checks  # noqa: F401 - registers the deployment checks
