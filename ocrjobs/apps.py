from django.apps import AppConfig


class OcrJobsConfig(AppConfig):
    name = "ocrjobs"
    verbose_name = "OCR jobs"
    default_auto_field = "django.db.models.BigAutoField"
