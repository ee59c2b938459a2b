"""The database (DATABASE_URL; SQLite under var/ by default) and the cache (REDIS_URL; files under var/ by default)."""

from __future__ import annotations

import dj_database_url

from core.env import env_int, env_str
from deepread.settings_parts.base import VAR_DIR

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
