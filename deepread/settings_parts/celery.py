"""Celery: the broker (kombu's filesystem transport under var/ by default), queues, time limits, the beat schedule."""

from __future__ import annotations

import os

from core.env import env_float, env_int, env_str
from deepread.settings_parts.base import VAR_DIR
from deepread.settings_parts.engine import DEEPREAD_VLLM_MAX_INFLIGHT
from deepread.settings_parts.jobs import DEEPREAD_RETENTION_SWEEP_S, DEEPREAD_SWEEP_INTERVAL_S, DEEPREAD_WEBHOOK_SWEEP_S
from deepread.settings_parts.storage import DEEPREAD_STORAGE, DEEPREAD_UPLOAD_SWEEP_S

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
# Threads of the gpu worker: the in-flight bound plus a few that render, store and finish while others wait.
DEEPREAD_GPU_WORKER_THREADS = env_int("DEEPREAD_GPU_WORKER_THREADS", DEEPREAD_VLLM_MAX_INFLIGHT + 16, minimum=1)
DEEPREAD_WORKER_CONCURRENCY = env_int("DEEPREAD_WORKER_CONCURRENCY", os.cpu_count() or 1, minimum=1)

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
if DEEPREAD_STORAGE == "s3":
    CELERY_BEAT_SCHEDULE["uploads-sweep"] = {
        "task": "ocrjobs.tasks.uploads_sweep",
        "schedule": DEEPREAD_UPLOAD_SWEEP_S,
        "options": {"expires": DEEPREAD_UPLOAD_SWEEP_S * 5},
    }
