from django.apps import AppConfig


class StorageConfig(AppConfig):
    """Where objects live: storage keys, object writes, signed URLs, and the local stand-in for S3."""

    name = "storage"
    label = "deepread_storage"
