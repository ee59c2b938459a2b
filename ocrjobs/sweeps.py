"""The scheduler's sweeps: jobs whose message was lost or whose worker died are enqueued again, uploads that
arrived in the bucket are found, and jobs whose file never came are cancelled and refunded."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.services import quota_refund
from ocrjobs.completion import job_fail
from ocrjobs.models import Job, JobStatus
from ocrjobs.services import job_enqueue_on_commit, job_upload_found
from storage.keys import (
    upload_key_prefix,
)

logger = logging.getLogger(__name__)


def jobs_requeue_stale(*, now: dt.datetime | None = None, max_attempts: int | None = None) -> list[str]:
    """The sweep: re-enqueue jobs left queued past a while, or processing past their lease (lost messages).

    A job already claimed `max_attempts` times (default DEEPREAD_JOB_RETRIES + 1: the first try and its retries)
    fails instead, refunded. Returns the ids re-enqueued."""
    now = now or timezone.now()
    max_attempts = settings.DEEPREAD_JOB_RETRIES + 1 if max_attempts is None else max_attempts
    stale_queued = Q(
        status=JobStatus.QUEUED, updated_at__lt=now - dt.timedelta(seconds=settings.DEEPREAD_QUEUED_STALE_S)
    )
    lost = Q(status=JobStatus.PROCESSING, lease_until__lt=now)
    requeued = []
    for job_id, attempts in Job.objects.filter(stale_queued | lost).values_list("pk", "attempts")[:500]:
        if attempts >= max_attempts:
            job_fail(job_id=job_id, message=f"Processing was interrupted {attempts} times; giving up on this file.")
            continue
        Job.objects.filter(pk=job_id).update(updated_at=now)
        with transaction.atomic():
            job_enqueue_on_commit(job_id=job_id)
        requeued.append(str(job_id))
    return requeued


def jobs_cancel_unused(*, now: dt.datetime | None = None) -> list[str]:
    """Jobs that never received an acceptable file before their upload URLs expired are cancelled and their
    request given back: a refused or abandoned upload costs nothing in the end."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.DEEPREAD_SIGNED_URL_TTL_S + 60)
    cancelled = []
    for job_id, owner_id, month, created_at in Job.objects.filter(
        status=JobStatus.AWAITING_UPLOAD, created_at__lt=cutoff
    ).values_list("pk", "owner_id", "usage_month", "created_at")[:500]:
        with transaction.atomic():
            done = Job.objects.filter(pk=job_id, status=JobStatus.AWAITING_UPLOAD).update(
                status=JobStatus.CANCELLED,
                error="No acceptable file arrived before the upload URL expired; the request was given back.",
                refunded=True,
                finished_at=now,
                updated_at=now,
            )
            if done:
                quota_refund(user_id=owner_id, month=month, day=created_at.astimezone(dt.UTC).date())
                cancelled.append(str(job_id))
    return cancelled


def jobs_discover_uploads(*, now: dt.datetime | None = None, limit: int = 200) -> list[str]:
    """The sweep for stores that do not call us back (S3): jobs awaiting an upload whose signed URLs are still
    valid are looked up in storage, and those whose file arrived are queued. Cheap to run every few seconds."""
    now = now or timezone.now()
    since = now - dt.timedelta(seconds=settings.DEEPREAD_SIGNED_URL_TTL_S + 60)
    found = []
    for job_id, owner_id in Job.objects.filter(status=JobStatus.AWAITING_UPLOAD, created_at__gte=since).values_list(
        "pk", "owner_id"
    )[:limit]:
        prefix = upload_key_prefix(account_id=owner_id, job_id=str(job_id))
        try:
            _, files = default_storage.listdir(prefix)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in files[:1]:
            if job_upload_found(job_id=job_id, key=prefix + name):
                found.append(str(job_id))
    return found
