"""Limits on what a request may carry (bodies, uploads), on fetching image URLs, and on bursts of API calls."""

from __future__ import annotations

from core.env import env_bool, env_float, env_int, env_str

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
DEEPREAD_BURST_PER_MINUTE = env_int("DEEPREAD_BURST_PER_MINUTE", 600, minimum=1)
# Where the burst limiter counts (core/ratelimit.py): a redis:// URL or a SQLite file; by default REDIS_URL when
# it is set, else var/ratelimit.sqlite3.
DEEPREAD_RATELIMIT_STORE = env_str("DEEPREAD_RATELIMIT_STORE", "")
