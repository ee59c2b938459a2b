"""Writes for OCR jobs: creation under the quota, receiving uploads, running and finishing jobs.

The same functions serve the DRF API, the local storage endpoints, the dashboard and the Celery tasks.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from accounts.quota import QuotaStatus, month_start
from accounts.services import quota_consume, quota_refund
from deepread.errors import Conflict, InvalidInput, NotFound
from inference.base import EngineError, ModeSpec, Usage
from inference.documents import ALLOWED_CONTENT_TYPES, InputError, inspect_document, iter_page_images
from inference.registry import engine_supports, get_engine
from modes.selectors import mode_get
from ocrjobs.filenames import file_stem, result_storage_key, safe_filename, upload_key_prefix
from ocrjobs.models import Job, JobPage, JobStatus
from ocrjobs.storage import UploadUrls, presign_upload

logger = logging.getLogger(__name__)

FILENAME_PLACEHOLDER = "${filename}"
INTERNAL_ERROR = "Internal error while processing this file. It was logged; try the job again later."


@dataclass(frozen=True)
class UploadTicket:
    job: Job
    urls: UploadUrls
    key_prefix: str
    expires_in: int
    quota: QuotaStatus


def _check_content_type(content_type: str | None) -> str:
    content_type = (content_type or "").split(";")[0].strip().lower()
    if content_type and content_type not in ALLOWED_CONTENT_TYPES:
        raise InvalidInput(
            f"Unsupported content type {content_type!r}: use image/png, image/jpeg, image/bmp, image/tiff "
            "or application/pdf.",
            param="content_type",
        )
    return content_type


def check_mode_servable(mode: ModeSpec) -> None:
    if not engine_supports(settings.DEEPREAD_ENGINE, mode.output_kind):
        raise InvalidInput(
            f"Mode {mode.name!r} ({mode.output_kind}) needs the DeepSeek-OCR engine; this server runs the "
            f"{settings.DEEPREAD_ENGINE} CPU engine, which cannot do it. Ask the operator to set DEEPREAD_ENGINE=vllm.",
            param="mode",
        )


def job_create(
    *,
    user: User,
    mode: str | None,
    filename: str | None = None,
    content_type: str | None = None,
    base_url: str,
) -> UploadTicket:
    """Make a job awaiting its upload and return the signed URLs for it. Spends one request of the quota."""
    content_type = _check_content_type(content_type)
    spec = mode_get(user=user, name=mode)
    check_mode_servable(spec)
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
        )
        job.full_clean()
        job.save(force_insert=True)
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

    The file is checked first (type from magic bytes, pixel and page caps); a refused file stores nothing and
    leaves the job awaiting a correct upload.
    """
    if len(data) > settings.DEEPREAD_MAX_UPLOAD_BYTES:
        raise InvalidInput("The file is larger than the upload limit.")
    try:
        info = inspect_document(
            data, max_pixels=settings.DEEPREAD_MAX_PIXELS, max_pages=settings.DEEPREAD_MAX_PDF_PAGES
        )
    except InputError as exc:
        raise InvalidInput(exc.message, param="file") from exc
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            raise NotFound("No such upload.")
        if job.status != JobStatus.AWAITING_UPLOAD:
            raise Conflict("A file was already uploaded for this job.")
        name = job.filename or safe_filename(filename, fallback=f"upload.{info.extension}")
        stored = default_storage.save(
            upload_key_prefix(account_id=job.owner_id, job_id=str(job.id)) + name, ContentFile(data)
        )
        now = timezone.now()
        Job.objects.filter(pk=job.pk).update(
            status=JobStatus.QUEUED,
            filename=name,
            upload_key=stored,
            size=len(data),
            content_type=info.mime_type,
            page_count=info.page_count,
            uploaded_at=now,
            updated_at=now,
        )
        job_enqueue_on_commit(job_id=job.pk)
    job.refresh_from_db()
    return job


def job_enqueue_on_commit(*, job_id: uuid.UUID | str) -> None:
    from ocrjobs.tasks import job_process

    transaction.on_commit(lambda: job_process.delay(str(job_id)))


# --- running ----------------------------------------------------------------------------------------------------
def job_claim(*, job_id: uuid.UUID | str, now: dt.datetime | None = None) -> bool:
    """Compare-and-set: a queued job, or a processing one whose lease ran out, becomes ours. Idempotent."""
    now = now or timezone.now()
    claimable = Q(status=JobStatus.QUEUED) | Q(status=JobStatus.PROCESSING, lease_until__lt=now)
    return (
        Job.objects.filter(claimable, pk=job_id).update(
            status=JobStatus.PROCESSING,
            started_at=now,
            lease_until=now + dt.timedelta(seconds=settings.DEEPREAD_JOB_LEASE_S),
            attempts=F("attempts") + 1,
            updated_at=now,
        )
        == 1
    )


def _engine():
    return get_engine(settings.DEEPREAD_ENGINE, **engine_options())


def engine_options() -> dict[str, object]:
    if settings.DEEPREAD_ENGINE == "rapidocr":
        cores = os.cpu_count() or 1
        return {"threads": max(1, cores // settings.DEEPREAD_WORKER_CONCURRENCY)}
    return {}


def job_run(*, job_id: uuid.UUID | str) -> Job | None:
    """Process a claimed-or-claimable job page by page. Returns None when another worker holds it or it is done.

    Holds no transaction across inference. Pages already stored are not recognised again. Raises EngineError with
    `retryable` set for the task to retry; every other failure ends the job with a public message.
    """
    if not job_claim(job_id=job_id):
        return None
    job = Job.objects.select_related("owner").get(pk=job_id)
    started = time.monotonic()
    try:
        data = default_storage.open(job.upload_key).read()
        info = inspect_document(
            data, max_pixels=settings.DEEPREAD_MAX_PIXELS, max_pages=settings.DEEPREAD_MAX_PDF_PAGES
        )
        spec = ModeSpec(job.mode, job.mode, "", job.prompt, job.output_kind)
        engine = _engine()
        done = frozenset(JobPage.objects.filter(job=job).values_list("page", flat=True))
        Job.objects.filter(pk=job.pk).update(page_count=info.page_count, pages_done=len(done))
        for number, image in iter_page_images(
            data, info, dpi=settings.DEEPREAD_PDF_DPI, max_pixels=settings.DEEPREAD_MAX_PIXELS, skip=done
        ):
            if image is None:
                continue
            page = engine.recognize(image, spec)
            JobPage.objects.update_or_create(job=job, page=number, defaults={"result": page.as_dict(number)})
            Job.objects.filter(pk=job.pk).update(
                pages_done=F("pages_done") + 1,
                lease_until=timezone.now() + dt.timedelta(seconds=settings.DEEPREAD_JOB_LEASE_S),
                updated_at=timezone.now(),
            )
        return job_complete(job=job, model=engine.model_name, elapsed_ms=int((time.monotonic() - started) * 1000))
    except InputError as exc:
        return job_fail(job_id=job.pk, message=exc.message)
    except EngineError as exc:
        if exc.retryable:
            Job.objects.filter(pk=job.pk, status=JobStatus.PROCESSING).update(status=JobStatus.QUEUED)
            raise
        return job_fail(job_id=job.pk, message=exc.message)
    except FileNotFoundError:
        return job_fail(job_id=job.pk, message="The uploaded file is missing from storage; upload it again.")
    except Exception:
        logger.exception("Job %s failed", job.pk)
        return job_fail(job_id=job.pk, message=INTERNAL_ERROR)


def build_result(*, job: Job, pages: list[dict], model: str, elapsed_ms: int) -> dict:
    usage = Usage(
        prompt_tokens=sum(p["usage"]["prompt_tokens"] for p in pages),
        completion_tokens=sum(p["usage"]["completion_tokens"] for p in pages),
    )
    document = {
        "job_id": str(job.id),
        "filename": job.filename,
        "mode": job.mode,
        "model": model,
        "extracted_text": "\n\n".join(p["text"] for p in pages if p["text"]),
        "pages": pages,
        "usage": usage.as_dict(),
        "created_at": job.created_at.isoformat(),
        "processing_ms": elapsed_ms,
    }
    if job.output_kind == "table":
        document["tables"] = [t | {"page": p["page"]} for p in pages for t in p.get("tables", [])]
    return document


def _allocate_output_key(*, job: Job) -> str:
    """`<mode>/<stem>.json`, or `<mode>/<stem>-<n>.json` when taken: no result ever overwrites another."""
    stem = file_stem(job.filename)
    base = f"{job.mode}/{stem}"
    taken = set(
        Job.objects.filter(owner_id=job.owner_id, output_key__startswith=base).values_list("output_key", flat=True)
    )
    n = 1
    while True:
        candidate = f"{base}.json" if n == 1 else f"{base}-{n}.json"
        n += 1
        if candidate in taken:
            continue
        try:
            with transaction.atomic():
                Job.objects.filter(pk=job.pk).update(output_key=candidate)
            return candidate
        except IntegrityError:
            taken.add(candidate)


def job_complete(*, job: Job, model: str, elapsed_ms: int) -> Job:
    pages = [p.result for p in JobPage.objects.filter(job=job).order_by("page")]
    output_key = job.output_key or _allocate_output_key(job=job)
    result_key = result_storage_key(account_id=job.owner_id, output_key=output_key)
    document = build_result(job=job, pages=pages, model=model, elapsed_ms=elapsed_ms)
    if default_storage.exists(result_key):
        default_storage.delete(result_key)
    default_storage.save(result_key, ContentFile(json.dumps(document, ensure_ascii=False).encode()))
    now = timezone.now()
    Job.objects.filter(pk=job.pk, status=JobStatus.PROCESSING).update(
        status=JobStatus.COMPLETED,
        output_key=output_key,
        result_key=result_key,
        model=model,
        finished_at=now,
        lease_until=None,
        updated_at=now,
        error="",
    )
    job.refresh_from_db()
    return job


def job_fail(*, job_id: uuid.UUID | str, message: str) -> Job:
    """End a job with a public message and give back the request it spent (once)."""
    now = timezone.now()
    with transaction.atomic():
        Job.objects.filter(pk=job_id).exclude(status=JobStatus.COMPLETED).update(
            status=JobStatus.FAILED, error=message, finished_at=now, lease_until=None, updated_at=now
        )
        job = Job.objects.get(pk=job_id)
        if job.status == JobStatus.FAILED and Job.objects.filter(pk=job_id, refunded=False).update(refunded=True):
            quota_refund(user_id=job.owner_id, month=job.usage_month)
    job.refresh_from_db()
    return job


def jobs_requeue_stale(*, now: dt.datetime | None = None, max_attempts: int = 3) -> list[str]:
    """The sweep: re-enqueue jobs left queued past a while, or processing past their lease (lost messages)."""
    now = now or timezone.now()
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
