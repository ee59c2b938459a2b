"""Job control in-process: cancel, delete, retry, retention and page ranges (issue 16 §1)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone

from accounts.models import MonthlyUsage
from devtools.samples import pdf_bytes, png_bytes
from ocr.pages import normalize_pages, parse_pages, select_pages
from ocrjobs import completion, control, processing, services
from ocrjobs.models import AccountJobSettings, Job, JobPage, JobStatus, WebhookDelivery, WebhookEndpoint
from storage.keys import artifact_storage_key
from storage.objects import presign_download
from tests.factories import ApiKeyFactory, UserFactory
from tests.helpers import requests_used

SIGN_URL = "/api/v1/upload/signed-url"


def _uploaded(user, *, filename="doc.png", data=None, pages=None):
    ticket = services.job_create(
        user=user, mode="ocr", filename=filename, content_type="", base_url="http://t/", pages=pages
    )
    services.job_upload_receive(job_id=ticket.job.id, filename=filename, data=data or png_bytes(["Hello"]))
    return Job.objects.get(pk=ticket.job.id)


def _page(number: int, text: str) -> dict:
    return {"page": number, "width": 10, "height": 10, "text": text, "blocks": [], "model": "test-engine",
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}  # fmt: skip


def _completed(user, **kwargs) -> Job:
    job = _uploaded(user, **kwargs)
    assert services.job_claim(job_id=job.id)
    JobPage.objects.create(job=job, page=1, result=_page(1, "Hello"))
    done = completion.job_complete(job=Job.objects.get(pk=job.id))
    assert done.status == JobStatus.COMPLETED
    return done


def _failed(user) -> Job:
    job = _uploaded(user)
    return completion.job_fail(job_id=job.id, message="The engine broke.")


# --- cancel -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("uploaded", [False, True])
def test_cancelling_a_pending_job_gives_its_request_back_and_shows_cancelled(api, user, uploaded):
    if uploaded:
        job = _uploaded(user)
        assert job.status == JobStatus.QUEUED
    else:
        response_ticket = api.post(SIGN_URL).json()
        job = Job.objects.get(pk=response_ticket["job_id"])
    assert requests_used(user) == 1
    response = api.post(f"/api/v1/jobs/{job.id}/cancel")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    assert response["X-RateLimit-Remaining"] == "1000"
    assert requests_used(user) == 0
    assert api.get(f"/api/v1/results/{job.id}").json()["status"] == "cancelled"
    if not uploaded:  # the file arriving later is refused, saying why, and stores nothing
        put = urlsplit(response_ticket["upload_url"])
        late = Client().generic("PUT", f"{put.path}?{put.query}", png_bytes(["Late"]), content_type="")
        assert late.status_code == 409
        assert "cancelled before its file arrived" in late.json()["detail"]
        assert not default_storage.exists(f"uploads/{user.pk}/{job.id}/upload.png")
    listing = api.get("/api/v1/processing-jobs").json()
    assert [f["status"] for f in listing["files"]] == ["cancelled"]
    assert api.get("/api/v1/processing-jobs?status=failed").json()["total_count"] == 1  # counts cover all
    # A queued job's task, arriving late, does not run it.
    assert processing.job_run(job_id=job.id) is None
    assert Job.objects.get(pk=job.id).status == JobStatus.CANCELLED


def test_cancelling_a_processing_job_drops_its_pages_and_later_pages_and_failures_change_nothing(api, user):
    job = _uploaded(user, filename="two.pdf", data=pdf_bytes([["one"], ["two"]]))
    assert services.job_claim(job_id=job.id)
    Job.objects.filter(pk=job.id).update(output_key="ocr/two.json", page_count=2)
    crop = artifact_storage_key(account_id=user.pk, output_key="ocr/two.json", name="page-1-image-1.png")
    default_storage.save(crop, __import__("io").BytesIO(b"png"))
    assert processing.job_page_store(job_id=job.id, number=1, result=_page(1, "one")) is False
    response = api.post(f"/api/v1/jobs/{job.id}/cancel")
    assert response.status_code == 200
    job.refresh_from_db()
    assert (job.status, job.refunded, job.output_key) == (JobStatus.CANCELLED, False, None)
    assert requests_used(user) == 1  # work was done: a processing job keeps its request
    assert not JobPage.objects.filter(job=job).exists()
    assert not default_storage.exists(crop)
    # The other page finishing, or failing, after the cancel changes nothing.
    assert processing.job_page_store(job_id=job.id, number=2, result=_page(2, "two")) is False
    completion.job_fail(job_id=job.id, message="late failure")
    job.refresh_from_db()
    assert (job.status, job.error, job.pages_done) == (JobStatus.CANCELLED, control.CANCELLED_MESSAGE, 1)
    assert not JobPage.objects.filter(job=job).exists()


@pytest.mark.parametrize("ending", ["completed", "failed", "cancelled"])
def test_cancelling_an_ended_job_is_a_409_that_changes_nothing(api, user, ending):
    job = {"completed": _completed, "failed": _failed}.get(ending, lambda u: control.job_cancel(
        user=u, job_id=_uploaded(u).id))(user)  # fmt: skip
    before = (Job.objects.values().get(pk=job.id), requests_used(user))
    response = api.post(f"/api/v1/jobs/{job.id}/cancel")
    assert response.status_code == 409
    assert "already ended" in response.json()["detail"]
    assert (Job.objects.values().get(pk=job.id), requests_used(user)) == before


def test_another_accounts_job_cannot_be_cancelled_deleted_or_retried(api, user):
    other = UserFactory()
    job = _failed(other)
    for method, path in (("post", "cancel"), ("post", "retry")):
        assert getattr(api, method)(f"/api/v1/jobs/{job.id}/{path}").status_code == 404
    assert api.delete(f"/api/v1/jobs/{job.id}").status_code == 404
    assert api.get(f"/api/v1/jobs/{job.id}").status_code == 404
    assert api.delete("/api/v1/jobs/not-a-uuid").json() == {"detail": "No such job."}
    assert Job.objects.get(pk=job.id).status == JobStatus.FAILED
    assert Job.objects.filter(owner=other).count() == 1


# --- delete -------------------------------------------------------------------------------------------------------
def test_delete_removes_job_pages_upload_result_artifacts_and_deliveries_and_old_urls_stop(api, user):
    job = _completed(user)
    crop = artifact_storage_key(account_id=user.pk, output_key=job.output_key, name="page-1-annotated.png")
    default_storage.save(crop, __import__("io").BytesIO(b"png"))
    endpoint = WebhookEndpoint.objects.create(owner=user, url="https://example.com/h", events=[], secret="whsec_eA==")
    WebhookDelivery.objects.create(
        owner=user, endpoint=endpoint, job=job, url=endpoint.url, event="job.completed", msg_id="msg_1", payload={}
    )
    url = urlsplit(presign_download(key=job.result_key, ttl=600, base_url="http://testserver/"))
    assert Client().get(f"{url.path}?{url.query}").status_code == 200
    keys = [job.upload_key, job.result_key, crop]
    assert all(default_storage.exists(k) for k in keys)

    response = api.delete(f"/api/v1/jobs/{job.id}")
    assert response.status_code == 204
    assert not Job.objects.filter(pk=job.id).exists()
    assert not JobPage.objects.filter(job_id=job.id).exists()
    assert not WebhookDelivery.objects.exists()
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
    assert not any(default_storage.exists(k) for k in keys)
    assert Client().get(f"{url.path}?{url.query}").status_code == 404
    assert api.get(f"/api/v1/results/{job.id}").status_code == 404
    assert api.delete(f"/api/v1/jobs/{job.id}").status_code == 404
    assert api.post(f"/api/v1/download/signed-url?file_path={job.output_key}").status_code == 404
    assert requests_used(user) == 1  # deleting gives nothing back and takes nothing


def test_deleting_a_running_job_cancels_it_first(api, user):
    job = _uploaded(user)
    assert services.job_claim(job_id=job.id)
    assert api.delete(f"/api/v1/jobs/{job.id}").status_code == 204
    assert not Job.objects.filter(pk=job.id).exists()
    assert not default_storage.exists(job.upload_key)


# --- retry ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ending", ["failed", "cancelled"])
def test_retry_makes_a_new_queued_job_on_the_same_upload_and_counts_one_request(
    api, user, ending, django_capture_on_commit_callbacks
):
    job = _failed(user) if ending == "failed" else control.job_cancel(user=user, job_id=_uploaded(user).id)
    used = requests_used(user)
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(f"/api/v1/jobs/{job.id}/retry")
    assert response.status_code == 201, response.content
    body = response.json()
    new = Job.objects.get(pk=body["job_id"])
    assert (body["status"], body["retry_of"]) == ("pending", str(job.id))
    assert (new.status, new.upload_key, new.filename, new.mode) == (JobStatus.QUEUED, job.upload_key, "doc.png", "ocr")
    assert requests_used(user) == used + 1
    assert len(callbacks) == 1  # the new job is enqueued
    # The original can be deleted: the retry keeps the file it shares.
    assert api.delete(f"/api/v1/jobs/{job.id}").status_code == 204
    assert default_storage.exists(new.upload_key)
    assert api.delete(f"/api/v1/jobs/{new.id}").status_code == 204
    assert not default_storage.exists(new.upload_key)


def test_retry_refuses_completed_running_and_never_uploaded_jobs_spending_nothing(api, user):
    completed = _completed(user)
    running = _uploaded(user)
    never = control.job_cancel(user=user, job_id=Job.objects.get(pk=api.post(SIGN_URL).json()["job_id"]).id)
    used, count = requests_used(user), Job.objects.count()
    for job, words in ((completed, "this one is completed"), (running, "this one is pending"),
                       (never, "no stored upload")):  # fmt: skip
        response = api.post(f"/api/v1/jobs/{job.id}/retry")
        assert response.status_code == 409
        assert words in response.json()["detail"]
    assert (requests_used(user), Job.objects.count()) == (used, count)


def test_retry_over_the_quota_is_a_403_with_nothing_made(api, user):
    job = _failed(user)
    MonthlyUsage.objects.filter(user=user).update(used=1000)
    response = api.post(f"/api/v1/jobs/{job.id}/retry")
    assert response.status_code == 403
    assert Job.objects.count() == 1


# --- retention ------------------------------------------------------------------------------------------------------
def test_retention_is_off_by_default_and_deletes_only_old_ended_jobs_of_accounts_that_set_it(api, user):
    assert api.get("/api/v1/settings").json() == {"retention_days": None, "callback_secret_set": False}
    old, recent, running = _completed(user), _completed(user, filename="b.png"), _uploaded(user, filename="c.png")
    keeper = UserFactory()
    untouched = _completed(keeper)
    long_ago = timezone.now() - dt.timedelta(days=10)
    Job.objects.filter(pk__in=[old.id, untouched.id, running.id]).update(finished_at=long_ago, created_at=long_ago)
    assert control.jobs_retention_sweep() == 0  # nobody asked for retention

    assert api.patch("/api/v1/settings", {"retention_days": 0}, format="json").status_code == 400
    response = api.patch("/api/v1/settings", {"retention_days": 7}, format="json")
    assert response.json() == {"retention_days": 7, "callback_secret_set": False}
    assert control.jobs_retention_sweep() == 1
    assert set(Job.objects.values_list("pk", flat=True)) == {recent.id, running.id, untouched.id}
    assert not default_storage.exists(old.result_key)
    assert not default_storage.exists(old.upload_key)
    assert default_storage.exists(untouched.result_key)
    assert AccountJobSettings.objects.get(user=user).retention_days == 7


# --- page ranges ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "pages", "text"),
    [("1-3,7", (1, 2, 3, 7), "1-3,7"), (" 7, 1-3 ,2", (1, 2, 3, 7), "1-3,7"), ("5", (5,), "5"), ("", (), "")],
)
def test_page_ranges_parse(spec, pages, text):
    assert parse_pages(spec) == pages
    assert normalize_pages(spec) == text


@pytest.mark.parametrize("spec", ["0", "3-1", "a", "1,,2", "1-", "-3", "1-200000", "1;2"])
def test_bad_page_ranges_get_400_and_spend_nothing(api, user, spec):
    response = api.post(SIGN_URL, {"pages": spec}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("pages")
    assert (Job.objects.count(), requests_used(user)) == (0, 0)
    assert api.post(f"{SIGN_URL}?pages={spec}").status_code == 400
    assert (Job.objects.count(), requests_used(user)) == (0, 0)


def test_a_page_range_counts_and_recognises_only_the_pages_asked_for(api, user):
    data = pdf_bytes([["First page words"], ["Second page words"], ["Third page words"]])
    ticket = api.post(f"{SIGN_URL}?pages=2-3", {"filename": "three.pdf"}, format="json").json()
    services.job_upload_receive(job_id=ticket["job_id"], filename="three.pdf", data=data)
    job = processing.job_run(job_id=ticket["job_id"])
    assert (job.status, job.page_count, job.pages_done, job.page_range) == (JobStatus.COMPLETED, 2, 2, "2-3")
    result = api.get(f"/api/v1/results/{job.id}").json()
    assert (result["pages"], result["pages_done"]) == (2, 2)
    assert [p["page"] for p in result["result"]["pages"]] == [2, 3]
    assert "First" not in result["result"]["extracted_text"]
    assert "Third" in result["result"]["extracted_text"]
    assert requests_used(user) == 1


def test_a_page_range_past_the_document_fails_the_job_saying_so_and_refunds_it(api, user):
    ticket = api.post(SIGN_URL, {"filename": "two.pdf", "pages": "1,5"}, format="json").json()
    services.job_upload_receive(job_id=ticket["job_id"], filename="two.pdf", data=pdf_bytes([["a"], ["b"]]))
    job = processing.job_run(job_id=ticket["job_id"])
    assert job.status == JobStatus.FAILED
    assert job.error == "pages asks for page 5, but the document has 2 pages."
    assert requests_used(user) == 0
    assert select_pages("", 3) == (1, 2, 3)


def test_keys_scope_idempotency_and_usage_by_key(user):
    """Two keys of one account: /usage splits the account's requests by key and by mode."""
    from rest_framework.test import APIClient

    clients = []
    for name in ("first", "second"):
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=ApiKeyFactory.create_with_raw(user=user, name=name)[1])
        clients.append(client)
    for client, mode, n in ((clients[0], "ocr", 2), (clients[1], "table", 1)):
        for _ in range(n):
            assert client.post(f"{SIGN_URL}?mode={mode}").status_code == 200
    usage = clients[0].get("/api/v1/usage").json()
    assert usage["month"]["used"] == 3
    assert usage["month"]["limit"] == 1000
    assert usage["month"]["remaining"] == 997
    assert len(usage["days"]) == 30
    assert usage["days"][-1]["count"] == 3
    assert sum(d["count"] for d in usage["days"]) == 3
    assert usage["by_mode"] == [{"mode": "ocr", "count": 2}, {"mode": "table", "count": 1}]
    assert [(k["name"], k["count"]) for k in usage["by_api_key"]] == [("first", 2), ("second", 1)]
