"""Uploads that reach storage without passing through DeepRead (S3 pre-signed URLs): the sweep and the bucket
notification hook find them, check them and start their jobs, once."""

from __future__ import annotations

import json

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import override_settings

from devtools.samples import png_bytes
from ocrjobs import services, sweeps
from ocrjobs.models import Job, JobStatus
from storage.keys import upload_key_prefix
from tests.helpers import requests_used

pytestmark = pytest.mark.django_db


def _ticket(user):
    return services.job_create(user=user, mode="ocr", base_url="http://t/")


def _drop(user, job, name: str, data: bytes) -> str:
    """What the bucket holds after a client's pre-signed POST or PUT."""
    return default_storage.save(upload_key_prefix(account_id=user.pk, job_id=str(job.id)) + name, ContentFile(data))


def test_the_sweep_starts_jobs_whose_file_arrived_once(user, django_capture_on_commit_callbacks):
    waiting = _ticket(user).job
    arrived = _ticket(user).job
    key = _drop(user, arrived, "scan.png", png_bytes())
    with django_capture_on_commit_callbacks() as callbacks:
        assert sweeps.jobs_discover_uploads() == [str(arrived.id)]
    assert len(callbacks) == 1  # one job_process enqueued
    arrived.refresh_from_db()
    assert (arrived.status, arrived.upload_key, arrived.filename, arrived.page_count) == (
        JobStatus.QUEUED, key, "scan.png", 1,
    )  # fmt: skip
    assert Job.objects.get(pk=waiting.pk).status == JobStatus.AWAITING_UPLOAD
    assert sweeps.jobs_discover_uploads() == []  # idempotent


def test_a_bad_file_in_the_bucket_fails_its_job_is_deleted_and_refunded(user):
    job = _ticket(user).job
    key = _drop(user, job, "fake.png", b"not an image at all")
    assert requests_used(user) == 1
    sweeps.jobs_discover_uploads()
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "Unsupported file type" in job.error
    assert not default_storage.exists(key)
    assert requests_used(user) == 0


def test_a_key_outside_the_jobs_prefix_is_ignored(user):
    job = _ticket(user).job
    other = _ticket(user).job
    key = _drop(user, other, "x.png", png_bytes())
    assert services.job_upload_found(job_id=job.id, key=key) is None
    assert Job.objects.get(pk=job.pk).status == JobStatus.AWAITING_UPLOAD


@override_settings(DEEPREAD_S3_HOOK_SECRET="s3cret")
def test_the_notification_hook_starts_the_named_upload(client, user):
    job = _ticket(user).job
    key = _drop(user, job, "hooked file.png", png_bytes())
    event = {"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": {"key": key.replace(" ", "+")}}}]}
    body = json.dumps(event)
    assert client.post("/storage/s3-events", body, content_type="application/json").status_code == 403
    wrong = client.post("/storage/s3-events", body, content_type="application/json", HTTP_X_DEEPREAD_HOOK_SECRET="nope")
    assert wrong.status_code == 403
    assert Job.objects.get(pk=job.pk).status == JobStatus.AWAITING_UPLOAD
    ok = client.post("/storage/s3-events", body, content_type="application/json", HTTP_X_DEEPREAD_HOOK_SECRET="s3cret")
    assert ok.json() == {"queued": 1}
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED
    again = client.post(
        "/storage/s3-events", body, content_type="application/json", HTTP_X_DEEPREAD_HOOK_SECRET="s3cret"
    )
    assert again.json() == {"queued": 0}


def test_the_hook_is_off_without_a_secret(client, user):
    assert client.post("/storage/s3-events", "{}", content_type="application/json").status_code == 404


def test_a_job_whose_upload_never_arrived_is_cancelled_and_refunded_after_expiry(user, client, settings):
    import datetime as dt

    from django.utils import timezone

    abandoned = _ticket(user).job
    refused = services.job_create(
        user=user, mode="ocr", filename="x.png", content_type="image/png", base_url="http://t/"
    )
    put = client.generic("PUT", refused.urls.put_url.split("http://t", 1)[1], b"not an image", content_type="image/png")
    assert put.status_code == 400  # the bytes were refused; the job waits for a correct file
    fresh = _ticket(user).job
    assert requests_used(user) == 3
    later = timezone.now() + dt.timedelta(seconds=settings.DEEPREAD_SIGNED_URL_TTL_S + 120)
    Job.objects.filter(pk=fresh.pk).update(created_at=later)  # made just now, from the sweep's point of view
    cancelled = sweeps.jobs_cancel_unused(now=later)
    assert sorted(cancelled) == sorted([str(abandoned.id), str(refused.job.id)])
    assert requests_used(user) == 1
    assert Job.objects.get(pk=abandoned.pk).status == JobStatus.CANCELLED
    assert "given back" in Job.objects.get(pk=refused.job.pk).error
    assert Job.objects.get(pk=fresh.pk).status == JobStatus.AWAITING_UPLOAD
    assert sweeps.jobs_cancel_unused(now=later) == []  # once
    assert requests_used(user) == 1
