"""Reads for OCR jobs. Every one is scoped by owner, so no interface can reach another account's jobs."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from django.core.files.storage import default_storage
from django.db.models import Count, Q, QuerySet

from accounts.models import User
from deepread.errors import NotFound
from ocrjobs.models import Job, JobStatus


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    total_count: int
    completed_count: int
    pending_count: int


def job_queryset(*, user: User, mode: str | None = None, filename: str | None = None) -> QuerySet[Job]:
    qs = Job.objects.filter(owner=user)
    if mode:
        qs = qs.filter(mode=mode)
    if filename:
        qs = qs.filter(filename__icontains=filename)
    return qs


def job_list(
    *, user: User, mode: str | None = None, filename: str | None = None, limit: int = 100, offset: int = 0
) -> JobPage:
    """Newest first, one page of rows, and counts over every match (two queries)."""
    qs = job_queryset(user=user, mode=mode, filename=filename)
    counts = qs.aggregate(
        total=Count("pk"),
        completed=Count("pk", filter=Q(status=JobStatus.COMPLETED)),
        pending=Count("pk", filter=Q(status__in=[JobStatus.AWAITING_UPLOAD, JobStatus.QUEUED])),
    )
    jobs = list(qs.order_by("-created_at", "-pk")[offset : offset + limit])
    return JobPage(
        jobs=jobs,
        total_count=counts["total"],
        completed_count=counts["completed"],
        pending_count=counts["pending"],
    )


def job_get(*, user: User, job_id: uuid.UUID | str) -> Job:
    try:
        job_uuid = uuid.UUID(str(job_id))
    except ValueError:
        raise NotFound("No such job.") from None
    job = Job.objects.filter(owner=user, pk=job_uuid).first()
    if job is None:
        raise NotFound("No such job.")
    return job


def job_get_by_output_key(*, user: User, output_key: str) -> Job:
    job = Job.objects.filter(owner=user, output_key=output_key, status=JobStatus.COMPLETED).first()
    if job is None:
        raise NotFound(f"No result file {output_key!r} for this API key.")
    return job


def job_result_document(*, job: Job) -> dict | None:
    if job.status != JobStatus.COMPLETED or not job.result_key:
        return None
    with default_storage.open(job.result_key) as fh:
        return json.load(fh)
