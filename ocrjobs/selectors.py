"""Reads for OCR jobs. Every one is scoped by owner, so no interface can reach another account's jobs."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db.models import Count, QuerySet

from accounts.models import User
from core.errors import NotFound
from ocrjobs.models import Job, JobStatus
from storage.keys import artifact_storage_key


@dataclass(frozen=True)
class JobListPage:
    """One page of a job list (not a recognised page, which is `models.JobPage`): `jobs` holds at most `limit` Job
    rows (or dicts of LIST_FIELDS), the counts cover every job matching the filters."""

    jobs: list
    total_count: int
    completed_count: int
    pending_count: int


STATUS_FILTERS = {
    "pending": [JobStatus.AWAITING_UPLOAD, JobStatus.QUEUED],
    "processing": [JobStatus.PROCESSING],
    "completed": [JobStatus.COMPLETED],
    "failed": [JobStatus.FAILED],
    "cancelled": [JobStatus.CANCELLED],
}


def job_queryset(
    *, user: User, mode: str | None = None, filename: str | None = None, status: str | None = None
) -> QuerySet[Job]:
    """The user's jobs, optionally by exact mode, filename substring (case-insensitive) and status filter name."""
    qs = Job.objects.filter(owner=user)
    if mode:
        qs = qs.filter(mode=mode)
    if filename:
        qs = qs.filter(filename__icontains=filename)
    if status in STATUS_FILTERS:
        qs = qs.filter(status__in=STATUS_FILTERS[status])
    return qs


LIST_FIELDS = (
    "id",
    "filename",
    "mode",
    "status",
    "output_key",
    "size",
    "updated_at",
    "error",
    "page_count",
    "pages_done",
)


def _status_counts(qs: QuerySet[Job], *, key: str) -> dict[str, int]:
    """Jobs per status in one GROUP BY over (owner, status). For a large account (DEEPREAD_JOB_COUNTS_CACHE_MIN
    jobs and more) the answer is kept for DEEPREAD_JOB_COUNTS_CACHE_S seconds: counting 100,000 rows on every
    poll of the job list costs more than the list itself, and counts a second old still cover every match."""
    cached = cache.get(key)
    if cached is not None:
        return cached
    by_status = dict(qs.order_by().values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
    if sum(by_status.values()) >= settings.DEEPREAD_JOB_COUNTS_CACHE_MIN:
        cache.set(key, by_status, timeout=settings.DEEPREAD_JOB_COUNTS_CACHE_S)
    return by_status


def job_list(
    *,
    user: User,
    mode: str | None = None,
    filename: str | None = None,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
    as_rows: bool = False,
) -> JobListPage:
    """Newest first, one page of jobs (or of plain rows of LIST_FIELDS), and counts over every match."""
    qs = job_queryset(user=user, mode=mode, filename=filename, status=status)
    by_status = _status_counts(qs, key=f"job-counts:{user.pk}:{mode}:{filename}:{status}")
    counts = {
        "total": sum(by_status.values()),
        "completed": by_status.get(JobStatus.COMPLETED, 0),
        "pending": by_status.get(JobStatus.AWAITING_UPLOAD, 0) + by_status.get(JobStatus.QUEUED, 0),
    }
    rows = qs.order_by("-created_at", "-pk")[offset : offset + limit]
    # The API lists plain rows: reading only the listed columns skips building model instances for a page of 100.
    jobs = list(rows.values(*LIST_FIELDS) if as_rows else rows)
    return JobListPage(
        jobs=jobs,
        total_count=counts["total"],
        completed_count=counts["completed"],
        pending_count=counts["pending"],
    )


def job_exists(*, user: User) -> bool:
    """True when the user has made any job."""
    return Job.objects.filter(owner=user).exists()


def job_get(*, user: User, job_id: uuid.UUID | str) -> Job:
    """One of `user`'s jobs by id (UUID or its string); raises NotFound (404) for a malformed or another user's id."""
    try:
        job_uuid = uuid.UUID(str(job_id))
    except ValueError:
        raise NotFound("No such job.") from None
    job = Job.objects.filter(owner=user, pk=job_uuid).first()
    if job is None:
        raise NotFound("No such job.")
    return job


def job_get_by_output_key(*, user: User, output_key: str) -> Job:
    """The user's completed job with `output_key`; raises NotFound (404) when there is none."""
    job = Job.objects.filter(owner=user, output_key=output_key, status=JobStatus.COMPLETED).first()
    if job is None:
        raise NotFound(f"No result file {output_key!r} for this API key.")
    return job


ARTIFACT_NAME = re.compile(r"page-\d{1,5}-(?:image-\d{1,4}|annotated)\.png")


def download_key(*, user: User, file_path: str) -> str:
    """The storage key behind a client's `file_path`: a result (`<mode>/<stem>.json`) or one of its page artifacts
    (`<mode>/<stem>/page-1-image-1.png`), only ever of the caller's own completed jobs.

    Raises NotFound (404) when `file_path` is not one of the user's result files.
    """
    prefix, _, name = file_path.rpartition("/")
    if prefix and ARTIFACT_NAME.fullmatch(name):
        job = job_get_by_output_key(user=user, output_key=f"{prefix}.json")
        key = artifact_storage_key(account_id=job.owner_id, output_key=job.output_key, name=name)
        if not default_storage.exists(key):
            raise NotFound(f"No file {file_path!r} for this API key.")
        return key
    return job_get_by_output_key(user=user, output_key=file_path).result_key


def job_result_bytes(*, job: Job) -> bytes | None:
    """The stored result document's JSON bytes, or None unless the job completed with a result.

    Raises OSError (FileNotFoundError) when the stored file is missing.
    """
    if job.status != JobStatus.COMPLETED or not job.result_key:
        return None
    with default_storage.open(job.result_key) as fh:
        return fh.read()


def job_result_document(*, job: Job) -> dict | None:
    """The result document parsed (`{"pages": [...], ...}`), or None before a result exists; errors as
    `job_result_bytes`.
    """
    raw = job_result_bytes(job=job)
    return None if raw is None else json.loads(raw)
