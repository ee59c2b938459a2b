from django.apps import AppConfig


class OcrConfig(AppConfig):
    """Recognition now: the engine runtime of a process, admission, and the synchronous `/v1/ocr` API."""

    name = "ocr"
