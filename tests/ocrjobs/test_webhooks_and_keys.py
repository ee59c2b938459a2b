"""Webhooks (signed per Standard Webhooks, retried, logged), Idempotency-Key and custom-mode versions, in-process
against a real HTTP listener on 127.0.0.1 (issue 16 §2, §3, §5)."""

from __future__ import annotations

import pytest
from standardwebhooks.webhooks import Webhook

from accounts.models import MonthlyUsage
from devtools.samples import png_bytes
from modes.services import custom_mode_create, custom_mode_update
from ocrjobs import completion, control, dispatch, processing, services, webhooks
from ocrjobs.models import IdempotencyRecord, Job, JobPage, JobStatus, WebhookDelivery, WebhookEndpoint
from tests.factories import ApiKeyFactory
from tests.webhook_listener import Listener

SIGN_URL = "/api/v1/upload/signed-url"


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.stop()


@pytest.fixture
def allow_private(settings, monkeypatch):
    """Loopback listeners allowed, a short backoff, and the delivery task run in-process (no broker here; the
    end-to-end tests run it on a real worker)."""

    settings.DEEPREAD_WEBHOOK_ALLOW_PRIVATE = True
    settings.DEEPREAD_WEBHOOK_BACKOFF_S = [5.0, 60.0]
    monkeypatch.setattr(
        dispatch, "webhook_deliver_send", lambda delivery_id, **_: webhooks.deliver(delivery_id=delivery_id)
    )


def _verify(secret: str, headers: dict, body: bytes) -> dict:
    return Webhook(secret).verify(body, {k: v for k, v in headers.items() if not k.startswith(":")})


def _completed(user, **kwargs) -> Job:
    ticket = services.job_create(user=user, mode="ocr", filename="doc.png", content_type="", base_url="http://t/",
                                 **kwargs)  # fmt: skip
    services.job_upload_receive(job_id=ticket.job.id, filename="doc.png", data=png_bytes(["Hello"]))
    assert services.job_claim(job_id=ticket.job.id)
    page = {"page": 1, "width": 10, "height": 10, "text": "Hello page", "blocks": [], "model": "m",
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}  # fmt: skip
    processing.job_page_store(job_id=ticket.job.id, number=1, result=page)
    return completion.job_complete(job=Job.objects.get(pk=ticket.job.id))


def test_private_webhook_urls_are_refused_unless_the_operator_allows_them(api, user, settings):
    for url in ("http://127.0.0.1:9/h", "http://10.0.0.1/h", "http://169.254.169.254/latest", "ftp://x/h", "nope"):
        response = api.post("/api/v1/webhooks", {"url": url}, format="json")
        assert response.status_code == 400, url
    assert not WebhookEndpoint.objects.exists()
    settings.DEEPREAD_WEBHOOK_ALLOW_PRIVATE = True
    assert api.post("/api/v1/webhooks", {"url": "http://127.0.0.1:9/h"}, format="json").status_code == 201


def test_endpoint_secret_is_shown_once_and_deliveries_verify_with_standardwebhooks(
    api, user, listener, allow_private, django_capture_on_commit_callbacks
):
    response = api.post("/api/v1/webhooks", {"url": listener.url, "events": ["job.completed",
                        "job.page_completed", "nope"]}, format="json")  # fmt: skip
    assert response.status_code == 400
    assert "Unknown event 'nope'" in response.json()["detail"]
    created = api.post("/api/v1/webhooks", {"url": listener.url, "events": ["job.completed", "job.page_completed"]},
                       format="json").json()  # fmt: skip
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert "secret" not in api.get(f"/api/v1/webhooks/{created['id']}").json()
    assert "secret" not in api.get("/api/v1/webhooks").json()[0]

    with django_capture_on_commit_callbacks(execute=True):
        job = _completed(user)
        from ocrjobs.events import job_ended

        assert job_ended(job_id=job.id) is True
        assert job_ended(job_id=job.id) is False  # once
    received = listener.wait_for(2)
    bodies = [_verify(secret, headers, body) for headers, body in received]
    assert [b["type"] for b in bodies] == ["job.page_completed", "job.completed"]
    page, done = bodies
    assert (page["data"]["page"], page["data"]["text"], page["data"]["job_id"]) == (1, "Hello page", str(job.id))
    assert (done["data"]["status"], done["data"]["output_key"]) == ("completed", "ocr/doc.json")
    tampered = received[1][1].replace(b"completed", b"failed")
    with pytest.raises(Exception, match="signature"):
        _verify(secret, received[1][0], tampered)
    log = api.get(f"/api/v1/webhooks/deliveries?job={job.id}").json()
    assert {(d["event"], d["status"], d["response_code"], d["attempts"]) for d in log} == {
        ("job.page_completed", "succeeded", 200, 1), ("job.completed", "succeeded", 200, 1)}  # fmt: skip


def test_a_failing_endpoint_is_retried_with_backoff_then_marked_failed_and_can_be_redelivered(
    api, user, listener, allow_private, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    _endpoint, secret = webhooks.endpoint_create(user=user, url=listener.url, events=["job.completed"])
    job = _completed(user)
    listener.statuses = [500, 503, 500]
    now = timezone.now()
    (delivery_id,) = webhooks.enqueue(job=job, event="job.completed", data=webhooks.job_payload(job))
    WebhookDelivery.objects.filter(pk=delivery_id).update(next_attempt_at=now)
    assert webhooks.deliver(delivery_id=delivery_id, now=now) == 5.0
    assert webhooks.deliver(delivery_id=delivery_id, now=now) is None  # not due yet: nothing sent
    assert len(listener.received) == 1
    later = now + timezone.timedelta(seconds=6)
    assert webhooks.deliveries_due(now=later) == [delivery_id]
    assert webhooks.deliver(delivery_id=delivery_id, now=later) == 60.0
    last = later + timezone.timedelta(seconds=61)
    assert webhooks.deliver(delivery_id=delivery_id, now=last) is None
    row = WebhookDelivery.objects.get(pk=delivery_id)
    assert (row.status, row.attempts, row.response_code, row.error) == ("failed", 3, 500, "HTTP 500")
    assert webhooks.deliveries_due(now=last + timezone.timedelta(days=2)) == []
    ids = {h["webhook-id"] for h, _ in listener.wait_for(3)}
    assert len(ids) == 1  # every attempt is the same message

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/webhooks/deliveries/{delivery_id}/redeliver")
    assert response.status_code == 202
    again = response.json()
    headers, body = listener.wait_for(4)[3]
    assert headers["webhook-id"] == row.msg_id
    assert _verify(secret, headers, body)["data"]["job_id"] == str(job.id)
    assert WebhookDelivery.objects.get(pk=again["id"]).status == "succeeded"
    assert api.post("/api/v1/webhooks/deliveries/999999/redeliver").status_code == 404


def test_a_job_callback_url_needs_the_callback_secret_and_gets_signed_events(
    api, user, listener, allow_private, django_capture_on_commit_callbacks
):
    response = api.post(SIGN_URL, {"callback_url": listener.url}, format="json")
    assert response.status_code == 400
    assert "callback secret" in response.json()["detail"]
    assert (Job.objects.count(), MonthlyUsage.objects.filter(user=user).count()) == (0, 0)
    secret = api.post("/api/v1/webhooks/callback-secret").json()["secret"]
    assert api.get("/api/v1/settings").json()["callback_secret_set"] is True
    ticket = api.post(SIGN_URL, {"callback_url": listener.url}, format="json").json()
    with django_capture_on_commit_callbacks(execute=True):
        control.job_cancel(user=user, job_id=ticket["job_id"])
    ((headers, body),) = listener.wait_for(1)
    event = _verify(secret, headers, body)
    assert (event["type"], event["data"]["status"]) == ("job.cancelled", "cancelled")


def test_idempotency_key_replays_the_first_response_and_refuses_another_body(api, user, api_key):
    first = api.post(SIGN_URL + "?mode=ocr", {"filename": "a.png"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    again = api.post(SIGN_URL + "?mode=ocr", {"filename": "a.png"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert (Job.objects.count(), MonthlyUsage.objects.get(user=user).used) == (1, 1)

    other = api.post(SIGN_URL + "?mode=ocr", {"filename": "b.png"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert other.status_code == 422
    assert "different request" in other.json()["detail"]
    assert api.post(SIGN_URL + "?mode=table", {"filename": "a.png"}, format="json",
                    HTTP_IDEMPOTENCY_KEY="k1").status_code == 422  # fmt: skip
    assert (Job.objects.count(), MonthlyUsage.objects.get(user=user).used) == (1, 1)

    # Keys are per API key: another key of the same account with the same Idempotency-Key is a new request.
    from rest_framework.test import APIClient

    second = APIClient()
    second.credentials(HTTP_X_API_KEY=ApiKeyFactory.create_with_raw(user=user)[1])
    fresh = second.post(SIGN_URL + "?mode=ocr", {"filename": "a.png"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert fresh.json()["job_id"] != first.json()["job_id"]
    assert MonthlyUsage.objects.get(user=user).used == 2


def test_a_refused_request_does_not_keep_its_idempotency_key(api, user):
    bad = api.post(SIGN_URL + "?mode=nope", format="json", HTTP_IDEMPOTENCY_KEY="k2")
    assert bad.status_code == 400
    assert not IdempotencyRecord.objects.exists()
    assert api.post(SIGN_URL, format="json", HTTP_IDEMPOTENCY_KEY="k2").status_code == 200
    assert api.post(SIGN_URL, format="json", HTTP_IDEMPOTENCY_KEY="x" * 256).status_code == 400
    assert Job.objects.count() == 1


def test_an_expired_key_runs_again(api, user, settings):
    first = api.post(SIGN_URL, format="json", HTTP_IDEMPOTENCY_KEY="k3").json()
    IdempotencyRecord.objects.update(created_at=IdempotencyRecord.objects.get().created_at.replace(year=2000))
    second = api.post(SIGN_URL, format="json", HTTP_IDEMPOTENCY_KEY="k3").json()
    assert first["job_id"] != second["job_id"]


def test_editing_a_custom_mode_makes_a_version_and_jobs_record_theirs(api, user):
    mode = custom_mode_create(user=user, name="memo", display_name="Memo", prompt="<image>\nFree OCR.")
    first = api.post(SIGN_URL + "?mode=memo").json()
    custom_mode_update(user=user, mode_id=mode.pk, display_name="Memo")  # nothing changed: no version
    custom_mode_update(user=user, mode_id=mode.pk, prompt="<image>\nOCR this image.")
    second = api.post(SIGN_URL + "?mode=memo").json()
    assert Job.objects.get(pk=first["job_id"]).mode_version == 1
    assert Job.objects.get(pk=second["job_id"]).mode_version == 2
    assert api.get(f"/api/v1/jobs/{second['job_id']}").json()["mode_version"] == 2
    versions = api.get("/api/v1/ocr-modes/memo/versions").json()
    assert [(v["version"], v["prompt"], v["current"]) for v in versions] == [
        (2, "<image>\nOCR this image.", True), (1, "<image>\nFree OCR.", False)]  # fmt: skip
    assert api.get("/api/v1/ocr-modes/ocr/versions").status_code == 404
    assert api.get("/api/v1/ocr-modes/nope/versions").json()["detail"] == "No custom mode 'nope'."


def test_the_dashboard_reruns_a_result_with_the_current_version(client, user):
    client.force_login(user)
    mode = custom_mode_create(user=user, name="memo", display_name="Memo", prompt="<image>\nFree OCR.")
    ticket = services.job_create(user=user, mode="memo", filename="d.png", content_type="", base_url="http://t/")
    services.job_upload_receive(job_id=ticket.job.id, filename="d.png", data=png_bytes(["Hello"]))
    services.job_claim(job_id=ticket.job.id)
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    page = {"page": 1, "width": 1, "height": 1, "text": "x", "blocks": [], "usage": usage}
    JobPage.objects.create(job_id=ticket.job.id, page=1, result=page)
    job = completion.job_complete(job=Job.objects.get(pk=ticket.job.id))
    page = client.get(f"/jobs/{job.id}/").content.decode()
    assert "mode memo v1" in page
    assert "Run again with the current version" not in page
    custom_mode_update(user=user, mode_id=mode.pk, prompt="<image>\nOCR this image.")
    page = client.get(f"/jobs/{job.id}/").content.decode()
    assert "Run again with the current version (v2)" in page
    response = client.post(f"/jobs/{job.id}/rerun")
    new = Job.objects.exclude(pk=job.id).get()
    assert response.url == f"/jobs/{new.id}/"
    assert (new.mode_version, new.prompt, new.status, new.retry_of_id) == (
        2, "<image>\nOCR this image.", JobStatus.QUEUED, job.id)  # fmt: skip
