"""Job control (issue 16): cancel, delete, retry or re-run, retention, and the account's job settings.

What each one keeps (the README's "Job control" says the same):
- cancel: a pending job (awaiting its upload, or queued) ends `cancelled` and its request is given back. A
  processing job ends `cancelled` at once and keeps its request (work was done); the worker drops its connections
  to vLLM (ocrjobs.cancellation) and its page tasks exit on seeing the row. Pages recognised so far, their figure
  crops and the reserved result name are dropped; the upload stays, so the job can be retried.
- delete: the job, its pages, its upload (unless a retry of it still uses the file), its result and every page
  artifact in storage, and its webhook deliveries. Signed download URLs for them then answer 404.
- retry (failed or cancelled) and re-run (any ended job, the dashboard's "run again with the current version"):
  a new job on the same stored upload, with the mode as it is now; one request of the quota.
- retention: with `retention_days` set, the scheduler deletes ended jobs (as `delete` does) that finished more
  than that many days ago.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.quota import QuotaStatus, month_start
from accounts.services import quota_consume, quota_refund
from core.errors import Conflict, InvalidInput
from modes.selectors import mode_get
from ocr.runtime import check_mode_servable
from ocrjobs import events
from ocrjobs.models import AccountJobSettings, Job, JobPage, JobStatus, UsageRecord
from ocrjobs.selectors import job_get
from ocrjobs.services import job_enqueue_on_commit
from ocrjobs.usage import usage_record
from storage.keys import artifact_storage_key, output_key_release, result_storage_key, upload_key_prefix
from storage.objects import StorageFault

logger = logging.getLogger(__name__)
PENDING = (JobStatus.AWAITING_UPLOAD, JobStatus.QUEUED)
CANCELLED_MESSAGE = "Cancelled at the owner's request."


def job_cancel(*, user: User, job_id: uuid.UUID | str) -> Job:
    """Cancel one of `user`'s jobs (rules in the module docstring). NotFound for another's or an unknown job,
    Conflict (409) for a job that has already ended.

    Raises NotFound (404) or Conflict (409) as above.
    """
    job = job_get(user=user, job_id=job_id)
    now = timezone.now()
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.is_terminal:
            raise Conflict(f"The job has already ended ({job.public_status}); only a pending or processing job "
                           "can be cancelled.")  # fmt: skip
        pending = job.status in PENDING
        reserved = job.output_key
        Job.objects.filter(pk=job.pk).update(
            status=JobStatus.CANCELLED,
            error=CANCELLED_MESSAGE,
            finished_at=now,
            lease_until=None,
            output_key=None,
            refunded=pending,
            updated_at=now,
        )
        if pending:
            quota_refund(user_id=job.owner_id, month=job.usage_month)
        JobPage.objects.filter(job_id=job.pk).delete()
    if reserved:
        _delete_outputs(account_id=job.owner_id, output_key=reserved, strict=False)
    events.job_ended(job_id=job.pk)
    job.refresh_from_db()
    return job


def job_delete(*, user: User, job_id: uuid.UUID | str) -> None:
    """Delete one of `user`'s jobs and everything stored for it (module docstring). A running job is cancelled
    first. Storage is cleared before the row goes, so a storage failure (StorageFault, retryable) loses nothing."""
    job = job_get(user=user, job_id=job_id)
    if not job.is_terminal:
        try:
            job = job_cancel(user=user, job_id=job.pk)
        except Conflict:
            job.refresh_from_db()
    if job.output_key:
        _delete_outputs(account_id=job.owner_id, output_key=job.output_key, strict=True)
        # Download URLs signed for this name (S3 presigned ones cannot be revoked) stay valid for their lifetime:
        # the name is not given to another job until they have expired, so they can only answer 404.
        output_key_release(account_id=job.owner_id, output_key=job.output_key)
    shared = Job.objects.filter(owner_id=job.owner_id, upload_key=job.upload_key).exclude(pk=job.pk).exists()
    if job.upload_key and not shared:
        _delete_prefix(upload_key_prefix(account_id=job.owner_id, job_id=str(job.pk)), strict=True)
        if not job.upload_key.startswith(upload_key_prefix(account_id=job.owner_id, job_id=str(job.pk))):
            _delete_key(job.upload_key, strict=True)  # a retry's upload lives under the original job's prefix
    Job.objects.filter(pk=job.pk).delete()  # pages and webhook deliveries go with it (CASCADE)


@dataclass(frozen=True)
class Rerun:
    """A re-run: the new job and the quota after spending its request."""

    job: Job
    quota: QuotaStatus


def job_rerun(
    *, user: User, job_id: uuid.UUID | str, api_key_id: int | None = None, require_unsuccessful: bool = True
) -> Rerun:
    """A new queued job on the stored upload of an ended job, with the mode's current version; spends one request.

    `require_unsuccessful` (the API's retry): only a failed or cancelled job, else Conflict (409). The dashboard's
    re-run also takes a completed one. Conflict when no file was ever uploaded or it is gone from storage;
    InvalidInput when the mode no longer exists or this server cannot run it.

    Raises Conflict (409) when the job has not ended (or succeeded, for a retry) or has no stored upload.
    """
    old = job_get(user=user, job_id=job_id)
    allowed = (JobStatus.FAILED, JobStatus.CANCELLED) if require_unsuccessful else allowed_ended()
    if old.status not in allowed:
        verb = "failed or cancelled" if require_unsuccessful else "ended"
        raise Conflict(f"Only a {verb} job can be run again; this one is {old.public_status}.")
    if old.uploaded_at is None or not old.upload_key or not _exists(old.upload_key):
        raise Conflict("This job has no stored upload to run again; create a new job with the file.")
    spec = mode_get(user=user, name=old.mode)
    check_mode_servable(spec)
    now = timezone.now()
    with transaction.atomic():
        quota = quota_consume(user=user, now=now)
        job = Job(
            owner=user,
            status=JobStatus.QUEUED,
            mode=spec.name,
            prompt=spec.prompt,
            output_kind=spec.output_kind,
            mode_version=spec.version,
            filename=old.filename,
            content_type=old.content_type,
            upload_key=old.upload_key,
            size=old.size,
            source_kind=old.source_kind,
            source_pages=old.source_pages,
            page_range=old.page_range,
            callback_url=old.callback_url,
            retry_of=old,
            api_key_id=api_key_id,
            usage_month=month_start(now),
            uploaded_at=now,
        )
        job.save(force_insert=True)
        usage_record(user=user, api_key_id=api_key_id, kind=UsageRecord.Kind.JOB, mode=spec.name, now=now)
        job_enqueue_on_commit(job_id=job.pk)
    return Rerun(job=job, quota=quota)


def allowed_ended() -> tuple[str, ...]:
    """The statuses a job can end in: completed, failed, cancelled."""
    return (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


# --- settings and retention -----------------------------------------------------------------------------------------
def job_settings_get(*, user: User) -> AccountJobSettings:
    """The user's job settings row (retention), created with defaults on first use."""
    return AccountJobSettings.objects.get_or_create(user=user)[0]


def job_settings_update(*, user: User, retention_days: int | None) -> AccountJobSettings:
    """Set (a whole number of days, 1–3650) or turn off (None) the account's retention.

    Raises InvalidInput (400) for a number of days outside 1–3650.
    """
    if retention_days is not None and not (1 <= retention_days <= 3650):
        raise InvalidInput("retention_days must be between 1 and 3650, or null to keep everything.")
    with transaction.atomic():
        row = AccountJobSettings.objects.select_for_update().get_or_create(user=user)[0]
        row.retention_days = retention_days
        row.full_clean()
        row.save(update_fields=["retention_days"])
    return row


def jobs_retention_sweep(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Delete the ended jobs that finished longer ago than their account's retention; returns how many."""
    now = now or timezone.now()
    deleted = 0
    for row in AccountJobSettings.objects.filter(retention_days__isnull=False).select_related("user"):
        cutoff = now - dt.timedelta(days=row.retention_days)
        old = Job.objects.filter(owner=row.user, status__in=allowed_ended(), finished_at__lt=cutoff)
        for job_id in old.values_list("pk", flat=True)[: limit - deleted]:
            try:
                job_delete(user=row.user, job_id=job_id)
                deleted += 1
            except StorageFault:
                logger.warning("Retention could not delete job %s yet; the next sweep tries again", job_id)
        if deleted >= limit:
            break
    return deleted


# --- storage --------------------------------------------------------------------------------------------------------
def _exists(key: str) -> bool:
    try:
        return default_storage.exists(key)
    except Exception as exc:
        logger.warning("Storage check of %s failed: %s", key, exc)
        raise StorageFault("Storage could not be read just now; try again shortly.") from exc


def _delete_key(key: str, *, strict: bool) -> None:
    try:
        if default_storage.exists(key):
            default_storage.delete(key)
    except Exception as exc:
        logger.warning("Storage delete of %s failed: %s", key, exc)
        if strict:
            raise StorageFault("Storage could not delete the job's files just now; try again shortly.") from exc


def _delete_prefix(prefix: str, *, strict: bool) -> None:
    try:
        folders, files = default_storage.listdir(prefix)
    except (FileNotFoundError, NotADirectoryError):
        return
    except Exception as exc:
        logger.warning("Storage listing of %s failed: %s", prefix, exc)
        if strict:
            raise StorageFault("Storage could not delete the job's files just now; try again shortly.") from exc
        return
    for name in files:
        _delete_key(prefix + name, strict=strict)
    for folder in folders:
        _delete_prefix(f"{prefix}{folder}/", strict=strict)


def _delete_outputs(*, account_id: int, output_key: str, strict: bool) -> None:
    """The result document and the folder of page artifacts beside it."""
    _delete_prefix(artifact_storage_key(account_id=account_id, output_key=output_key, name=""), strict=strict)
    _delete_key(result_storage_key(account_id=account_id, output_key=output_key), strict=strict)


def outputs_discard(*, account_id: int, output_key: str | None) -> None:
    """Best effort: remove what a worker wrote under `output_key` for a job cancelled or deleted meanwhile."""
    if output_key:
        _delete_outputs(account_id=account_id, output_key=output_key, strict=False)
