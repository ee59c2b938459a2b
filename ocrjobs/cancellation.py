"""The worker's side of cancel: each running job task holds a CancelToken (inference/cancel.py), and one watcher
thread per worker process looks up, every DEEPREAD_CANCEL_POLL_S seconds, which of the jobs it is running were
cancelled, and cancels their tokens. That drops their connections to vLLM at once (vLLM aborts those requests and
frees the GPU) and stops the CPU engine before its next page. The thread runs only while jobs are running here.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Iterator

from django.conf import settings
from django.db import close_old_connections, connection

from inference.cancel import CancelToken, cancel_scope
from ocrjobs.models import Job, JobStatus

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_running: dict[str, set[CancelToken]] = {}
_watcher: threading.Thread | None = None


@contextlib.contextmanager
def job_cancel_scope(job_id: uuid.UUID | str) -> Iterator[CancelToken]:
    """Run the block with a token for `job_id` current in this thread; the watcher cancels it if the job is."""
    global _watcher
    token, key = CancelToken(), str(job_id)
    with _lock:
        _running.setdefault(key, set()).add(token)
        if _watcher is None or not _watcher.is_alive():
            _watcher = threading.Thread(target=_watch, name="cancel-watcher", daemon=True)
            _watcher.start()
    try:
        with cancel_scope(token):
            yield token
    finally:
        with _lock:
            tokens = _running.get(key)
            if tokens is not None:
                tokens.discard(token)
                if not tokens:
                    del _running[key]


def cancel_running(*, job_ids: list[str]) -> int:
    """Cancel the tokens of these jobs in this process; returns how many connections were dropped."""
    dropped = 0
    with _lock:
        tokens = [t for job_id in job_ids for t in _running.get(job_id, ())]
    for token in tokens:
        dropped += token.cancel()
    return dropped


def _watch() -> None:
    global _watcher
    stop = threading.Event()
    while not stop.wait(settings.DEEPREAD_CANCEL_POLL_S):
        with _lock:
            ids = list(_running)
            if not ids:
                _watcher = None
                break
        try:
            close_old_connections()
            cancelled = [
                str(pk)
                for pk in Job.objects.filter(pk__in=ids, status=JobStatus.CANCELLED).values_list("pk", flat=True)
            ]
        except Exception:
            logger.warning("The cancel watcher could not read the jobs; trying again", exc_info=True)
            continue
        if cancelled:
            dropped = cancel_running(job_ids=cancelled)
            logger.info("Cancelled %d running jobs here; dropped %d connections to the engine", len(cancelled), dropped)
    connection.close()
