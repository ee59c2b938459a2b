"""Running a claimed job: read its upload, recognise the pages not yet stored (in the task, or one task a page),
store each page as it is done, and hand the job to completion. Tasks call job_run and job_page_run."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from inference import cancel
from inference.base import EngineError, ModeSpec
from inference.documents import (
    DocumentInfo,
    InputError,
    PageImage,
    iter_pages,
    page_image,
)
from inference.images import crop_figures
from ocr.pages import select_pages
from ocr.runtime import pages_fan_out, worker_engine
from ocrjobs import dispatch, page_images
from ocrjobs.completion import job_complete, job_fail, output_key_ensure
from ocrjobs.control import outputs_discard
from ocrjobs.leases import LeaseKeeper, job_lease_renew, job_take_over_dead, lease_owner
from ocrjobs.models import Job, JobPage, JobStatus
from ocrjobs.results import page_document
from ocrjobs.services import job_claim
from ocrjobs.shortcuts import job_reuse_whole, page_shortcut
from storage.keys import (
    artifact_file_path,
    artifact_storage_key,
)
from storage.objects import StorageFault, missing_object, storage_put

logger = logging.getLogger(__name__)

MISSING_UPLOAD = "The uploaded file is missing from storage; upload it again."
INTERNAL_ERROR = "Internal error while processing this file. It was logged; try the job again later."


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


def upload_read(job: Job) -> tuple[bytes, DocumentInfo]:
    """The job's whole upload (bytes, up to DEEPREAD_MAX_UPLOAD_BYTES) and what was learned of it at upload
    (`page_images.document_info`: kind, page count). Raises FileNotFoundError when the object is gone (the job was
    deleted) and StorageFault, which the task retries, when storage cannot be read."""
    try:
        with default_storage.open(job.upload_key) as fh:
            data = fh.read()
    except FileNotFoundError:
        raise
    except Exception as exc:
        if missing_object(exc):
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
        data, info = upload_read(job)
        output_key_ensure(job=job)
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
            todo = _pages_prepare(job=job, data=data, info=info, skip=done, lease=lease)
            if todo == []:  # every page was answered without the model
                return job_complete(job=job)
            # The pages' messages are what the broker redelivers now; the job's lease only has to outlast the wait
            # for a free thread, and every page that runs lengthens it (never shortens it).
            Job.objects.filter(pk=job.pk, lease_owner=owner).update(
                lease_until=timezone.now() + dt.timedelta(seconds=settings.DEEPREAD_JOB_FANOUT_LEASE_S)
            )
            for number in todo or ():
                dispatch.job_page_process_send(str(job.pk), number)
            return job if todo is not None else None
        engine = worker_engine()
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
            data, info = upload_read(job)
            image = page_image(data, info, page, dpi=settings.DEEPREAD_PDF_DPI, max_pixels=settings.DEEPREAD_MAX_PIXELS)
        if _page_recognize_store(
            job=job, page=image, engine=worker_engine(), data=data, info=info, stored=data is None
        ):
            return job_complete(job=job)
        return job
    return guard.failed


def _page_recognize_store(
    *, job: Job, page: PageImage, engine, data: bytes | None = None, info: DocumentInfo | None = None, stored=False
) -> bool:
    """Recognise one page (or answer it by a shortcut) and store its result, its image (unless `stored` already)
    and its annotated image. True when it stored the job's last page. With `engine` None, only a shortcut
    answers: a page that needs the model gets its image stored and is left (False)."""
    cancel.check()  # a job cancelled meanwhile stops before its next page (ocrjobs/cancellation.py)
    model = engine.model_name if engine is not None else worker_engine().model_name
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
    if not Job.objects.filter(pk=job.pk).exclude(status=JobStatus.CANCELLED).exists():
        # Cancelled or deleted while this page ran: the cancel or delete cleared the job's files before this page's
        # were written, so clear them again; nothing of it may be served to a later job that gets its name.
        outputs_discard(account_id=job.owner_id, output_key=job.output_key)
        return False
    return last


def _reuse_whole(*, job: Job, data: bytes) -> bool:
    """Store every page of an identical earlier upload's result for this job; True when it did."""
    pages = job_reuse_whole(job=job, data=data, model=worker_engine().model_name)
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
        storage_put(artifact_storage_key(account_id=job.owner_id, output_key=job.output_key, name=name), png)
        paths.append(artifact_file_path(output_key=job.output_key, name=name))
    return paths


def job_page_store(*, job_id: uuid.UUID | str, number: int, result: dict, reuse_key: str = "") -> bool:
    """Store one page's result. True only for the call that stored the job's last page: it finishes the job.

    The job row is locked while the page is added and counted, so two pages finishing together cannot both
    believe they were last, nor both miss it. A page finished just after its job was handed back (a worker that
    is stopping) is kept too, for whoever takes the job next; it finishes nothing. A job deleted while its page
    ran stores nothing and finishes nothing (False), like one that ended.
    """
    now = timezone.now()
    with transaction.atomic():
        job = Job.objects.select_for_update().only("pk", "status", "page_count").filter(pk=job_id).first()
        if job is None or job.status not in (JobStatus.PROCESSING, JobStatus.QUEUED):
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
