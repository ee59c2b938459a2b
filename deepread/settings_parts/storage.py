"""Where uploads and results live: local files under var/media/ (default) or S3 (DEEPREAD_STORAGE=s3, AWS_*)."""

from __future__ import annotations

from pathlib import Path

from core.env import env_choice, env_float, env_int, env_str
from deepread.settings_parts.base import VAR_DIR

DEEPREAD_STORAGE = env_choice("DEEPREAD_STORAGE", "local", ["local", "s3"])
MEDIA_ROOT = Path(env_str("DEEPREAD_MEDIA_ROOT", str(VAR_DIR / "media")))
if DEEPREAD_STORAGE == "s3":
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"file_overwrite": True, "default_acl": None, "querystring_auth": True},
    }
    AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME", "deepread")
    AWS_S3_ENDPOINT_URL = env_str("AWS_S3_ENDPOINT_URL", "") or None
    AWS_S3_REGION_NAME = env_str("AWS_S3_REGION_NAME", "") or None
    AWS_ACCESS_KEY_ID = env_str("AWS_ACCESS_KEY_ID", "") or None
    AWS_SECRET_ACCESS_KEY = env_str("AWS_SECRET_ACCESS_KEY", "") or None
    AWS_S3_SIGNATURE_VERSION = "s3v4"
    AWS_S3_ADDRESSING_STYLE = env_str("AWS_S3_ADDRESSING_STYLE", "path")
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
DEEPREAD_SIGNED_URL_TTL_S = env_int("DEEPREAD_SIGNED_URL_TTL_S", 3600, minimum=1)
# S3 uploads do not pass through DeepRead: a sweep every few seconds finds them (and the optional bucket
# notification hook, POST /storage/s3-events with X-DeepRead-Hook-Secret, starts them at once).
DEEPREAD_UPLOAD_SWEEP_S = env_float("DEEPREAD_UPLOAD_SWEEP_S", 2.0)
DEEPREAD_S3_HOOK_SECRET = env_str("DEEPREAD_S3_HOOK_SECRET", "")
