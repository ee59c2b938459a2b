"""Jobs: leases, retries, sweeps, cancellation, idempotency, webhooks and event streams."""

from __future__ import annotations

from core.env import env_bool, env_float, env_int, env_list

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
