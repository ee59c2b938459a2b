"""A storage write that fails: the job keeps its recognised pages and is tried again; when storage stays down it
fails saying so, refunded, with nothing partial left. The fault is real: the outputs folder is a plain file, so
every write under it fails in the filesystem itself."""

from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage

from devtools.samples import pdf_bytes, png_bytes
from ocrjobs import processing, services, tasks
from ocrjobs.models import Job, JobPage, JobStatus
from storage import objects as storage_objects
from tests.helpers import requests_used
from tests.ocrjobs.test_job_api import SIGN_URL, _put


def _outputs() -> Path:
    return Path(settings.STORAGES["default"]["OPTIONS"]["location"]) / "outputs"


@pytest.fixture
def blocked_outputs():
    outputs = _outputs()
    outputs.parent.mkdir(parents=True, exist_ok=True)
    outputs.write_text("a file where the outputs folder should be")
    yield outputs
    if outputs.is_file():
        outputs.unlink()


def _queued_job(api, *, filename="letter.png", data=None, content_type="image/png") -> Job:
    ticket = api.post(SIGN_URL, {"filename": filename, "content_type": content_type}, format="json").json()
    assert _put(ticket, data or png_bytes(), content_type).status_code == 200
    return Job.objects.get(pk=ticket["job_id"])


def test_a_failed_result_write_keeps_the_pages_and_the_next_try_completes(api, user, blocked_outputs):
    job = _queued_job(
        api, filename="two.pdf", data=pdf_bytes([["Page one"], ["Page two"]]), content_type="application/pdf"
    )
    assert requests_used(user) == 1

    with pytest.raises(storage_objects.StorageFault):
        processing.job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED  # handed back for the task's retry, not failed
    assert (job.result_key, job.error) == ("", "")
    pages = dict(JobPage.objects.filter(job=job).values_list("page", "pk"))
    assert sorted(pages) == [1, 2]

    blocked_outputs.unlink()  # storage is back
    job = processing.job_run(job_id=job.pk)
    assert job.status == JobStatus.COMPLETED
    assert dict(JobPage.objects.filter(job=job).values_list("page", "pk")) == pages  # not recognised again
    assert default_storage.exists(job.result_key)
    assert api.get(f"/api/v1/results/{job.pk}").json()["result"]["pages"][1]["text"].lower().startswith("page two")
    assert requests_used(user) == 1


def test_storage_that_stays_down_fails_the_job_after_n_tries_refunded(api, user, blocked_outputs, settings):
    settings.DEEPREAD_JOB_RETRIES = 2
    settings.DEEPREAD_JOB_RETRY_BACKOFF_S = 0.0
    job = _queued_job(api)
    assert requests_used(user) == 1

    tasks.job_process.apply(args=[str(job.pk)])  # eager: the retries run in turn

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error == "Storage could not be written while saving the result. Gave up after 3 tries."
    assert job.attempts == 3
    assert (job.output_key, job.result_key) == (None, "")
    body = api.get(f"/api/v1/results/{job.pk}").json()
    assert (body["status"], body["result"], body["error"]) == ("failed", None, job.error)
    assert requests_used(user) == 0
    blocked_outputs.unlink()
    assert not _outputs().exists()  # nothing partial was written anywhere

    again = _queued_job(api)  # the same file once storage is back: it goes through
    assert processing.job_run(job_id=again.pk).status == JobStatus.COMPLETED
    assert requests_used(user) == 1


def test_a_fanned_out_page_that_cannot_save_the_result_saves_it_on_its_retry(api, user, blocked_outputs):
    job = _queued_job(
        api, filename="two.pdf", data=pdf_bytes([["Page one"], ["Page two"]]), content_type="application/pdf"
    )
    assert services.job_claim(job_id=job.pk)
    Job.objects.filter(pk=job.pk).update(page_count=2)
    assert processing.job_page_run(job_id=job.pk, page=1).status == JobStatus.PROCESSING
    with pytest.raises(storage_objects.StorageFault):
        processing.job_page_run(job_id=job.pk, page=2)  # the last page is stored; the result is not
    assert JobPage.objects.filter(job=job).count() == 2
    assert Job.objects.get(pk=job.pk).status == JobStatus.PROCESSING

    blocked_outputs.unlink()
    done = processing.job_page_run(job_id=job.pk, page=2)  # the task's retry
    assert done.status == JobStatus.COMPLETED
    assert JobPage.objects.filter(job=job).count() == 2
    assert processing.job_page_run(job_id=job.pk, page=2) is None  # a late duplicate does nothing
