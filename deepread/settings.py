"""DeepRead settings: one module, read from the environment.

With nothing set, DeepRead runs fully embedded: SQLite (WAL) under var/, kombu's filesystem broker under var/,
local file storage under var/ and the RapidOCR CPU engine. Production changes only environment variables:
DATABASE_URL, CELERY_BROKER_URL, REDIS_URL, DEEPREAD_STORAGE=s3 with the AWS_* variables, DEEPREAD_ENGINE=vllm.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

from core.env import env_bool, env_choice, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
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

# --- database -------------------------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'deepread.sqlite3'}")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web and worker processes read while one writes; IMMEDIATE makes every transaction take the
    # write lock up front, so the quota's conditional UPDATE never hits a lock upgrade deadlock.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;",
    }
    # A file, not shared-cache memory, so tests see SQLite's real locking between threads and processes.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
elif env_str("DEEPREAD_WEB_SERVER", "") == "asgi" and DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # Under ASGI each request's sync code runs on a thread of its own, so a persistent connection per thread would
    # outlive its thread (Django's docs: disable them under ASGI). The web process shares a pool instead.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env_int("DEEPREAD_DB_POOL_SIZE", 20, minimum=1),
        "timeout": 10,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
# Django's four validators, plus one that refuses a password of only spaces; the sign-up and reset forms show
# their help text (accounts/passwords.py), so what is said is what is checked.
DEEPREAD_PASSWORD_MIN_LENGTH = env_int("DEEPREAD_PASSWORD_MIN_LENGTH", 10, minimum=8)
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email",)},
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": DEEPREAD_PASSWORD_MIN_LENGTH},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "accounts.passwords.NotBlankValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
DEEPREAD_PREVIEWS_PER_MINUTE = env_int("DEEPREAD_PREVIEWS_PER_MINUTE", 20, minimum=1)  # mode previews per account
DEEPREAD_ACCOUNT_MAILS_PER_HOUR = env_int("DEEPREAD_ACCOUNT_MAILS_PER_HOUR", 5, minimum=1)  # per address
PASSWORD_RESET_TIMEOUT = env_int("DEEPREAD_PASSWORD_RESET_TIMEOUT_S", 3 * 3600, minimum=60)

# Log-in throttling (django-axes): an e-mail address from one client address is locked for a cool-down after
# DEEPREAD_LOGIN_FAILURE_LIMIT wrong passwords, on the dashboard's log-in and /admin/ alike. API keys never go
# through authenticate() and are unaffected.
INSTALLED_APPS += ["axes"]
MIDDLEWARE.append("axes.middleware.AxesMiddleware")
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_ENABLED = env_bool("DEEPREAD_LOGIN_THROTTLE", True)
AXES_FAILURE_LIMIT = env_int("DEEPREAD_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_float("DEEPREAD_LOGIN_COOLOFF_MIN", 15.0) / 60  # hours, as axes reads a number
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "accounts.auth.axes_username"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # lockouts are logged by accounts.auth.locked_out; no banner on every start
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_CALLABLE = "accounts.auth.locked_out"
AXES_CLIENT_IP_CALLABLE = "accounts.auth.client_ip"
# Proxies in front of DeepRead that append to X-Forwarded-For (0: the peer's address is the client's).
DEEPREAD_PROXY_COUNT = env_int("DEEPREAD_PROXY_COUNT", 0, minimum=0)

# E-mail (password reset, sign-up confirmation): written as files under var/mail/ unless a server is configured,
# by EMAIL_URL (dj-email-url: smtp://user:pass@host:25, submission://…:587 for STARTTLS, smtps://… for TLS,
# console://) or the usual
# EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS, EMAIL_USE_SSL.
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "DeepRead <deepread@localhost>")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
if env_str("EMAIL_URL", ""):
    import dj_email_url

    _email = dj_email_url.parse(env_str("EMAIL_URL", ""))
    if "EMAIL_BACKEND" not in _email:
        raise ImproperlyConfigured(f"EMAIL_URL: unknown scheme; use one of {', '.join(dj_email_url.SCHEMES)}.")
    EMAIL_BACKEND = _email["EMAIL_BACKEND"]
    EMAIL_HOST, EMAIL_PORT = _email["EMAIL_HOST"], _email["EMAIL_PORT"]
    EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_USER"], _email["EMAIL_HOST_PASSWORD"]
    EMAIL_USE_TLS, EMAIL_USE_SSL = _email["EMAIL_USE_TLS"], _email["EMAIL_USE_SSL"]
    EMAIL_FILE_PATH = _email["EMAIL_FILE_PATH"] or str(VAR_DIR / "mail")
elif env_str("EMAIL_HOST", ""):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env_str("EMAIL_HOST", "")
    EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "mail")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"

# --- cache (burst limiter, sessions in production) ---------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    # Shared by every gunicorn and worker process on the machine, unlike the per-process locmem cache.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- storage --------------------------------------------------------------------------------------------------
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

# --- Celery ---------------------------------------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport, publishing atomically (deepread/broker.py).
    CELERY_BROKER_TRANSPORT = "deepread.broker:Transport"
    for _sub in ("queue", "processed", "control"):
        (BROKER_DIR / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": env_float("DEEPREAD_BROKER_POLL_S", 0.05),
    }
else:
    # Redis: a message whose worker died comes back after the visibility timeout. The heartbeat of a running task
    # keeps its own message invisible (ocrjobs/tasks.py), so the timeout can be short; kombu looks for messages to
    # bring back every `unacked_restore_interval` × `unacked_restore_throttle` s (100 s by default): every 5 s here.
    # RabbitMQ (amqp://) ignores these: it requeues a dead consumer's unacknowledged messages as its connection drops.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("DEEPREAD_VISIBILITY_TIMEOUT_S", 40, minimum=5),
        "unacked_restore_interval": 5,
        "unacked_restore_throttle": 1,
    }
CELERY_RESULT_BACKEND = None  # the Job row is the truth
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "cpu"
# Every task goes to the queue of the engine that serves it: `cpu` (a process per core) or `gpu` (threads that keep
# many page requests in flight to vLLM). See DESIGN.md, "Feeding the GPU".
DEEPREAD_JOB_QUEUE = "gpu" if env_str("DEEPREAD_ENGINE", "rapidocr") == "vllm" else "cpu"
CELERY_TASK_ROUTES = {"ocrjobs.tasks.*": {"queue": DEEPREAD_JOB_QUEUE}}
CELERY_TASK_SOFT_TIME_LIMIT = env_int("DEEPREAD_TASK_SOFT_TIME_LIMIT_S", 1800, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("DEEPREAD_TASK_TIME_LIMIT_S", 1900, minimum=1)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- DeepRead -------------------------------------------------------------------------------------------------
DEEPREAD_ENGINE = env_choice("DEEPREAD_ENGINE", "rapidocr", ["rapidocr", "vllm"])
VLLM_BASE_URL = env_str("VLLM_BASE_URL", "http://127.0.0.1:8001/v1")
# Several replicas, comma-separated; least in-flight first, and a failing one sits out a cool-down.
VLLM_BASE_URLS = env_list("VLLM_BASE_URLS") or [VLLM_BASE_URL]
# deepseek-ai/DeepSeek-OCR or deepseek-ai/DeepSeek-OCR-2 (inference/vllm_models.py has each one's prompts and pins).
VLLM_MODEL = env_str("VLLM_MODEL", "deepseek-ai/DeepSeek-OCR")
VLLM_API_KEY = env_str("VLLM_API_KEY", "")
# The bound on page requests in flight from one gpu worker process (the server batches up to its max_num_seqs).
DEEPREAD_VLLM_MAX_INFLIGHT = env_int("DEEPREAD_VLLM_MAX_INFLIGHT", 64, minimum=1)
DEEPREAD_VLLM_MAX_TOKENS = env_int("DEEPREAD_VLLM_MAX_TOKENS", 7000, minimum=16)
DEEPREAD_VLLM_CONNECT_TIMEOUT_S = env_float("DEEPREAD_VLLM_CONNECT_TIMEOUT_S", 5.0)
DEEPREAD_VLLM_READ_TIMEOUT_S = env_float("DEEPREAD_VLLM_READ_TIMEOUT_S", 300.0)
DEEPREAD_VLLM_RETRIES = env_int("DEEPREAD_VLLM_RETRIES", 4, minimum=0)
DEEPREAD_VLLM_BACKOFF_S = env_float("DEEPREAD_VLLM_BACKOFF_S", 0.5)
DEEPREAD_VLLM_COOLDOWN_S = env_float("DEEPREAD_VLLM_COOLDOWN_S", 10.0)
DEEPREAD_VLLM_PAGE_FORMAT = env_choice("DEEPREAD_VLLM_PAGE_FORMAT", "jpeg", ["jpeg", "png"])
# How long a gpu worker waits at start-up for the server to list the model before it starts taking jobs anyway.
DEEPREAD_VLLM_WAIT_S = env_float("DEEPREAD_VLLM_WAIT_S", 900.0)
# At worker start: read the server's /version and probe its n-gram guard; no page goes to a server known to drop it.
DEEPREAD_VLLM_GUARD_CHECK = env_bool("DEEPREAD_VLLM_GUARD_CHECK", True)
# Pages answered without a model request (ocrjobs/shortcuts.py); `force_ocr` on a job turns off the last two.
DEEPREAD_SKIP_BLANK = env_bool("DEEPREAD_SKIP_BLANK", True)
DEEPREAD_TEXT_LAYER = env_bool("DEEPREAD_TEXT_LAYER", True)
DEEPREAD_REUSE_RESULTS = env_bool("DEEPREAD_REUSE_RESULTS", True)
# A TrueType font for searchable-PDF text outside Latin-1 (Helvetica covers the rest); skipped if missing.
DEEPREAD_PDF_FONT = env_str("DEEPREAD_PDF_FONT", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
# The last step of a looping page's ladder: the CPU engine for that page, where it is installed.
DEEPREAD_LADDER_CPU = env_bool("DEEPREAD_LADDER_CPU", True)
# --- POST /v1/ocr ---
DEEPREAD_STARTED_AT = time.time()
DEEPREAD_MODEL_ALIASES = env_list("DEEPREAD_MODEL_ALIASES")  # more names for the served model
# By default `deepseek-ocr` (the name every documented client sends) resolves to whichever engine serves; strict
# mode accepts only the served model's own name and DEEPREAD_MODEL_ALIASES.
DEEPREAD_MODEL_STRICT = env_bool("DEEPREAD_MODEL_STRICT", False)
DEEPREAD_SYNC_WARM = env_bool("DEEPREAD_SYNC_WARM", True)  # load the engine when a web process starts
DEEPREAD_SYNC_CONCURRENCY = env_int(
    "DEEPREAD_SYNC_CONCURRENCY", 32 if env_str("DEEPREAD_ENGINE", "rapidocr") == "vllm" else 1, minimum=1
)
# Admission for waiting callers (ocr/admission.py): SYNC_CONCURRENCY calls run the engine per web process, at most
# SYNC_QUEUE more wait for a slot, each at most SYNC_QUEUE_TIMEOUT_S; beyond that 503 engine_unavailable at once.
DEEPREAD_SYNC_QUEUE = env_int("DEEPREAD_SYNC_QUEUE", 2 * DEEPREAD_SYNC_CONCURRENCY, minimum=0)
DEEPREAD_SYNC_QUEUE_TIMEOUT_S = env_float("DEEPREAD_SYNC_QUEUE_TIMEOUT_S", 10.0)
# A /v1/ocr call's hold on its spent request: released when the call ends; one still there after this long
# belongs to a web process that died, and the scheduler's sweep refunds it (accounts/quota_holds.py).
DEEPREAD_SYNC_HOLD_S = env_float("DEEPREAD_SYNC_HOLD_S", 900.0)
DEEPREAD_SYNC_MAX_PAGES = env_int("DEEPREAD_SYNC_MAX_PAGES", 10, minimum=1)
DEEPREAD_API_MAX_BODY_BYTES = env_int("DEEPREAD_API_MAX_BODY_BYTES", 64 * 1024, minimum=1024)
DEEPREAD_SYNC_MAX_BODY_BYTES = env_int("DEEPREAD_SYNC_MAX_BODY_BYTES", 30 * 1024 * 1024, minimum=1024)
# Fetching image URLs (core/urlfetch.py). The private-address guard is off only when this says so.
DEEPREAD_URL_FETCH_ALLOW_PRIVATE = env_bool("DEEPREAD_URL_FETCH_ALLOW_PRIVATE", False)
DEEPREAD_URL_FETCH_MAX_BYTES = env_int("DEEPREAD_URL_FETCH_MAX_BYTES", 20 * 1024 * 1024, minimum=1)
DEEPREAD_URL_FETCH_CONNECT_TIMEOUT_S = env_float("DEEPREAD_URL_FETCH_CONNECT_TIMEOUT_S", 5.0)
DEEPREAD_URL_FETCH_READ_TIMEOUT_S = env_float("DEEPREAD_URL_FETCH_READ_TIMEOUT_S", 15.0)
# One deadline for the whole fetch (redirects, a server that drips bytes): the read timeout is per read.
DEEPREAD_URL_FETCH_DEADLINE_S = env_float("DEEPREAD_URL_FETCH_DEADLINE_S", 20.0)
DEEPREAD_URL_FETCH_MAX_REDIRECTS = env_int("DEEPREAD_URL_FETCH_MAX_REDIRECTS", 3, minimum=0)
# Threads of the gpu worker: the in-flight bound plus a few that render, store and finish while others wait.
DEEPREAD_GPU_WORKER_THREADS = env_int("DEEPREAD_GPU_WORKER_THREADS", DEEPREAD_VLLM_MAX_INFLIGHT + 16, minimum=1)
DEEPREAD_WORKER_CONCURRENCY = env_int("DEEPREAD_WORKER_CONCURRENCY", os.cpu_count() or 1, minimum=1)

DEEPREAD_MAX_UPLOAD_BYTES = env_int("DEEPREAD_MAX_UPLOAD_BYTES", 50 * 1024 * 1024, minimum=1)
# Every request body outside the upload routes and /v1/ocr (core/bodylimit.py); Django's own form limits match,
# and no form file is spooled to disk below it.
DEEPREAD_MAX_REQUEST_BODY_BYTES = env_int("DEEPREAD_MAX_REQUEST_BODY_BYTES", 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = DEEPREAD_MAX_REQUEST_BODY_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = DEEPREAD_MAX_REQUEST_BODY_BYTES
# The web server's bounds on a request body (core/asgi_guard.py), before Django reads it: the largest body any
# route takes (an upload, with room for its multipart fields), and a deadline of BODY_TIMEOUT_S plus one second per
# BODY_MIN_RATE bytes received.
DEEPREAD_MAX_REQUEST_BYTES = max(DEEPREAD_MAX_UPLOAD_BYTES + 1024 * 1024, DEEPREAD_SYNC_MAX_BODY_BYTES)
DEEPREAD_BODY_TIMEOUT_S = env_float("DEEPREAD_BODY_TIMEOUT_S", 30.0)
DEEPREAD_BODY_MIN_RATE = env_float("DEEPREAD_BODY_MIN_RATE", 500.0)
DEEPREAD_MAX_PIXELS = env_int("DEEPREAD_MAX_PIXELS", 60_000_000, minimum=1)
DEEPREAD_MAX_PDF_PAGES = env_int("DEEPREAD_MAX_PDF_PAGES", 100, minimum=1)
DEEPREAD_PDF_DPI = env_int("DEEPREAD_PDF_DPI", 144, minimum=36)
DEEPREAD_SIGNED_URL_TTL_S = env_int("DEEPREAD_SIGNED_URL_TTL_S", 3600, minimum=1)
DEEPREAD_BURST_PER_MINUTE = env_int("DEEPREAD_BURST_PER_MINUTE", 600, minimum=1)
# Where the burst limiter counts (core/ratelimit.py): a redis:// URL or a SQLite file; by default REDIS_URL when
# it is set, else var/ratelimit.sqlite3.
DEEPREAD_RATELIMIT_STORE = env_str("DEEPREAD_RATELIMIT_STORE", "")
DEEPREAD_TRIAL_DAYS = env_int("DEEPREAD_TRIAL_DAYS", 30, minimum=1)
# A running job's lease, renewed by a heartbeat every third of it; a dead worker's job is claimable one lease later.
DEEPREAD_JOB_LEASE_S = env_int("DEEPREAD_JOB_LEASE_S", 30, minimum=3)
# A fanned-out job (vLLM pages as tasks of their own) waits for free threads; its pages' messages are redelivered by
# the broker, and each page that runs lengthens this lease.
DEEPREAD_JOB_FANOUT_LEASE_S = env_int("DEEPREAD_JOB_FANOUT_LEASE_S", 600, minimum=3)
# A job whose engine or storage fails just now is tried again this many times, with backoff from this base.
DEEPREAD_JOB_RETRIES = env_int("DEEPREAD_JOB_RETRIES", 5, minimum=0)
DEEPREAD_JOB_RETRY_BACKOFF_S = env_float("DEEPREAD_JOB_RETRY_BACKOFF_S", 1.0)
DEEPREAD_JOB_COUNTS_CACHE_MIN = env_int("DEEPREAD_JOB_COUNTS_CACHE_MIN", 10_000, minimum=1)
DEEPREAD_JOB_COUNTS_CACHE_S = env_float("DEEPREAD_JOB_COUNTS_CACHE_S", 5.0)
DEEPREAD_QUEUED_STALE_S = env_int("DEEPREAD_QUEUED_STALE_S", 600, minimum=5)
DEEPREAD_SWEEP_INTERVAL_S = env_float("DEEPREAD_SWEEP_INTERVAL_S", 10.0)
# --- job control (issue 16: ocrjobs/control.py, idempotency.py, webhooks.py, events.py) ---
DEEPREAD_CANCEL_POLL_S = env_float("DEEPREAD_CANCEL_POLL_S", 0.5)  # how often a worker looks for cancelled jobs
DEEPREAD_IDEMPOTENCY_TTL_S = env_int("DEEPREAD_IDEMPOTENCY_TTL_S", 24 * 3600, minimum=1)
DEEPREAD_IDEMPOTENCY_WAIT_S = env_float("DEEPREAD_IDEMPOTENCY_WAIT_S", 60.0)  # a duplicate waits this long
DEEPREAD_IDEMPOTENCY_LOCK_S = env_int("DEEPREAD_IDEMPOTENCY_LOCK_S", 600, minimum=1)  # a lost first request's hold
DEEPREAD_WEBHOOK_ALLOW_PRIVATE = env_bool("DEEPREAD_WEBHOOK_ALLOW_PRIVATE", False)
DEEPREAD_WEBHOOK_TIMEOUT_S = env_float("DEEPREAD_WEBHOOK_TIMEOUT_S", 10.0)
# Seconds before the 2nd, 3rd, … try: 8 tries over about 27 hours.
DEEPREAD_WEBHOOK_BACKOFF_S = [
    float(v) for v in env_list("DEEPREAD_WEBHOOK_BACKOFF_S", ["5", "300", "1800", "7200", "18000", "36000", "36000"])
]
DEEPREAD_WEBHOOK_SWEEP_S = env_float("DEEPREAD_WEBHOOK_SWEEP_S", 10.0)
DEEPREAD_RETENTION_SWEEP_S = env_float("DEEPREAD_RETENTION_SWEEP_S", 3600.0)
DEEPREAD_SSE_POLL_S = env_float("DEEPREAD_SSE_POLL_S", 0.5)
DEEPREAD_SSE_MAX_S = env_float("DEEPREAD_SSE_MAX_S", 3600.0)  # one ASGI stream, then the client reconnects
DEEPREAD_SSE_WSGI_MAX_S = env_float("DEEPREAD_SSE_WSGI_MAX_S", 30.0)  # under WSGI a stream holds a thread

# --- DRF ------------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttling.ApiKeyBurstThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.CappedJSONParser"],
    "EXCEPTION_HANDLER": "core.api_errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "DeepRead API",
    "DESCRIPTION": "Self-hosted OCR: signed uploads, processing jobs and results.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "ocrjobs.control_apis.events_schema_hook",
        "deepread.openapi_examples.add_examples",  # an example for every operation (after the others)
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("DEEPREAD_LOG_LEVEL", "INFO")},
    "loggers": {"RapidOCR": {"level": "WARNING"}, "httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
}

CELERY_BEAT_SCHEDULE = {
    "jobs-sweep": {"task": "ocrjobs.tasks.jobs_sweep", "schedule": DEEPREAD_SWEEP_INTERVAL_S},
    "quota-holds-sweep": {"task": "accounts.tasks.quota_holds_sweep_task", "schedule": DEEPREAD_SWEEP_INTERVAL_S},
    "webhooks-sweep": {
        "task": "ocrjobs.tasks.webhooks_sweep",
        "schedule": DEEPREAD_WEBHOOK_SWEEP_S,
        "options": {"expires": DEEPREAD_WEBHOOK_SWEEP_S * 5},
    },
    "retention-sweep": {"task": "ocrjobs.tasks.retention_sweep", "schedule": DEEPREAD_RETENTION_SWEEP_S},
}
# S3 uploads do not pass through DeepRead: a sweep every few seconds finds them (and the optional bucket
# notification hook, POST /storage/s3-events with X-DeepRead-Hook-Secret, starts them at once).
DEEPREAD_UPLOAD_SWEEP_S = env_float("DEEPREAD_UPLOAD_SWEEP_S", 2.0)
DEEPREAD_S3_HOOK_SECRET = env_str("DEEPREAD_S3_HOOK_SECRET", "")
if DEEPREAD_STORAGE == "s3":
    CELERY_BEAT_SCHEDULE["uploads-sweep"] = {
        "task": "ocrjobs.tasks.uploads_sweep",
        "schedule": DEEPREAD_UPLOAD_SWEEP_S,
        "options": {"expires": DEEPREAD_UPLOAD_SWEEP_S * 5},
    }
