"""What a Celery worker process does when it starts and stops, for the job leases (ocrjobs/leases.py).

- A clean stop (SIGTERM or Ctrl-C: Celery's warm shutdown) hands the running jobs back at once. The thread pool's
  tasks share the main process, which calls `leases.request_stop()`; a prefork pool's tasks run in children, which
  the main process tells with SIGUSR2 (Celery does not tell them: they would finish their whole job first).
- On Redis, the main process keeps the messages it holds (running, reserved, or waiting for their countdown)
  invisible to other workers: every few seconds it moves their delivery time forward in kombu's `unacked_index`,
  so the visibility timeout can be short (DEEPREAD_VISIBILITY_TIMEOUT_S) and a dead worker's messages come back
  soon, while a live worker's long job is never delivered twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from pathlib import Path

from celery.signals import task_prerun, worker_ready, worker_shutting_down
from django.conf import settings

from ocrjobs import leases

logger = logging.getLogger(__name__)
STOP_SIGNAL = signal.SIGUSR2


def _child_pids(pid: int) -> list[int]:
    """The living children of `pid`, from /proc (the pool's processes)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(entry.name))
    return children


def _on_stop_signal(*_: object) -> None:
    leases.request_stop()


@task_prerun.connect
def _listen_for_stop(**_: object) -> None:
    """In a prefork child, before its task: SIGUSR2 from the main process begins the clean stop. Installed here,
    not at `worker_process_init`, because billiard resets the child's signals after that hook (SIGUSR2 would end
    the child at once); a child that has not run a task yet has nothing to hand back."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(STOP_SIGNAL) is not _on_stop_signal:
        signal.signal(STOP_SIGNAL, _on_stop_signal)


@worker_shutting_down.connect
def _hand_back_on_shutdown(**_: object) -> None:
    """In the main process, as Celery begins its shutdown: stop here (thread pool) and in every pool child."""
    leases.request_stop()
    for pid in _child_pids(os.getpid()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, STOP_SIGNAL)


def _redis_broker() -> bool:
    return settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://", "unix://"))


@worker_ready.connect
def _keep_messages_invisible(**_: object) -> None:
    if not _redis_broker():
        return
    threading.Thread(target=_message_keeper, name="redis-message-keeper", daemon=True).start()


def _message_keeper() -> None:
    """Every third of the visibility timeout, refresh the delivery time of every message this worker holds (only
    those still unacknowledged: `ZADD XX` adds nothing back)."""
    import redis
    from celery.worker import state

    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    key = options.get("global_keyprefix", "") + options.get("unacked_index_key", "unacked_index")
    interval = max(1.0, options.get("visibility_timeout", 3600) / 3)
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=10, socket_connect_timeout=10)
    while not leases.STOPPING.is_set():
        time.sleep(interval)
        tags = set()
        for request in [*state.active_requests, *state.reserved_requests]:
            tag = getattr(getattr(request, "message", None), "delivery_tag", None)
            if tag:
                tags.add(tag)
        if not tags:
            continue
        try:
            client.zadd(key, dict.fromkeys(tags, time.time()), xx=True)
        except redis.RedisError:
            logger.warning("Could not keep %d messages invisible on Redis", len(tags), exc_info=True)
