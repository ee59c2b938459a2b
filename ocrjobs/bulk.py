"""Several jobs at once (issue 18): cancel, delete or retry the jobs picked on the dashboard's list, through the same
services as one job (ocrjobs.control), so each keeps its rules (what a cancel gives back, what a delete removes, what
a retry spends).

Ownership is checked for the whole selection before anything happens: one query looks the ids up among the account's
own jobs, and if any id is malformed, unknown or another account's, the request is refused (NotFound) with nothing
changed. A job the action does not apply to (cancelling an ended job, retrying a completed one) is skipped and
counted, not an error.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from accounts.models import User
from core.errors import ApplicationError, InvalidInput, NotFound, QuotaExceeded
from ocrjobs import control
from ocrjobs.models import Job, JobStatus
from storage.objects import StorageFault

ACTIONS = ("cancel", "delete", "retry")
MAX_JOBS = 100  # four pages of the list; a bigger selection is refused whole


@dataclass
class BulkOutcome:
    """What a bulk action did: `done` the ids it applied to (for retry, the new jobs' ids), `skipped` the ids it
    did not apply to with the reason, `stopped` the message that ended it early (quota spent, storage down)."""

    action: str
    done: list[uuid.UUID] = field(default_factory=list)
    skipped: dict[uuid.UUID, str] = field(default_factory=dict)
    stopped: str = ""

    def summary(self) -> str:
        """One sentence for the dashboard: `2 jobs deleted; 1 skipped (already ended).`"""
        verb = {"cancel": "cancelled", "delete": "deleted", "retry": "queued again"}[self.action]
        count = len(self.done)
        text = f"{count} job{'' if count == 1 else 's'} {verb}"
        if self.skipped:
            reasons = sorted(set(self.skipped.values()))
            text += f"; {len(self.skipped)} skipped ({', '.join(reasons)})"
        if self.stopped:
            text += f"; stopped: {self.stopped}"
        return text + "."


def _parse(job_ids: list[str]) -> list[uuid.UUID]:
    ids: list[uuid.UUID] = []
    for raw in job_ids:
        try:
            value = uuid.UUID(str(raw))
        except ValueError as exc:
            raise NotFound("Job not found.") from exc
        if value not in ids:
            ids.append(value)
    return ids


def jobs_owned(*, user: User, job_ids: list[str]) -> list[Job]:
    """The account's jobs with these ids, in the order given (duplicates dropped), in one query.

    Raises InvalidInput for an empty selection or one over MAX_JOBS, NotFound (404) when any id is malformed, unknown
    or another account's: the whole selection is refused, so nothing is done to any of it."""
    ids = _parse(job_ids)
    if not ids:
        raise InvalidInput("Select at least one job.")
    if len(ids) > MAX_JOBS:
        raise InvalidInput(f"Select at most {MAX_JOBS} jobs at a time.")
    found = {job.pk: job for job in Job.objects.filter(owner=user, pk__in=ids).only("id", "status", "uploaded_at")}
    if len(found) != len(ids):
        raise NotFound("Job not found.")
    return [found[i] for i in ids]


def _applies(action: str, job: Job) -> str:
    """Why `action` does not apply to `job`, or "" when it does."""
    if action == "cancel" and job.is_terminal:
        return "already ended"
    if action == "retry" and job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        return "not failed or cancelled"
    if action == "retry" and job.uploaded_at is None:
        return "no file uploaded"
    return ""


def jobs_bulk_apply(*, user: User, action: str, job_ids: list[str]) -> BulkOutcome:
    """Apply `action` ("cancel", "delete" or "retry") to each of `user`'s jobs `job_ids` (UUID strings).

    Ownership first for all of them (jobs_owned: NotFound/InvalidInput, nothing changed); then job by job through
    ocrjobs.control. A job the action does not apply to, or that ended or vanished in between (Conflict, NotFound),
    is skipped, as is one whose mode is gone (InvalidInput). What would hit every later job too (QuotaExceeded,
    StorageFault) stops the run;
    the jobs done so far stay done. InvalidInput for an unknown action.

    Raises InvalidInput (400) for an unknown action.
    """
    if action not in ACTIONS:
        raise InvalidInput(f"Unknown action {action!r}; one of {', '.join(ACTIONS)}.")
    outcome = BulkOutcome(action=action)
    for job in jobs_owned(user=user, job_ids=job_ids):
        reason = _applies(action, job)
        if reason:
            outcome.skipped[job.pk] = reason
            continue
        try:
            if action == "cancel":
                control.job_cancel(user=user, job_id=job.pk)
                outcome.done.append(job.pk)
            elif action == "delete":
                control.job_delete(user=user, job_id=job.pk)
                outcome.done.append(job.pk)
            else:
                outcome.done.append(control.job_rerun(user=user, job_id=job.pk).job.pk)
        except QuotaExceeded as exc:
            outcome.stopped = exc.message.rstrip(".")
            break
        except StorageFault as exc:
            outcome.stopped = str(exc).rstrip(".")
            break
        except ApplicationError as exc:  # Conflict, NotFound, a mode that is gone: this job only
            outcome.skipped[job.pk] = exc.message.rstrip(".")
    return outcome
