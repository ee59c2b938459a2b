"""Job events: webhooks when a page is stored or a job ends, and the Server-Sent Events stream of
`GET /api/v1/jobs/{id}/events` (issue 16 §4).

The stream is built from stored state only, so a reconnect resumes without gaps: a page's event id is its place in
the order pages were stored (1, 2, 3, … per job: pages are stored one at a time under the job's row lock), and a
client that sends `Last-Event-ID: 2` gets the pages stored third and later, then the current status. Events:

    event: status          data: {"status", "pages", "pages_done", "error"}
    event: page_completed  data: {"page", "pages_done", "pages", "text"}

The stream ends after the status event of an ended job (`completed`, `failed`, `cancelled`). Under ASGI it is an
async generator that polls the job row every DEEPREAD_SSE_POLL_S seconds without holding a thread; under WSGI
(gunicorn threads) it is a plain generator that holds its thread at most DEEPREAD_SSE_WSGI_MAX_S seconds, then ends
with a `retry:` hint, and the browser's or client's reconnect (with Last-Event-ID) carries on where it stopped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from ocrjobs.models import TERMINAL_STATUSES, Job, JobPage, JobStatus

logger = logging.getLogger(__name__)


# --- webhooks ---------------------------------------------------------------------------------------------------
def page_stored(*, job_id: uuid.UUID | str, page: int) -> None:
    """After a page is stored: `job.page_completed` for the endpoints that want it and the job's callback_url."""
    from ocrjobs import webhooks
    from ocrjobs.models import WebhookEndpoint

    try:
        job = Job.objects.get(pk=job_id)
        wanted = job.callback_url or any(
            "job.page_completed" in events
            for events in WebhookEndpoint.objects.filter(owner_id=job.owner_id, is_active=True).values_list(
                "events", flat=True
            )
        )
        if not wanted:
            return
        text = JobPage.objects.filter(job=job, page=page).values_list("result__text", flat=True).first() or ""
        data = webhooks.job_payload(job) | {"page": page, "text": text}
        webhooks.enqueue(job=job, event="job.page_completed", data=data)
    except Exception:  # a webhook must never fail the page it reports
        logger.exception("Could not queue job.page_completed for job %s page %s", job_id, page)


def job_ended(*, job_id: uuid.UUID | str) -> bool:
    """Once per job: `job.completed`, `job.failed` or `job.cancelled` when it has ended. Safe to call any number
    of times from anywhere (a conditional UPDATE claims the notification); True for the call that sent it."""
    from ocrjobs import webhooks

    job = Job.objects.filter(pk=job_id, status__in=TERMINAL_STATUSES, notified_status="").first()
    if job is None or not Job.objects.filter(pk=job.pk, notified_status="").update(notified_status=job.status):
        return False
    try:
        webhooks.enqueue(job=job, event=f"job.{job.public_status}", data=webhooks.job_payload(job))
    except Exception:
        logger.exception("Could not queue the end event of job %s", job_id)
    return True


def jobs_notify_ended(*, limit: int = 500) -> int:
    """The scheduler's catch-all for jobs that ended where no task could notify (a sweep, an expired upload)."""
    since = timezone.now() - timezone.timedelta(days=1)
    ids = Job.objects.filter(status__in=TERMINAL_STATUSES, notified_status="", updated_at__gte=since)
    return sum(job_ended(job_id=pk) for pk in ids.values_list("pk", flat=True)[:limit])


# --- the event stream ---------------------------------------------------------------------------------------------
@dataclass
class Snapshot:
    """A job's state read for the event stream: status, page count, error and pages finished since the last event."""

    exists: bool
    status: str = ""
    pages: int | None = None
    error: str = ""
    new_pages: list[tuple[int, int, str]] = field(default_factory=list)  # (event id, page number, text)

    @property
    def ended(self) -> bool:
        """True once the job is completed, failed or cancelled."""
        return self.status in ("completed", "failed", "cancelled")


def snapshot(*, job_id: uuid.UUID, after: int) -> Snapshot:
    """The job's public status and the pages stored after the `after`-th one. Two queries."""
    try:
        row = Job.objects.filter(pk=job_id).values("status", "page_count", "error").first()
        if row is None:
            return Snapshot(exists=False)
        pages = list(JobPage.objects.filter(job_id=job_id).order_by("pk").values_list("page", "result__text")[after:])
    finally:
        close_old_connections()
    return Snapshot(
        exists=True,
        status=Job(status=row["status"]).public_status,
        pages=row["page_count"],
        error=row["error"] if row["status"] in (JobStatus.FAILED, JobStatus.CANCELLED) else "",
        new_pages=[(after + i, page, text or "") for i, (page, text) in enumerate(pages, start=1)],
    )


def _event(name: str, data: dict, event_id: int) -> bytes:
    return f"id: {event_id}\nevent: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


class _Stream:
    """The state of one listener: what it has been sent, and what to send next."""

    def __init__(self, job_id: uuid.UUID, last_event_id: int) -> None:
        self.job_id = job_id
        self.sent = last_event_id
        self.status: tuple | None = None
        self.done = False

    def step(self, snap: Snapshot) -> list[bytes]:
        """The SSE events owed for `snap`: one `page_completed` per newly finished page, `status` on a change,
        `error` when the job is gone; sets `done` when nothing more will come.
        """
        if not snap.exists:
            self.done = True
            return [f"event: error\ndata: {json.dumps({'detail': 'No such job.'})}\n\n".encode()]
        out = []
        for event_id, page, text in snap.new_pages:
            data = {"page": page, "pages_done": event_id, "pages": snap.pages, "text": text}
            out.append(_event("page_completed", data, event_id))
            self.sent = event_id
        state = (snap.status, snap.pages, self.sent)
        if state != self.status:
            self.status = state
            data = {"status": snap.status, "pages": snap.pages, "pages_done": self.sent, "error": snap.error or None}
            out.append(_event("status", data, self.sent))
        self.done = snap.ended
        return out


KEY_RECHECK_S = 5.0


def api_key_alive(api_key_id: int | None) -> bool:
    """Whether the API key a stream was opened with may still read (not revoked, not expired); True for None (a
    dashboard session). A stream ends within KEY_RECHECK_S seconds of its key's revocation."""
    if api_key_id is None:
        return True
    from django.db.models import Q

    from accounts.models import ApiKey

    alive = Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    return ApiKey.objects.filter(alive, pk=api_key_id, revoked_at__isnull=True).exists()


def stream_async(*, job_id: uuid.UUID, last_event_id: int, api_key_id: int | None = None) -> AsyncIterator[bytes]:
    """The ASGI stream: polls with `sync_to_async` (no thread held between polls); ends when its key is revoked."""
    from asgiref.sync import sync_to_async

    read = sync_to_async(snapshot, thread_sensitive=False)
    key_alive = sync_to_async(api_key_alive, thread_sensitive=False)

    async def generate() -> AsyncIterator[bytes]:
        """The event stream: polls every DEEPREAD_SSE_POLL_S seconds, a keep-alive comment every 15 s, for at most
        DEEPREAD_SSE_MAX_S seconds (the client reconnects with Last-Event-ID).
        """
        state = _Stream(job_id, last_event_id)
        yield b"retry: 1000\n"  # a field of the first event: a block of its own would dispatch an empty event
        deadline = time.monotonic() + settings.DEEPREAD_SSE_MAX_S
        ping = time.monotonic() + 15
        recheck = time.monotonic() + KEY_RECHECK_S
        while time.monotonic() < deadline:
            if time.monotonic() > recheck:
                recheck = time.monotonic() + KEY_RECHECK_S
                if not await key_alive(api_key_id):
                    return
            for chunk in state.step(await read(job_id=job_id, after=state.sent)):
                yield chunk
            if state.done:
                return
            if time.monotonic() > ping:
                ping = time.monotonic() + 15
                yield b": keep-alive\n"  # a comment line, no blank line: some clients dispatch an empty event
            await asyncio.sleep(settings.DEEPREAD_SSE_POLL_S)

    return generate()


def stream_sync(*, job_id: uuid.UUID, last_event_id: int, api_key_id: int | None = None) -> Iterator[bytes]:
    """The WSGI stream: the same events, holding the thread at most DEEPREAD_SSE_WSGI_MAX_S seconds."""
    state = _Stream(job_id, last_event_id)
    yield b"retry: 1000\n"  # a field of the first event: a block of its own would dispatch an empty event
    deadline = time.monotonic() + settings.DEEPREAD_SSE_WSGI_MAX_S
    recheck = time.monotonic() + KEY_RECHECK_S
    while True:
        if time.monotonic() > recheck:
            recheck = time.monotonic() + KEY_RECHECK_S
            if not api_key_alive(api_key_id):
                return
        yield from state.step(snapshot(job_id=job_id, after=state.sent))
        if state.done or time.monotonic() >= deadline:
            return
        time.sleep(settings.DEEPREAD_SSE_POLL_S)
