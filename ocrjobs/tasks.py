"""Celery interfaces. They take ids, call services, and are safe to run twice."""

from __future__ import annotations

import logging
import random

from celery import shared_task
from celery.signals import worker_process_init
from django.conf import settings

from inference.base import EngineError
from ocrjobs import services

logger = logging.getLogger(__name__)
MAX_RETRIES = 5


@worker_process_init.connect
def _warm_engine(**_: object) -> None:
    """Load the engine once per worker process, before the first job, not once per job."""
    try:
        services._engine()
    except Exception:
        logger.exception("Could not load the %s engine at start-up", settings.DEEPREAD_ENGINE)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES)
def job_process(self, job_id: str) -> None:
    try:
        services.job_run(job_id=job_id)
    except EngineError as exc:  # only retryable ones reach here
        if self.request.retries >= MAX_RETRIES:
            services.job_fail(job_id=job_id, message=f"{exc.message} Gave up after {MAX_RETRIES + 1} tries.")
            return
        delay = min(60, 2**self.request.retries) * (0.5 + random.random())  # noqa: S311 - jitter, not crypto
        raise self.retry(exc=exc, countdown=delay) from exc


@shared_task
def jobs_sweep() -> int:
    requeued = services.jobs_requeue_stale()
    if requeued:
        logger.info("Sweep re-enqueued %d jobs", len(requeued))
    return len(requeued)
