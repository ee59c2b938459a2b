from django.apps import AppConfig


class OcrJobsConfig(AppConfig):
    """The OCR jobs app: jobs, pages, storage, the job and /v1/ocr APIs, the dashboard and the worker tasks."""

    name = "ocrjobs"
    verbose_name = "OCR jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the deployment checks."""
        from deepread import checks  # noqa: F401 - registers the deployment checks
