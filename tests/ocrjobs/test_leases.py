"""Job leases: owned claims, the heartbeat, takeover after a dead worker, and the hand-back of a clean stop.

The heartbeat runs in its own thread with its own database connection, so these tests use real transactions
(`transactional_db`). Waits are events or generous deadlines that only bound a hang, never a speed."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from devtools.samples import pdf_bytes
from inference.base import PageResult
from ocrjobs import dispatch, leases, processing, services, sweeps
from ocrjobs.models import Job, JobPage, JobStatus
from tests.factories import JobFactory, UserFactory
from tests.helpers import wait_until

HANG = 60  # seconds: only a hang takes this long


@pytest.fixture
def lease_settings(settings):
    settings.DEEPREAD_JOB_LEASE_S = 1  # beats every 1/3 s
    leases.STOPPING.clear()
    yield settings
    leases.STOPPING.clear()


@pytest.fixture
def enqueued(monkeypatch):
    sent: list[str] = []
    monkeypatch.setattr(dispatch, "job_process_send", lambda job_id: sent.append(job_id))
    return sent


def _job(*, pages: int = 1, status: str = JobStatus.QUEUED) -> Job:
    user = UserFactory()
    job = JobFactory(owner=user, filename="doc.pdf", status=status)
    default_storage.save(job.upload_key, ContentFile(pdf_bytes([[f"Page {n}"] for n in range(1, pages + 1)])))
    return job


def test_a_claim_is_owned_and_only_its_owner_renews_it(transactional_db, lease_settings):
    job = _job()
    assert services.job_claim(job_id=job.pk, owner="a") is True
    assert services.job_claim(job_id=job.pk, owner="b") is False  # a's lease runs
    assert leases.job_lease_renew(job_id=job.pk, owner="b") is False
    assert leases.job_lease_renew(job_id=job.pk, owner="a") is True
    job.refresh_from_db()
    assert (job.lease_owner, job.attempts) == ("a", 1)

    # a dies: its lease runs out, and a redelivered message (or the sweep's) takes the job over
    Job.objects.filter(pk=job.pk).update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    assert services.job_claim(job_id=job.pk, owner="b") is True
    assert leases.job_lease_renew(job_id=job.pk, owner="a") is False  # a, back from a stall, cannot extend it
    job.refresh_from_db()
    assert (job.lease_owner, job.attempts, job.status) == ("b", 2, JobStatus.PROCESSING)


def test_the_heartbeat_keeps_a_short_lease_alive_and_notices_a_takeover(transactional_db, lease_settings):
    job = _job()
    assert services.job_claim(job_id=job.pk, owner="me")
    first = Job.objects.get(pk=job.pk).lease_until
    with leases.LeaseKeeper(job_id=job.pk, owner="me") as keeper:
        seen = {first}
        wait_until(
            lambda: seen.add(Job.objects.get(pk=job.pk).lease_until) or len(seen) >= 3, "two renewals", bound_s=HANG
        )
        assert keeper.held
        Job.objects.filter(pk=job.pk).update(lease_owner="thief")  # taken over after a stall
        assert keeper.lost.wait(HANG)
    assert Job.objects.get(pk=job.pk).lease_owner == "thief"


def test_a_fanned_out_page_only_lengthens_the_lease(transactional_db, lease_settings):
    job = _job(status=JobStatus.PROCESSING)
    far = timezone.now() + dt.timedelta(minutes=10)
    Job.objects.filter(pk=job.pk).update(lease_until=far, lease_owner="fan")
    assert leases.job_lease_renew(job_id=job.pk, owner=None) is True
    assert Job.objects.get(pk=job.pk).lease_until == far
    Job.objects.filter(pk=job.pk).update(lease_until=timezone.now() - dt.timedelta(seconds=5))
    assert leases.job_lease_renew(job_id=job.pk, owner=None) is True
    assert Job.objects.get(pk=job.pk).lease_until > timezone.now()
    Job.objects.filter(pk=job.pk).update(status=JobStatus.COMPLETED, output_key="ocr/doc.json")
    assert leases.job_lease_renew(job_id=job.pk, owner=None) is False


class _GatedEngine:
    """Recognises a page only when the test lets it: `entered` is set when a page arrives."""

    model_name = "gated"

    def __init__(self) -> None:
        self.entered, self.release, self.pages = threading.Event(), threading.Event(), []

    def recognize(self, image, spec, *, source=None):
        self.pages.append(image.size)
        self.entered.set()
        assert self.release.wait(HANG)
        return PageResult(text=f"page {len(self.pages)}", blocks=[], width=image.width, height=image.height)


def test_a_clean_stop_hands_the_job_back_at_once_keeping_its_pages(
    transactional_db, lease_settings, monkeypatch, enqueued
):
    """Mid-page, the worker is told to stop: the job is queued again at once (lease cleared, not counted as an
    interruption, enqueued once), the page in progress is kept, and no further page is started."""
    job = _job(pages=3)
    engine = _GatedEngine()
    monkeypatch.setattr(processing, "worker_engine", lambda: engine)
    outcome: list[Job | None] = []
    runner = threading.Thread(target=lambda: outcome.append(processing.job_run(job_id=job.pk)))
    runner.start()
    assert engine.entered.wait(HANG)
    assert Job.objects.get(pk=job.pk).status == JobStatus.PROCESSING

    leases.request_stop()
    wait_until(lambda: Job.objects.get(pk=job.pk).status == JobStatus.QUEUED, "the hand-back", bound_s=HANG)
    job.refresh_from_db()
    assert (job.lease_until, job.lease_owner, job.attempts) == (None, "", 0)
    assert enqueued == [str(job.pk)]

    engine.release.set()
    runner.join(HANG)
    assert outcome == [None]
    assert len(engine.pages) == 1  # page 2 never started
    assert list(JobPage.objects.filter(job=job).values_list("page", flat=True)) == [1]
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED

    # the next worker resumes from the stored page
    leases.STOPPING.clear()
    done = processing.job_run(job_id=job.pk)
    assert done.status == JobStatus.COMPLETED
    assert len(engine.pages) == 3
    assert [p["text"] for p in done_pages(done)] == ["page 1", "page 2", "page 3"]
    assert done.attempts == 1


def done_pages(job: Job) -> list[dict]:
    return list(JobPage.objects.filter(job=job).order_by("page").values_list("result", flat=True))


def test_a_worker_that_lost_its_lease_stops_at_the_next_page(transactional_db, lease_settings, monkeypatch):
    job = _job(pages=3)
    engine = _GatedEngine()
    monkeypatch.setattr(processing, "worker_engine", lambda: engine)
    outcome: list[Job | None] = []
    runner = threading.Thread(target=lambda: outcome.append(processing.job_run(job_id=job.pk)))
    runner.start()
    assert engine.entered.wait(HANG)
    # the worker stalls past its lease and another takes the job over
    Job.objects.filter(pk=job.pk).update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    assert services.job_claim(job_id=job.pk, owner="successor")
    # the old heartbeat finds the lease gone at its next beat
    wait_until(
        lambda: not any(k.held for k in tuple(leases._keepers)), "the old worker noticing the takeover", bound_s=HANG
    )
    engine.release.set()
    runner.join(HANG)
    assert outcome == [None]
    assert len(engine.pages) == 1
    job.refresh_from_db()
    assert (job.status, job.lease_owner) == (JobStatus.PROCESSING, "successor")


def test_sweep_requeues_an_expired_lease_and_a_redelivery_takes_it_over(
    transactional_db, lease_settings, monkeypatch, enqueued
):
    job = _job(pages=2)
    assert services.job_claim(job_id=job.pk, owner="dead-worker")
    assert sweeps.jobs_requeue_stale() == []  # the lease still runs
    Job.objects.filter(pk=job.pk).update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    assert sweeps.jobs_requeue_stale() == [str(job.pk)]
    assert enqueued == [str(job.pk)]
    engine = _GatedEngine()
    engine.release.set()
    monkeypatch.setattr(processing, "worker_engine", lambda: engine)
    done = processing.job_run(job_id=job.pk)
    assert done.status == JobStatus.COMPLETED
    assert (done.attempts, done.lease_owner, done.lease_until) == (2, "", None)
    assert len(engine.pages) == 2


def test_a_redelivered_message_takes_over_at_once_from_a_dead_process_of_this_machine(transactional_db, lease_settings):
    import os
    import socket
    import subprocess
    import sys

    host = socket.gethostname()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pool child that was killed, reaped
    job = _job()
    for holder, taken in [
        (f"{host}:{os.getpid()}:alive", False),  # alive: wait for its lease
        (f"another-host:{gone.pid}:x", False),  # another machine: its lease runs out as usual
        (f"{host}:{gone.pid}:dead", True),
    ]:
        Job.objects.filter(pk=job.pk).update(
            status=JobStatus.PROCESSING, lease_owner=holder, lease_until=timezone.now() + dt.timedelta(minutes=5)
        )
        assert leases.job_take_over_dead(job_id=job.pk, owner="me") is taken, holder
    job.refresh_from_db()
    assert (job.lease_owner, job.attempts) == ("me", 1)
    assert leases.job_take_over_dead(job_id=job.pk, owner="rival") is False  # "me" names no process here
