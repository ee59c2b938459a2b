"""Writes for uploads the dashboard gave up on: the job is cancelled and its request given back at once.

The job API leaves a job whose file was refused waiting for a correct upload (its client can PUT again until the
URL expires). The dashboard cannot: the browser has no other file to send, so a refusal there ends the job.
"""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import quota_refund
from core.errors import NotFound
from ocrjobs.models import Job, JobStatus

ABANDONED = "The upload was refused or did not finish: {reason} The request was given back."


def job_upload_abandon(*, user: User, job_id: uuid.UUID | str, reason: str) -> Job:
    """Cancel `user`'s job while it still awaits its upload, and refund its request once (`reason` is the
    refusal the browser was given, kept in the job's error, at most 300 characters). A job whose file arrived in
    the meantime is left to run as it is. Raises NotFound for another account's job or an unknown id."""
    now = timezone.now()
    reason = " ".join(reason.split())[:300] or "the browser gave up on it."
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id, owner=user).first()
        if job is None:
            raise NotFound("No such job.")
        cancelled = Job.objects.filter(pk=job.pk, status=JobStatus.AWAITING_UPLOAD, refunded=False).update(
            status=JobStatus.CANCELLED,
            error=ABANDONED.format(reason=reason if reason.endswith(".") else reason + "."),
            refunded=True,
            finished_at=now,
            updated_at=now,
        )
        if cancelled:
            quota_refund(user_id=job.owner_id, month=job.usage_month)
    job.refresh_from_db()
    return job
