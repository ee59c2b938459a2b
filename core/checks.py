"""`manage.py check --deploy`: refuse the embedded parts in production (DEBUG off) unless they were asked for.

The embedded defaults make one machine work with nothing installed; in a deployment each of them is a mistake
that shows only under load or on the second machine: SQLite (one writer, one machine), the filesystem broker (one
machine), local storage (files only on this disk), the file cache (per machine: burst limits do not add up) and a
secret key generated into var/ (each machine signs URLs with its own). Name any of them in
DEEPREAD_EMBEDDED_OK (comma-separated: sqlite, filesystem-broker, local-storage, file-cache, secret-file) to keep
it deliberately, for a single-machine deployment.
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from core.env import env_list

# Each embedded part has its own check id, whatever else is configured: deepread.E001 is always SQLite.
EMBEDDED_CHECK_IDS = {
    "sqlite": "deepread.E001",
    "filesystem-broker": "deepread.E002",
    "local-storage": "deepread.E003",
    "file-cache": "deepread.E004",
    "secret-file": "deepread.E005",
}


def _embedded_parts() -> list[tuple[str, str, str]]:
    """The embedded parts in use, as (name in DEEPREAD_EMBEDDED_OK, what is configured, how to replace it)."""
    parts = []
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        parts.append(("sqlite", "SQLite is configured", "set DATABASE_URL=postgres://…"))
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        parts.append(("filesystem-broker", "the filesystem broker is configured", "set CELERY_BROKER_URL=redis://…"))
    if settings.DEEPREAD_STORAGE == "local":
        parts.append(("local-storage", "local file storage is configured", "set DEEPREAD_STORAGE=s3 and AWS_*"))
    if not settings.REDIS_URL:
        parts.append(("file-cache", "the cache is files on this machine", "set REDIS_URL=redis://…"))
    if not settings.SECRET_KEY_FROM_ENV:
        parts.append(("secret-file", "the secret key was generated into var/", "set DJANGO_SECRET_KEY"))
    return parts


@register(Tags.security, deploy=True)
def embedded_parts_in_production(app_configs=None, **kwargs) -> list:
    """Errors for each embedded part in production not allowed by DEEPREAD_EMBEDDED_OK (ids in EMBEDDED_CHECK_IDS),
    a weak DJANGO_SECRET_KEY (deepread.E010), and a warning for the SSRF guard turned off (deepread.W001)."""
    if settings.DEBUG:
        return []
    allowed = set(env_list("DEEPREAD_EMBEDDED_OK"))
    errors: list = []
    for name, what, fix in _embedded_parts():
        if name not in allowed:
            errors.append(
                Error(
                    f"Production mode (DJANGO_DEBUG off), but {what}.",
                    hint=f"{fix}, or keep it on purpose with DEEPREAD_EMBEDDED_OK={name}.",
                    id=EMBEDDED_CHECK_IDS[name],
                )
            )
    key = settings.SECRET_KEY
    if settings.SECRET_KEY_FROM_ENV and (len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure")):
        errors.append(
            Error(
                "DJANGO_SECRET_KEY is short or a placeholder.",
                hint="Use 50 or more random characters.",
                id="deepread.E010",
            )
        )
    if settings.DEEPREAD_URL_FETCH_ALLOW_PRIVATE:
        errors.append(
            Warning(
                "DEEPREAD_URL_FETCH_ALLOW_PRIVATE is on: /v1/ocr will fetch URLs inside your network.",
                hint="It exists for tests; unset it in production.",
                id="deepread.W001",
            )
        )
    return errors
