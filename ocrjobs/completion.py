"""The end of a job: the result document built from its stored pages and written to storage (job_complete), or a
public failure message with the request given back and nothing partial left (job_fail); page artifacts drawn
beside the result."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid

from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import quota_refund
from inference.base import Usage
from ocrjobs import page_images
from ocrjobs.models import Job, JobPage, JobStatus
from ocrjobs.results import ResultDocument, ResultPage, result_page
from ocrjobs.search import job_text_index
from storage.keys import (
    artifact_storage_key,
    file_stem,
    released_output_key,
    result_storage_key,
)
from storage.objects import storage_put

logger = logging.getLogger(__name__)


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


def output_key_ensure(*, job: Job) -> str:
    """The result's key, reserved when the job first runs so page artifacts can be stored beside it."""
    if not job.output_key:
        job.output_key = _allocate_output_key(job=job)
    return job.output_key


def _allocate_output_key(*, job: Job) -> str:
    """`<mode>/<stem>.json`, or `<mode>/<stem>-<n>.json` when taken: no result ever overwrites another, and no name
    of a job deleted while download URLs signed for it may still be valid is given out again."""
    stem = file_stem(job.filename)
    base = f"{job.mode}/{stem}"
    taken = set(
        Job.objects.filter(owner_id=job.owner_id, output_key__startswith=base).values_list("output_key", flat=True)
    )
    n = 1
    while True:
        candidate = f"{base}.json" if n == 1 else f"{base}-{n}.json"
        n += 1
        if candidate in taken or released_output_key(account_id=job.owner_id, output_key=candidate):
            continue
        try:
            with transaction.atomic():
                Job.objects.filter(pk=job.pk).update(output_key=candidate)
            return candidate
        except IntegrityError:
            taken.add(candidate)


def job_complete(*, job: Job) -> Job | None:
    """Write the result document from the stored pages and mark the job completed (only a processing job)."""
    pages = [p.result for p in JobPage.objects.filter(job=job).order_by("page")]
    if pages and all(p.get("error") for p in pages):
        return job_fail(job_id=job.pk, message=pages[0]["error"])
    output_key = output_key_ensure(job=job)
    result_key = result_storage_key(account_id=job.owner_id, output_key=output_key)
    model = next((p["model"] for p in pages if p.get("model")), "")
    now = timezone.now()
    elapsed_ms = int(((now - job.started_at).total_seconds() if job.started_at else 0) * 1000)
    page_images.job_images_finish(job=job, pages=pages)  # pages that came from elsewhere (a whole re-upload reused)
    public = [result_page(page, output_key=output_key) for page in pages]
    document = build_result(job=job, pages=public, model=model, elapsed_ms=elapsed_ms)
    storage_put(result_key, json.dumps(document, ensure_ascii=False).encode())
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


def job_fail(*, job_id: uuid.UUID | str, message: str) -> Job | None:
    """End a job with a public message, give back the request it spent (once), and leave nothing partial behind:
    the page artifacts stored so far are deleted and the reserved result name is released. Returns the job as it
    now is, or None when it was deleted meanwhile (nothing is left to fail)."""
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
        job = Job.objects.filter(pk=job_id).first()
        if job is None:
            return None
        if job.status == JobStatus.FAILED and Job.objects.filter(pk=job_id, refunded=False).update(refunded=True):
            quota_refund(user_id=job.owner_id, month=job.usage_month, day=job.created_at.astimezone(dt.UTC).date())
    if reserved and reserved[1]:
        artifacts_delete(account_id=reserved[0], output_key=reserved[1])
    job.refresh_from_db()
    return job


def artifacts_delete(*, account_id: int, output_key: str) -> None:
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
