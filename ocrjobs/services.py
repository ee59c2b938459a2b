"""Writes for OCR jobs: creation under the quota, receiving uploads, running and finishing jobs.

The same functions serve the DRF API, the local storage endpoints, the dashboard and the Celery tasks.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from accounts.quota import QuotaStatus, month_start
from accounts.services import quota_consume
from core.errors import ApplicationError, Conflict, InvalidInput, NotFound
from inference.documents import ALLOWED_CONTENT_TYPES
from modes.selectors import mode_get
from ocr.engine_errors import inspect_upload, upload_too_large
from ocr.runtime import check_mode_servable
from ocrjobs.completion import job_fail
from ocrjobs.models import Job, JobStatus
from storage.keys import (
    safe_filename,
    upload_key_prefix,
)
from storage.objects import UploadUrls, presign_upload

logger = logging.getLogger(__name__)

FILENAME_PLACEHOLDER = "${filename}"


@dataclass(frozen=True)
class UploadTicket:
    """What `job_create` hands the interface: the new job, its signed upload URLs (PUT and POST form), the key prefix
    the POST form must keep, their lifetime in seconds, and the quota after this request was spent."""

    job: Job
    urls: UploadUrls
    key_prefix: str
    expires_in: int
    quota: QuotaStatus


def _check_content_type(content_type: str | None, *, required: bool = False) -> str:
    content_type = (content_type or "").split(";")[0].strip().lower()
    if (content_type or required) and content_type not in ALLOWED_CONTENT_TYPES:
        raise InvalidInput(
            f"Unsupported content type {content_type!r}: use image/png, image/jpeg, image/bmp, image/tiff "
            "or application/pdf.",
            param="content_type",
        )
    return content_type


def upload_declared_check(*, size: int, content_type: str) -> None:
    """Refuse a file by what the client declares before sending it (the dashboard knows a picked file's size in
    bytes and its type), in the words the upload itself would be refused with, spending nothing.

    Raises InvalidInput (400) for an empty file or a type we do not read (`content_type` required here) and TooLarge
    (413) past DEEPREAD_MAX_UPLOAD_BYTES.
    """
    if size > settings.DEEPREAD_MAX_UPLOAD_BYTES:
        raise upload_too_large(param="size")
    if size <= 0:
        raise InvalidInput("The file is empty.", param="size")
    _check_content_type(content_type, required=True)


def job_create(
    *,
    user: User,
    mode: str | None,
    filename: str | None = None,
    content_type: str | None = None,
    base_url: str,
    pages: str | None = None,
    callback_url: str | None = None,
    api_key_id: int | None = None,
    force_ocr: bool = False,
) -> UploadTicket:
    """Make a job awaiting its upload and return the signed URLs for it. Spends one request of the quota.

    `pages` (`1-3,7`, ocr.pages) limits the pages recognised; `callback_url` gets this job's webhook events
    (ocrjobs.webhooks). Both are checked first: a bad one is InvalidInput with nothing spent. `force_ocr` sends
    every page to the engine even where a text layer or an earlier result could answer it (ocrjobs.shortcuts)."""
    from ocr.pages import normalize_pages
    from ocrjobs.usage import usage_record
    from ocrjobs.webhooks import callback_url_check

    content_type = _check_content_type(content_type)
    spec = mode_get(user=user, name=mode)
    check_mode_servable(spec)
    pages = normalize_pages(pages)
    callback_url = callback_url_check(user=user, url=callback_url) if callback_url else ""
    name = safe_filename(filename) if filename else ""
    job_id = uuid.uuid4()
    prefix = upload_key_prefix(account_id=user.pk, job_id=str(job_id))
    key = prefix + (name or FILENAME_PLACEHOLDER)
    now = timezone.now()
    with transaction.atomic():
        quota = quota_consume(user=user, now=now)
        job = Job(
            id=job_id,
            owner=user,
            mode=spec.name,
            prompt=spec.prompt,
            output_kind=spec.output_kind,
            filename=name,
            content_type=content_type,
            upload_key=key,
            usage_month=month_start(now),
            page_range=pages,
            callback_url=callback_url,
            mode_version=spec.version,
            api_key_id=api_key_id,
            force_ocr=force_ocr,
        )
        job.save(force_insert=True)  # every field is set here from checked values; the database holds the constraints
        usage_record(user=user, api_key_id=api_key_id, kind="job", mode=spec.name, now=now)
    ttl = settings.DEEPREAD_SIGNED_URL_TTL_S
    urls = presign_upload(
        job_id=str(job.id),
        key=key,
        key_prefix=prefix,
        content_type=content_type,
        max_bytes=settings.DEEPREAD_MAX_UPLOAD_BYTES,
        ttl=ttl,
        base_url=base_url,
    )
    return UploadTicket(job=job, urls=urls, key_prefix=prefix, expires_in=ttl, quota=quota)


def job_upload_receive(*, job_id: uuid.UUID | str, filename: str, data: bytes) -> Job:
    """Store an upload that arrived through a local signed URL and queue the job.

    The file is checked first (type from magic bytes, size, pixel and page caps); a refused file stores nothing and
    leaves the job awaiting a correct upload.

    Raises TooLarge (413) past the upload, pixel or page limits, InvalidInput (400) for a file we do not read,
    NotFound (404) for an unknown job and Conflict (409) for one that awaits no upload.
    """
    info = inspect_upload(data, max_pages=settings.DEEPREAD_MAX_PDF_PAGES, param="file")
    job = _upload_acceptor(job_id)
    name = job.filename or safe_filename(filename, fallback=f"upload.{info.extension}")
    # The file is written before the transaction, not inside it: no row lock (nor SQLite's writer lock) is held
    # while up to DEEPREAD_MAX_UPLOAD_BYTES go to disk. A file that loses the race below is deleted again.
    stored = default_storage.save(
        upload_key_prefix(account_id=job.owner_id, job_id=str(job.id)) + name, ContentFile(data)
    )
    with transaction.atomic():
        try:
            job = _upload_acceptor(job_id, lock=True)
        except (NotFound, Conflict):
            default_storage.delete(stored)
            raise
        now = timezone.now()
        Job.objects.filter(pk=job.pk).update(
            status=JobStatus.QUEUED,
            source_kind=info.kind,
            source_pages=info.page_count,
            filename=name,
            upload_key=stored,
            size=len(data),
            content_type=info.mime_type,
            page_count=info.page_count,
            uploaded_at=now,
            updated_at=now,
        )
        job_enqueue_on_commit(job_id=job.pk)
    job.status, job.filename, job.upload_key, job.size = JobStatus.QUEUED, name, stored, len(data)
    job.content_type, job.page_count, job.uploaded_at = info.mime_type, info.page_count, now
    job.source_kind, job.source_pages = info.kind, info.page_count
    return job


def _upload_acceptor(job_id: uuid.UUID | str, *, lock: bool = False) -> Job:
    """The job awaiting this upload (locked with `lock`). Raises NotFound, or Conflict when it awaits none."""
    jobs = Job.objects.select_for_update() if lock else Job.objects
    job = jobs.filter(pk=job_id).first()
    if job is None:
        raise NotFound("No such upload.")
    if job.status == JobStatus.CANCELLED and not job.uploaded_at:
        raise Conflict("This job was cancelled before its file arrived; create a new job for the file.")
    if job.status != JobStatus.AWAITING_UPLOAD:
        raise Conflict("A file was already uploaded for this job.")
    return job


def job_upload_found(*, job_id: uuid.UUID | str, key: str) -> Job | None:
    """An upload that went straight to the bucket (S3 pre-signed PUT or POST): check it in storage and queue the
    job, once. A file that fails the checks is deleted and the job fails with the reason (and is refunded)."""
    job = Job.objects.filter(pk=job_id, status=JobStatus.AWAITING_UPLOAD).first()
    prefix = upload_key_prefix(account_id=job.owner_id, job_id=str(job.id)) if job else ""
    if job is None or not key.startswith(prefix) or "/" in key[len(prefix) :]:
        return None
    with default_storage.open(key) as fh:
        data = fh.read(settings.DEEPREAD_MAX_UPLOAD_BYTES + 1)
    try:
        info = inspect_upload(data, max_pages=settings.DEEPREAD_MAX_PDF_PAGES, param="file")
    except ApplicationError as exc:  # TooLarge or InvalidInput: the file is refused, the job fails saying why
        default_storage.delete(key)
        return job_fail(job_id=job.pk, message=exc.message)
    now = timezone.now()
    name = safe_filename(key[len(prefix) :], fallback=f"upload.{info.extension}")
    with transaction.atomic():
        claimed = Job.objects.filter(pk=job.pk, status=JobStatus.AWAITING_UPLOAD).update(
            status=JobStatus.QUEUED,
            filename=job.filename or name,
            upload_key=key,
            size=len(data),
            content_type=info.mime_type,
            page_count=info.page_count,
            source_kind=info.kind,
            source_pages=info.page_count,
            uploaded_at=now,
            updated_at=now,
        )
        if claimed:
            job_enqueue_on_commit(job_id=job.pk)
    return Job.objects.get(pk=job.pk) if claimed else None


def job_enqueue_on_commit(*, job_id: uuid.UUID | str) -> None:
    """Send `job_process` for this job once the current transaction commits (nothing is sent if it rolls back)."""
    from ocrjobs import dispatch

    transaction.on_commit(lambda: dispatch.job_process_send(str(job_id)))


# --- running ----------------------------------------------------------------------------------------------------
def job_claim(*, job_id: uuid.UUID | str, owner: str = "", now: dt.datetime | None = None) -> bool:
    """Compare-and-set: a queued job, or a processing one whose lease ran out (its worker died), becomes `owner`'s
    with a fresh lease of DEEPREAD_JOB_LEASE_S. Idempotent: False while another owner's lease runs."""
    now = now or timezone.now()
    claimable = Q(status=JobStatus.QUEUED) | Q(status=JobStatus.PROCESSING, lease_until__lt=now)
    return (
        Job.objects.filter(claimable, pk=job_id).update(
            status=JobStatus.PROCESSING,
            started_at=now,
            lease_until=now + dt.timedelta(seconds=settings.DEEPREAD_JOB_LEASE_S),
            lease_owner=owner,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
        == 1
    )
