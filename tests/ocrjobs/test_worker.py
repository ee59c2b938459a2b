"""The worker's job lifecycle: claims, lease expiry, the sweep and resumption page by page."""

import datetime as dt

import pytest
from django.utils import timezone

from devtools.samples import pdf_bytes
from ocrjobs import processing, services, sweeps
from ocrjobs.models import Job, JobPage, JobStatus
from tests.factories import JobFactory


@pytest.fixture
def queued_pdf(user):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    job = JobFactory(owner=user, filename="two.pdf")
    default_storage.save(job.upload_key, ContentFile(pdf_bytes([["Page one words"], ["Page two words"]])))
    return job


def test_claim_is_compare_and_set(queued_pdf):
    assert services.job_claim(job_id=queued_pdf.pk) is True
    assert services.job_claim(job_id=queued_pdf.pk) is False  # held, lease not expired
    Job.objects.filter(pk=queued_pdf.pk).update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    assert services.job_claim(job_id=queued_pdf.pk) is True  # a dead worker's lease ran out
    assert Job.objects.get(pk=queued_pdf.pk).attempts == 2


def test_a_restarted_job_does_not_redo_finished_pages(queued_pdf):
    JobPage.objects.create(
        job=queued_pdf,
        page=1,
        result={"page": 1, "width": 1, "height": 1, "text": "kept from the first run", "blocks": [],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}},
    )  # fmt: skip
    job = processing.job_run(job_id=queued_pdf.pk)
    assert job.status == JobStatus.COMPLETED
    pages = list(JobPage.objects.filter(job=job).order_by("page").values_list("result", flat=True))
    assert pages[0]["text"] == "kept from the first run"
    assert "two" in pages[1]["text"].lower()
    assert job.pages_done == 2


@pytest.mark.parametrize("retries", [2, 5], ids=["retries-2", "retries-5"])
def test_sweep_requeues_lost_jobs_and_gives_up_after_the_configured_attempts(
    queued_pdf, user, django_capture_on_commit_callbacks, settings, retries
):
    """The sweep's limit is DEEPREAD_JOB_RETRIES + 1 claims (the first try and its retries), not a fixed 3."""
    settings.DEEPREAD_JOB_RETRIES = retries
    past = timezone.now() - dt.timedelta(hours=2)
    Job.objects.filter(pk=queued_pdf.pk).update(status=JobStatus.PROCESSING, lease_until=past, attempts=1)
    hopeless = JobFactory(owner=user, status=JobStatus.PROCESSING, lease_until=past, attempts=retries + 1)
    almost = JobFactory(owner=user, status=JobStatus.PROCESSING, lease_until=past, attempts=retries)
    fresh = JobFactory(owner=user)
    with django_capture_on_commit_callbacks() as callbacks:
        requeued = sweeps.jobs_requeue_stale()
    assert sorted(requeued) == sorted([str(queued_pdf.pk), str(almost.pk)])
    assert len(callbacks) == 2
    hopeless.refresh_from_db()
    assert hopeless.status == JobStatus.FAILED
    assert hopeless.refunded is True
    assert f"interrupted {retries + 1} times" in hopeless.error
    assert Job.objects.get(pk=almost.pk).status == JobStatus.PROCESSING
    assert Job.objects.get(pk=fresh.pk).status == JobStatus.QUEUED
