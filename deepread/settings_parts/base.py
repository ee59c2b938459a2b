"""Django's own settings: paths, secrets, security headers, apps, middleware, templates, static files, logging.

VAR_DIR (DEEPREAD_VAR_DIR, default var/ beside the code) holds everything the embedded set-up writes; the other
parts import it from here."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.management.utils import get_random_secret_key

from core.env import env_bool, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("DEEPREAD_VAR_DIR", str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _embedded_secret_key() -> str:
    """A per-installation key kept under var/, so signed URLs survive restarts without any set-up."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(get_random_secret_key())
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY_FROM_ENV = bool(os.environ.get("DJANGO_SECRET_KEY"))
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or _embedded_secret_key()
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")
CSRF_FAILURE_VIEW = "deepread.urls.csrf_failure"
# Behind TLS (a proxy that terminates it and sets X-Forwarded-Proto): secure cookies, HSTS and a redirect to https.
# Off by default so that `make run` works on http://127.0.0.1.
DEEPREAD_HTTPS = env_bool("DEEPREAD_HTTPS", False)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = DEEPREAD_HTTPS
SECURE_SSL_REDIRECT = DEEPREAD_HTTPS
SECURE_HSTS_SECONDS = 31_536_000 if DEEPREAD_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = DEEPREAD_HTTPS
SECURE_HSTS_PRELOAD = DEEPREAD_HTTPS
if DEEPREAD_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# Where clients reach this server; used for absolute signed URLs when a request is not at hand.
DEEPREAD_PUBLIC_URL = env_str("DEEPREAD_PUBLIC_URL", "").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "accounts",
    "modes",
    "core",
    "storage",
    "ocr",
    "ocrjobs",
    "axes",  # log-in throttling (settings_parts/accounts.py)
]

MIDDLEWARE = [
    "core.bodylimit.RequestBodyLimitMiddleware",  # first: nothing reads a body before its cap is checked
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "deepread.middleware.ContentSecurityPolicyMiddleware",
    "deepread.middleware.DatabaseUnavailableMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "deepread.urls"
WSGI_APPLICATION = "deepread.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("DEEPREAD_LOG_LEVEL", "INFO")},
    "loggers": {"RapidOCR": {"level": "WARNING"}, "httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
}
