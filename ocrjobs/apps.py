from django.apps import AppConfig


class OcrJobsConfig(AppConfig):
    """The OCR jobs app: recognition later, durably: jobs and their pages, the job API under /api/v1, the
    dashboard, the local upload endpoints and the worker tasks."""

    name = "ocrjobs"
    verbose_name = "OCR jobs"
    default_auto_field = "django.db.models.BigAutoField"
