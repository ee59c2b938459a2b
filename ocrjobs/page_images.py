"""Page images, prepared once in the worker and stored beside the result; web processes only stream them.

For each page of a job the worker stores, under `outputs/<account>/<mode>/<stem>/`:
- `page-<n>.png`: the page as the engine read it (a rendered PDF page, a flattened TIFF frame, an image with
  transparency composited on white), unless the upload itself is that page (a plain PNG or JPEG: page 1 is then
  streamed from the upload). Fanned-out page tasks read their own page from here instead of the whole upload.
- `page-<n>-annotated.png`: the page with its blocks' boxes drawn, made when the page is recognised, or when the
  job completes for pages that came from elsewhere (a whole re-upload reused).

A job completed before this existed has neither: the web views answer 404 and ask a worker to draw them once
(`images_request_draw`, task `ocrjobs.tasks.job_images_draw`); the next request finds them.
"""

from __future__ import annotations

import io
import logging
from functools import partial

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import transaction
from PIL import Image

from inference.annotate import annotate_png
from inference.documents import DocumentInfo, PageImage, inspect_document, page_image
from ocrjobs.models import Job, JobPage, JobStatus
from ocrjobs.results import annotated_name
from storage.keys import artifact_storage_key

logger = logging.getLogger(__name__)
DRAW_REQUEST_TTL_S = 600  # a job's old images are asked of the workers at most once in this many seconds


def page_image_name(number: int) -> str:
    """The stored page image's file name beside the result: `page-<n>.png`."""
    return f"page-{number}.png"


def _key(job: Job, name: str) -> str:
    return artifact_storage_key(account_id=job.owner_id, output_key=job.output_key, name=name)


def page_image_key(*, job: Job, number: int) -> str | None:
    """The storage key of page `number`'s image, or None before the job has run (no result name yet)."""
    return _key(job, page_image_name(number)) if job.output_key else None


def annotated_key(*, job: Job, number: int) -> str | None:
    """The storage key of page `number`'s annotated image, or None before the job has run."""
    return _key(job, annotated_name(number)) if job.output_key else None


def upload_is_page(job: Job, number: int) -> bool:
    """The upload itself can stand for page `number` in a browser (a one-page PNG or JPEG), known from the row."""
    return number == 1 and job.source_kind in {"png", "jpeg"} and job.source_pages == 1


def document_info(*, job: Job, data: bytes | None = None) -> DocumentInfo:
    """What the upload is, from the row (set when it arrived: `source_kind`, `source_pages`) when the row has it
    and `data`, if given, is still the file that was inspected (same size); else from inspecting `data` (a job
    queued before the row kept it, or an S3 object replaced through its still-valid signed URL). Raises
    InputError (inference.documents) for a file that fails inspection, and ValueError with neither."""
    if job.source_kind and job.source_pages and (data is None or len(data) == job.size):
        return DocumentInfo(kind=job.source_kind, page_count=job.source_pages)
    if data is None:
        raise ValueError(f"Job {job.pk} has no inspected upload on its row.")
    return inspect_document(data, max_pixels=settings.DEEPREAD_MAX_PIXELS, max_pages=settings.DEEPREAD_MAX_PDF_PAGES)


def _put(key: str, data: bytes) -> bool:
    from storage.objects import StorageFault, storage_put

    try:
        storage_put(key, data)
    except StorageFault:
        logger.warning("Could not store %s; it is drawn again when needed", key)
        return False
    return True


def page_store(*, job: Job, page: PageImage) -> bool:
    """Store `page` as the engine reads it (`page-<n>.png`), unless the upload itself is that page. Best effort:
    False when it was not stored (storage refused; no result name yet), which is logged; whoever needs the image
    then draws it from the upload (a page task, `job_images_finish`)."""
    if page.source is not None:
        return True
    if not job.output_key:
        return False
    out = io.BytesIO()
    page.image.save(out, format="PNG", compress_level=1)
    return _put(_key(job, page_image_name(page.number)), out.getvalue())


def page_load(*, job: Job, number: int) -> PageImage | None:
    """Page `number` from its stored image (one read of that object, not of the upload), or None when it was not
    stored (a job fanned out before page images were stored)."""
    key = page_image_key(job=job, number=number)
    if key is None or not default_storage.exists(key):
        return None
    with default_storage.open(key) as fh:
        image = Image.open(io.BytesIO(fh.read()))
        image.load()
    return PageImage(number, image)


def annotated_store(*, job: Job, page: PageImage, blocks: list) -> bool:
    """Draw page `page`'s `blocks` (dicts with `bbox`) on it and store `page-<n>-annotated.png`. Best effort, as
    `page_store`: False when it was not stored (drawn again at completion, or by `job_images_draw`)."""
    if not job.output_key:
        return False
    return _put(_key(job, annotated_name(page.number)), annotate_png(page.image, blocks))


def job_images_finish(*, job: Job, pages: list[dict]) -> int:
    """At completion, in the worker: draw what is missing of `pages`' (stored page dicts) page and annotated
    images. The upload is read at most once, and only when a page's image was not stored. Returns how many pages
    were drawn. Best effort: a failure is logged, never fails the job (the viewer then says the image is missing)."""
    missing = [p for p in pages if not default_storage.exists(_key(job, annotated_name(p["page"])))]
    if not missing:
        return 0
    upload: tuple[bytes, DocumentInfo] | None = None
    try:
        for stored in missing:
            page = page_load(job=job, number=stored["page"])
            if page is None:
                if upload is None:
                    with default_storage.open(job.upload_key) as fh:
                        data = fh.read()
                    upload = (data, document_info(job=job, data=data))
                page = page_image(
                    *upload, stored["page"], dpi=settings.DEEPREAD_PDF_DPI, max_pixels=settings.DEEPREAD_MAX_PIXELS
                )
                page_store(job=job, page=page)
            annotated_store(job=job, page=page, blocks=stored.get("blocks", []))
    except Exception:
        logger.warning("Job %s: could not draw its page images", job.pk, exc_info=True)
    return len(missing)


def job_images_draw(*, job_id: str) -> int:
    """For the worker task: draw a completed job's missing page and annotated images (a job completed before they
    were drawn at completion). Returns how many pages were drawn; 0 for a job that is not completed."""
    job = Job.objects.filter(pk=job_id, status=JobStatus.COMPLETED).first()
    if job is None:
        return 0
    pages = list(JobPage.objects.filter(job=job).order_by("page").values_list("result", flat=True))
    return job_images_finish(job=job, pages=pages)


def images_request_draw(*, job: Job) -> bool:
    """From a web view that found a completed job's image missing: ask a worker to draw the job's images, at most
    once per DRAW_REQUEST_TTL_S per job. True when it asked now."""
    if job.status != JobStatus.COMPLETED or not cache.add(f"deepread:draw:{job.pk}", 1, DRAW_REQUEST_TTL_S):
        return False
    from ocrjobs import dispatch

    transaction.on_commit(partial(dispatch.job_images_draw_send, str(job.pk)))
    return True
