"""Writes for OCR jobs: creation under the quota, receiving uploads, running and finishing jobs.

The same functions serve the DRF API, the local storage endpoints, the dashboard and the Celery tasks.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
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
from deepread.errors import Conflict, InvalidInput, NotFound, TooLarge
from inference import cancel
from inference.base import EngineError, ModeSpec, Usage
from inference.documents import (
    ALLOWED_CONTENT_TYPES,
    DocumentInfo,
    InputError,
    PageImage,
    inspect_document,
    iter_pages,
    page_image,
)
from inference.images import crop_figures
from inference.registry import engine_supports, get_engine
from modes.selectors import mode_get
from ocrjobs import page_images
from ocrjobs.filenames import (
    artifact_file_path,
    artifact_storage_key,
    file_stem,
    result_storage_key,
    safe_filename,
    upload_key_prefix,
)
from ocrjobs.leases import LeaseKeeper, job_lease_renew, job_take_over_dead, lease_owner
from ocrjobs.models import Job, JobPage, JobStatus
from ocrjobs.pages import select_pages
from ocrjobs.results import ResultDocument, ResultPage, page_document, result_page
from ocrjobs.search import job_text_index
from ocrjobs.shortcuts import job_reuse_whole, page_shortcut
from ocrjobs.storage import UploadUrls, presign_upload

logger = logging.getLogger(__name__)

FILENAME_PLACEHOLDER = "${filename}"
MISSING_UPLOAD = "The uploaded file is missing from storage; upload it again."
INTERNAL_ERROR = "Internal error while processing this file. It was logged; try the job again later."
STORAGE_UNAVAILABLE = "Storage could not be written while saving the result."


class StorageFault(Exception):
    """Storage refused a read or a write just now (a full disk, an unreachable bucket, a denied PUT). Retryable:
    the task tries again with backoff, and a job that still cannot be saved fails saying so, refunded."""

    retryable = True

    def __init__(self, message: str = STORAGE_UNAVAILABLE) -> None:
        super().__init__(message)
        self.message = message


def _storage_put(key: str, data: bytes) -> None:
    """Write one object under exactly `key`, replacing what is there. Any storage failure becomes a StorageFault;
    the underlying error goes to the log, never to the caller's public message."""
    try:
        if default_storage.exists(key):
            default_storage.delete(key)
        saved = default_storage.save(key, ContentFile(data))
    except Exception as exc:
        logger.warning("Storage write of %s failed: %s", key, exc, exc_info=True)
        raise StorageFault() from exc
    if saved != key:  # another writer got there between delete and save: keep ours under the reserved name
        default_storage.delete(saved)
        raise StorageFault()


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
    pages: str | None = None,
    callback_url: str | None = None,
    api_key_id: int | None = None,
    force_ocr: bool = False,
) -> UploadTicket:
    """Make a job awaiting its upload and return the signed URLs for it. Spends one request of the quota.

    `pages` (`1-3,7`, ocrjobs.pages) limits the pages recognised; `callback_url` gets this job's webhook events
    (ocrjobs.webhooks). Both are checked first: a bad one is InvalidInput with nothing spent. `force_ocr` sends
    every page to the engine even where a text layer or an earlier result could answer it (ocrjobs.shortcuts)."""
    from ocrjobs.pages import normalize_pages
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
        if exc.kind == "too_large":
            raise TooLarge(exc.message, param="file") from exc
        raise InvalidInput(exc.message, param="file") from exc
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
        if len(data) > settings.DEEPREAD_MAX_UPLOAD_BYTES:
            raise InputError("The file is larger than the upload limit.", "too_large")
        info = inspect_document(
            data, max_pixels=settings.DEEPREAD_MAX_PIXELS, max_pages=settings.DEEPREAD_MAX_PDF_PAGES
        )
    except InputError as exc:
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


def job_enqueue_on_commit(*, job_id: uuid.UUID | str) -> None:
    from ocrjobs.tasks import job_process

    transaction.on_commit(lambda: job_process.delay(str(job_id)))


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


def _engine():
    return get_engine(settings.DEEPREAD_ENGINE, **engine_options())


def engine_options() -> dict[str, object]:
    if settings.DEEPREAD_ENGINE == "rapidocr":
        cores = os.cpu_count() or 1
        return {"threads": max(1, cores // settings.DEEPREAD_WORKER_CONCURRENCY)}
    return vllm_engine_options()


def vllm_engine_options() -> dict[str, object]:
    """The vLLM engine's options from the settings, whichever engine this process runs."""
    return {
        "base_urls": tuple(settings.VLLM_BASE_URLS),
        "model": settings.VLLM_MODEL,
        "api_key": settings.VLLM_API_KEY,
        "max_inflight": settings.DEEPREAD_VLLM_MAX_INFLIGHT,
        "max_tokens": settings.DEEPREAD_VLLM_MAX_TOKENS,
        "connect_timeout_s": settings.DEEPREAD_VLLM_CONNECT_TIMEOUT_S,
        "read_timeout_s": settings.DEEPREAD_VLLM_READ_TIMEOUT_S,
        "retries": settings.DEEPREAD_VLLM_RETRIES,
        "backoff_s": settings.DEEPREAD_VLLM_BACKOFF_S,
        "cooldown_s": settings.DEEPREAD_VLLM_COOLDOWN_S,
        "page_format": settings.DEEPREAD_VLLM_PAGE_FORMAT,
        "cpu_fallback": settings.DEEPREAD_LADDER_CPU,
    }


def pages_fan_out() -> bool:
    """PDF pages become tasks of their own on the gpu queue, so they reach the server together. The CPU engine
    gains nothing from it: its pool already has one process per core."""
    return settings.DEEPREAD_ENGINE == "vllm"


class _JobGuard:
    """One policy for every failure while a job runs, shared by the whole-job and the per-page tasks.

    An input problem or a terminal engine error ends the job with a public message; a retryable engine error is
    raised again for the task to retry; anything else is logged with its traceback and shown as an internal error.
    """

    def __init__(self, job_id: uuid.UUID | str, *, requeue: bool) -> None:
        self.job_id = job_id
        self.requeue = requeue
        self.failed: Job | None = None

    def __enter__(self) -> _JobGuard:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None:
            return False
        if isinstance(exc, InputError):
            self.failed = job_fail(job_id=self.job_id, message=exc.message)
        elif isinstance(exc, EngineError | StorageFault):
            if exc.retryable:
                if self.requeue:
                    Job.objects.filter(pk=self.job_id, status=JobStatus.PROCESSING).update(
                        status=JobStatus.QUEUED, lease_until=None, lease_owner=""
                    )
                return False
            self.failed = job_fail(job_id=self.job_id, message=exc.message)
        elif isinstance(exc, FileNotFoundError):
            self.failed = job_fail(job_id=self.job_id, message=MISSING_UPLOAD)
        elif isinstance(exc, Exception):
            logger.error("Job %s failed", self.job_id, exc_info=(exc_type, exc, tb))
            self.failed = job_fail(job_id=self.job_id, message=INTERNAL_ERROR)
        else:
            return False
        return True


def _read_upload(job: Job) -> tuple[bytes, DocumentInfo]:
    try:
        with default_storage.open(job.upload_key) as fh:
            data = fh.read()
    except FileNotFoundError:
        raise
    except Exception as exc:
        if _missing_object(exc):
            raise FileNotFoundError(job.upload_key) from exc
        logger.warning("Storage read of %s failed: %s", job.upload_key, exc, exc_info=True)
        raise StorageFault("Storage could not be read while fetching the upload.") from exc
    return data, page_images.document_info(job=job, data=data)


def job_run(*, job_id: uuid.UUID | str) -> Job | None:
    """Process a claimed-or-claimable job. Returns None when another worker holds it, or when this one lost or
    handed back its lease meanwhile (ocrjobs/leases.py): the pages stored so far are kept for whoever goes on.

    Holds no transaction across inference, and pages already stored are not recognised again. A heartbeat keeps
    the job's lease while it runs. With the vLLM engine
    a multi-page document fans out: each remaining page becomes a `job_page_process` task, and whichever stores the
    last page finishes the job. Raises EngineError with `retryable` set for the task to retry.
    """
    owner = lease_owner()
    if not job_claim(job_id=job_id, owner=owner) and not job_take_over_dead(job_id=job_id, owner=owner):
        return None
    job = Job.objects.select_related("owner").get(pk=job_id)
    if job.attempts > 1:
        logger.info("Job %s resumed by %s (claim %d), from its stored pages", job.pk, owner, job.attempts)
    with LeaseKeeper(job_id=job.pk, owner=owner) as lease, _JobGuard(job.pk, requeue=True) as guard:
        data, info = _read_upload(job)
        _ensure_output_key(job=job)
        done = frozenset(JobPage.objects.filter(job=job).values_list("page", flat=True))
        wanted = select_pages(job.page_range, info.page_count)  # the pages asked for count, not the document's
        Job.objects.filter(pk=job.pk).update(page_count=len(wanted), pages_done=len(done))
        job.page_count = len(wanted)
        todo = [n for n in wanted if n not in done]
        done = done | frozenset(range(1, info.page_count + 1)).difference(wanted)
        if todo and _reuse_whole(job=job, data=data):  # an identical re-upload: every page from the earlier result
            return job_complete(job=job)
        if not todo:
            return job_complete(job=job)
        if pages_fan_out() and len(todo) > 1:
            from ocrjobs.tasks import job_page_process

            todo = _pages_prepare(job=job, data=data, info=info, skip=done, lease=lease)
            if todo == []:  # every page was answered without the model
                return job_complete(job=job)
            # The pages' messages are what the broker redelivers now; the job's lease only has to outlast the wait
            # for a free thread, and every page that runs lengthens it (never shortens it).
            Job.objects.filter(pk=job.pk, lease_owner=owner).update(
                lease_until=timezone.now() + dt.timedelta(seconds=settings.DEEPREAD_JOB_FANOUT_LEASE_S)
            )
            for number in todo or ():
                job_page_process.delay(str(job.pk), number)
            return job if todo is not None else None
        engine = _engine()
        for page in iter_pages(
            data, info, dpi=settings.DEEPREAD_PDF_DPI, max_pixels=settings.DEEPREAD_MAX_PIXELS, skip=done
        ):
            if not lease.held:
                logger.info("Job %s: lease given up at page %d; stopping here", job.pk, page.number)
                return None
            if _page_recognize_store(job=job, page=page, engine=engine, data=data, info=info):
                return job_complete(job=job)
        return job
    return guard.failed


def job_page_run(*, job_id: uuid.UUID | str, page: int) -> Job | None:
    """One fanned-out page. Idempotent: a page already stored, or a job no longer processing, is left alone,
    unless every page is stored and the job is still open: the result failed to save, and this retry saves it.
    The job's lease is lengthened while the page runs (any worker may run any page: no owner)."""
    job = Job.objects.select_related("owner").filter(pk=job_id, status=JobStatus.PROCESSING).first()
    if job is None:
        return None
    with LeaseKeeper(job_id=job.pk, owner=None), _JobGuard(job.pk, requeue=False) as guard:
        job_lease_renew(job_id=job.pk, owner=None)
        if JobPage.objects.filter(job=job, page=page).exists():
            if job.page_count and JobPage.objects.filter(job=job).count() >= job.page_count:
                return job_complete(job=job)
            return None
        image, data, info = page_images.page_load(job=job, number=page), None, None
        if image is None:  # fanned out before page images were stored: the old way, from the whole upload
            data, info = _read_upload(job)
            image = page_image(data, info, page, dpi=settings.DEEPREAD_PDF_DPI, max_pixels=settings.DEEPREAD_MAX_PIXELS)
        if _page_recognize_store(job=job, page=image, engine=_engine(), data=data, info=info, stored=data is None):
            return job_complete(job=job)
        return job
    return guard.failed


def _pages_prepare(*, job: Job, data: bytes, info: DocumentInfo, skip: frozenset[int], lease) -> list[int] | None:
    """Before fanning out: render each page not in `skip` once, answer the pages a shortcut can (a text layer
    needs the upload, which the page tasks do not read), and store the others' images for their page tasks.
    Returns the pages left for the model ([] when a shortcut stored the last page); None once the lease is lost."""
    todo, last = [], False
    for page in iter_pages(
        data, info, dpi=settings.DEEPREAD_PDF_DPI, max_pixels=settings.DEEPREAD_MAX_PIXELS, skip=skip
    ):
        if not lease.held:
            return None
        stored = JobPage.objects.filter(job=job, page=page.number).exists()
        if not stored and not (last := _page_recognize_store(job=job, page=page, engine=None, data=data, info=info)):
            todo.append(page.number)
    return [] if last else todo


def _page_recognize_store(
    *, job: Job, page: PageImage, engine, data: bytes | None = None, info: DocumentInfo | None = None, stored=False
) -> bool:
    """Recognise one page (or answer it by a shortcut) and store its result, its image (unless `stored` already)
    and its annotated image. True when it stored the job's last page. With `engine` None, only a shortcut
    answers: a page that needs the model gets its image stored and is left (False)."""
    cancel.check()  # a job cancelled meanwhile stops before its next page (ocrjobs/cancellation.py)
    model = engine.model_name if engine is not None else _engine().model_name
    document, reuse_key = page_shortcut(job=job, page=page, model=model, data=data, info=info)
    if document is None and engine is None:
        page_images.page_store(job=job, page=page)  # for its page task (which falls back to the upload without it)
        return False
    if document is None:
        spec = ModeSpec(job.mode, job.mode, "", job.prompt, job.output_kind)
        result = engine.recognize(page.image, spec, source=page.source)
        figures = _store_figures(job=job, page=page, blocks=result.blocks)
        document = page_document(result, number=page.number, model=engine.model_name, figure_paths=figures)
    last = job_page_store(job_id=job.pk, number=page.number, result=document, reuse_key=reuse_key)
    if not stored:  # after the page: images that could not be stored are drawn again at completion
        page_images.page_store(job=job, page=page)
    page_images.annotated_store(job=job, page=page, blocks=document["blocks"])
    return last


def _reuse_whole(*, job: Job, data: bytes) -> bool:
    """Store every page of an identical earlier upload's result for this job; True when it did."""
    pages = job_reuse_whole(job=job, data=data, model=_engine().model_name)
    last = False
    for number, document, reuse_key in pages:
        last = job_page_store(job_id=job.pk, number=number, result=document, reuse_key=reuse_key) or last
    return bool(pages) and last


def _store_figures(*, job: Job, page: PageImage, blocks: list) -> list[str | None]:
    """Cut the figure blocks out of the page and store them beside the result: each figure's path as clients
    name it (`<mode>/<stem>/page-<n>-image-<k>.png`), None where its box was too small to cut."""
    paths: list[str | None] = []
    for n, png in enumerate(crop_figures(page.image, blocks), start=1):
        if not png:
            paths.append(None)
            continue
        name = f"page-{page.number}-image-{n}.png"
        _storage_put(artifact_storage_key(account_id=job.owner_id, output_key=job.output_key, name=name), png)
        paths.append(artifact_file_path(output_key=job.output_key, name=name))
    return paths


def job_page_store(*, job_id: uuid.UUID | str, number: int, result: dict, reuse_key: str = "") -> bool:
    """Store one page's result. True only for the call that stored the job's last page: it finishes the job.

    The job row is locked while the page is added and counted, so two pages finishing together cannot both
    believe they were last, nor both miss it. A page finished just after its job was handed back (a worker that
    is stopping) is kept too, for whoever takes the job next; it finishes nothing.
    """
    now = timezone.now()
    with transaction.atomic():
        job = Job.objects.select_for_update().only("pk", "status", "page_count").get(pk=job_id)
        if job.status not in (JobStatus.PROCESSING, JobStatus.QUEUED):
            return False
        _, created = JobPage.objects.get_or_create(
            job_id=job.pk, page=number, defaults={"result": result, "reuse_key": reuse_key}
        )
        if not created:
            return False
        done = JobPage.objects.filter(job_id=job.pk).count()
        Job.objects.filter(pk=job.pk).update(pages_done=done, updated_at=now)
    from ocrjobs.events import page_stored

    page_stored(job_id=job.pk, page=number)
    return job.status == JobStatus.PROCESSING and done >= (job.page_count or 0)


def build_result(*, job: Job, pages: list[ResultPage], model: str, elapsed_ms: int) -> ResultDocument:
    """The result document (ocrjobs.results.ResultDocument; API.md, "The result document") of `job` from its
    public pages in page order (`result_page`), read by `model` in `elapsed_ms` milliseconds:

    `{job_id, filename, mode, model, extracted_text, pages: [ResultPage], usage: {prompt_tokens, completion_tokens,
    total_tokens}, created_at, processing_ms}`, plus `tables` / `formulas` / `charts` (each item with its `page`)
    for those output kinds, and `failed_pages` and `warnings` when some pages failed alone. Pages are not changed.
    """
    usage = Usage(
        prompt_tokens=sum(p["usage"]["prompt_tokens"] for p in pages),
        completion_tokens=sum(p["usage"]["completion_tokens"] for p in pages),
    )
    document: ResultDocument = {
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
    if job.output_kind == "formula":
        document["formulas"] = [f | {"page": p["page"]} for p in pages for f in p.get("formulas", [])]
    if job.output_kind == "chart":
        document["charts"] = [p["chart"] | {"page": p["page"]} for p in pages if p.get("chart")]
    failed = [p["page"] for p in pages if p.get("error")]
    if failed:
        document["failed_pages"] = failed
        document["warnings"] = [f"Page {p['page']}: {p['error']}" for p in pages if p.get("error")]
    return document


def _ensure_output_key(*, job: Job) -> str:
    """The result's key, reserved when the job first runs so page artifacts can be stored beside it."""
    if not job.output_key:
        job.output_key = _allocate_output_key(job=job)
    return job.output_key


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


def job_complete(*, job: Job) -> Job:
    """Write the result document from the stored pages and mark the job completed (only a processing job)."""
    pages = [p.result for p in JobPage.objects.filter(job=job).order_by("page")]
    if pages and all(p.get("error") for p in pages):
        return job_fail(job_id=job.pk, message=pages[0]["error"])
    output_key = _ensure_output_key(job=job)
    result_key = result_storage_key(account_id=job.owner_id, output_key=output_key)
    model = next((p["model"] for p in pages if p.get("model")), "")
    now = timezone.now()
    elapsed_ms = int(((now - job.started_at).total_seconds() if job.started_at else 0) * 1000)
    page_images.job_images_finish(job=job, pages=pages)  # pages that came from elsewhere (a whole re-upload reused)
    public = [result_page(page, output_key=output_key) for page in pages]
    document = build_result(job=job, pages=public, model=model, elapsed_ms=elapsed_ms)
    _storage_put(result_key, json.dumps(document, ensure_ascii=False).encode())
    completed = Job.objects.filter(pk=job.pk, status=JobStatus.PROCESSING).update(
        status=JobStatus.COMPLETED,
        output_key=output_key,
        result_key=result_key,
        model_name=model,
        finished_at=now,
        lease_until=None,
        lease_owner="",
        updated_at=now,
        error="",
    )
    if completed:
        job_text_index(job_id=job.pk, owner_id=job.owner_id, text=document["extracted_text"])
    job.refresh_from_db()
    return job


def job_fail(*, job_id: uuid.UUID | str, message: str) -> Job:
    """End a job with a public message, give back the request it spent (once), and leave nothing partial behind:
    the page artifacts stored so far are deleted and the reserved result name is released."""
    now = timezone.now()
    with transaction.atomic():
        # A completed job stays completed, and a cancelled one cancelled (its pages may still be finishing).
        ended = (JobStatus.COMPLETED, JobStatus.CANCELLED)
        reserved = Job.objects.filter(pk=job_id).exclude(status__in=ended).values_list("owner_id", "output_key")
        reserved = reserved.first()
        Job.objects.filter(pk=job_id).exclude(status__in=ended).update(
            status=JobStatus.FAILED,
            error=message,
            finished_at=now,
            lease_until=None,
            lease_owner="",
            updated_at=now,
            output_key=None,
        )
        job = Job.objects.get(pk=job_id)
        if job.status == JobStatus.FAILED and Job.objects.filter(pk=job_id, refunded=False).update(refunded=True):
            quota_refund(user_id=job.owner_id, month=job.usage_month, day=job.created_at.astimezone(dt.UTC).date())
    if reserved and reserved[1]:
        _delete_artifacts(account_id=reserved[0], output_key=reserved[1])
    job.refresh_from_db()
    return job


def _delete_artifacts(*, account_id: int, output_key: str) -> None:
    """Best effort: a storage that refuses the deletes too (it is why the job failed) leaves them for the log."""
    folder = artifact_storage_key(account_id=account_id, output_key=output_key, name="")
    try:
        _, files = default_storage.listdir(folder)
        for name in files:
            default_storage.delete(folder + name)
        result = result_storage_key(account_id=account_id, output_key=output_key)
        if default_storage.exists(result):
            default_storage.delete(result)
    except (FileNotFoundError, NotADirectoryError):
        return
    except Exception:
        logger.warning("Could not delete the partial outputs under %s", folder, exc_info=True)


def _missing_object(exc: Exception) -> bool:
    """An S3 404 from boto3, told apart from an unreachable or refusing bucket."""
    response = getattr(exc, "response", None)
    code = str((response or {}).get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""
    return code in {"404", "NoSuchKey", "NotFound"}


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


def job_artifact_prepare(*, user: User, file_path: str) -> None:
    """A page artifact asked for by name: nothing is drawn here (a web process); a completed job whose images were
    never drawn (it completed before the worker drew them) gets them drawn by a worker, once
    (ocrjobs.page_images.images_request_draw), and the caller answers 404 until then."""
    prefix, _, name = file_path.rpartition("/")
    if not prefix or not name.endswith("-annotated.png"):
        return
    job = Job.objects.filter(owner=user, output_key=f"{prefix}.json", status=JobStatus.COMPLETED).first()
    key = artifact_storage_key(account_id=job.owner_id, output_key=job.output_key, name=name) if job else ""
    if job is not None and not default_storage.exists(key):
        page_images.images_request_draw(job=job)
