"""Celery interfaces. They take ids, call services, and are safe to run twice."""

from __future__ import annotations

import logging
import random

from celery import shared_task
from celery.exceptions import Reject
from celery.signals import worker_init, worker_process_init
from django.conf import settings

from inference.base import EngineError
from ocr import runtime
from ocrjobs import (
    completion,
    dispatch,
    leases,
    processing,
    sweeps,
    worker_lifecycle,  # noqa: F401 - connects its signals
)
from ocrjobs.cancellation import job_cancel_scope
from storage.objects import StorageFault

logger = logging.getLogger(__name__)
RETRYABLE = (EngineError, StorageFault)


@worker_process_init.connect
def _warm_engine(**_: object) -> None:
    """Load the CPU engine once per worker process, before the first job, not once per job."""
    if settings.DEEPREAD_ENGINE != "rapidocr":
        return
    try:
        runtime.worker_engine()
    except Exception:
        logger.exception("Could not load the %s engine at start-up", settings.DEEPREAD_ENGINE)


@worker_init.connect
def _wait_for_vllm(**_: object) -> None:
    """A gpu worker takes no job before the DeepSeek-OCR server lists its model: a server that is still loading
    its weights is reported as cold-starting in the log, not as failed jobs."""
    if settings.DEEPREAD_ENGINE != "vllm":
        return
    engine = runtime.worker_engine()
    if not engine.wait_until_ready(timeout_s=settings.DEEPREAD_VLLM_WAIT_S):
        logger.error(
            "Starting without a ready DeepSeek-OCR server after %.0f s; pages will be retried until it answers.",
            settings.DEEPREAD_VLLM_WAIT_S,
        )
    elif settings.DEEPREAD_VLLM_GUARD_CHECK:
        engine.check_guard()  # a bad server is logged for the operator, and gets no page until it is fixed


def _retry_delay(retries: int) -> float:
    """Exponential backoff from DEEPREAD_JOB_RETRY_BACKOFF_S, capped at a minute, with full-range jitter."""
    return min(60.0, settings.DEEPREAD_JOB_RETRY_BACKOFF_S * 2**retries) * (0.5 + random.random())  # noqa: S311


def _retry_or_fail(task, exc: Exception, *, job_id: str, prefix: str = "") -> None:
    """A retryable failure (the engine or the storage, just now) is tried again DEEPREAD_JOB_RETRIES times; then
    the job fails with the reason and the number of tries, and its request is given back."""
    tries = task.request.retries + 1
    if task.request.retries >= settings.DEEPREAD_JOB_RETRIES:
        completion.job_fail(job_id=job_id, message=f"{prefix}{exc.message} Gave up after {tries} tries.")
        return
    logger.warning("Job %s: %s%s Try %d failed; retrying.", job_id, prefix, exc.message, tries)
    raise task.retry(
        exc=exc, countdown=_retry_delay(task.request.retries), max_retries=settings.DEEPREAD_JOB_RETRIES
    ) from exc


def _not_while_stopping() -> None:
    """A task that reaches a stopping worker goes back to the broker untouched, for a worker that stays."""
    if leases.STOPPING.is_set():
        raise Reject("this worker is stopping", requeue=True)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def job_process(self, job_id: str) -> None:
    """Celery task: run job `job_id` after claiming it (a job another worker holds is left alone);
    retryable errors retry up to DEEPREAD_JOB_RETRIES times, then the job fails. A stopping worker rejects
    (requeues) the task; the job's callback and webhooks fire when it ends.
    """
    _not_while_stopping()
    try:
        with job_cancel_scope(job_id):
            processing.job_run(job_id=job_id)
    except RETRYABLE as exc:  # only retryable ones reach here
        _retry_or_fail(self, exc, job_id=job_id)
    finally:
        _notify_ended(job_id)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def job_page_process(self, job_id: str, page: int) -> None:
    """One page of a fanned-out document (the vLLM engine); the task that stores the last page finishes the job."""
    _not_while_stopping()
    try:
        with job_cancel_scope(job_id):
            processing.job_page_run(job_id=job_id, page=page)
    except RETRYABLE as exc:  # a page's engine failure names the page; the result's storage failure does not
        _retry_or_fail(self, exc, job_id=job_id, prefix=f"Page {page}: " if isinstance(exc, EngineError) else "")
    finally:
        _notify_ended(job_id)


def _notify_ended(job_id: str) -> None:
    """The job's end event (webhooks), once, whichever task ended it."""
    from ocrjobs.events import job_ended

    try:
        job_ended(job_id=job_id)
    except Exception:
        logger.exception("Could not notify the end of job %s", job_id)


@shared_task
def uploads_sweep() -> int:
    """Start jobs whose file went straight to the bucket (S3): run every few seconds by the scheduler."""
    found = sweeps.jobs_discover_uploads()
    if found:
        logger.info("Found %d uploads in storage", len(found))
    return len(found)


@shared_task
def jobs_sweep() -> int:
    """Celery beat task: re-enqueue jobs whose lease lapsed and cancel jobs whose upload never came; returns how many
    requeued.
    """
    requeued = sweeps.jobs_requeue_stale()
    if requeued:
        logger.info("Sweep re-enqueued %d jobs", len(requeued))
    cancelled = sweeps.jobs_cancel_unused()
    if cancelled:
        logger.info("Sweep cancelled %d jobs whose upload never arrived", len(cancelled))
    return len(requeued)


@shared_task(bind=True, acks_late=True)
def webhook_deliver(self, delivery_id: int) -> None:
    """One attempt at one webhook delivery; a short backoff is waited for here, a long one by webhooks_sweep."""
    from ocrjobs import webhooks

    retry_in = webhooks.deliver(delivery_id=delivery_id)
    if retry_in is not None and retry_in <= 900:
        dispatch.webhook_deliver_send(delivery_id, countdown=retry_in)


@shared_task
def webhooks_sweep() -> int:
    """Due webhook retries, lost sends, end events nobody sent, and expired idempotency keys."""
    from ocrjobs import events, idempotency, webhooks

    events.jobs_notify_ended()
    idempotency.records_expire()
    due = webhooks.deliveries_due()
    for delivery_id in due:
        dispatch.webhook_deliver_send(delivery_id)
    return len(due)


@shared_task
def retention_sweep() -> int:
    """Delete what accounts with a retention setting no longer keep."""
    from ocrjobs.control import jobs_retention_sweep

    deleted = jobs_retention_sweep()
    if deleted:
        logger.info("Retention deleted %d jobs", deleted)
    return deleted


@shared_task(acks_late=True)
def job_images_draw(job_id: str) -> int:
    """Draw the page and annotated images of a job that completed before the worker drew them at completion;
    asked once by a web view that found one missing (ocrjobs.page_images.images_request_draw)."""
    from ocrjobs.page_images import job_images_draw as draw

    return draw(job_id=job_id)
