"""The dashboard's uploads after the file was sent (issue 12, item 5): a file the server refuses cancels its job
and gives its request back at once; an accepted one can be followed to its end. Scoped to the owner."""

from __future__ import annotations

import pytest

from accounts.selectors import quota_status
from devtools.samples import png_bytes
from ocrjobs import processing
from ocrjobs.models import Job, JobStatus
from tests.factories import UserFactory
from tests.helpers import requests_used

pytestmark = pytest.mark.django_db


def _ticket(client, name: str = "scan.png") -> dict:
    response = client.post("/upload/ticket", {"filename": name, "content_type": "image/png", "size": "100"})
    assert response.status_code == 200
    return response.json()


def _put(client, ticket: dict, data: bytes):
    return client.generic("PUT", ticket["upload_url"].split("testserver", 1)[1], data, content_type="image/png")


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"GIF89a" + b"\0" * 50, "Unsupported file type"), (png_bytes()[:90], "corrupt or truncated")],
    ids=["wrong-type", "damaged"],
)
def test_a_refused_file_cancels_its_job_and_gives_the_request_back(client, me, data, reason):
    ticket = _ticket(client)
    assert requests_used(me) == 1
    refused = _put(client, ticket, data)
    assert refused.status_code == 400
    message = refused.json()["detail"]
    assert reason in message

    response = client.post(ticket["abandon_url"], {"reason": message})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["terminal"] is True
    assert ticket["remaining"] == quota_status(user=me).limit - 1
    assert body["remaining"] == quota_status(user=me).limit  # none spent
    job = Job.objects.get(pk=ticket["job_id"])
    assert job.status == JobStatus.CANCELLED
    assert job.refunded is True
    assert reason in job.error
    assert requests_used(me) == 0

    # Asking twice gives back nothing more.
    assert client.post(ticket["abandon_url"], {"reason": message}).status_code == 200
    assert requests_used(me) == 0


def test_an_accepted_upload_is_not_cancelled_and_its_state_follows_the_job(client, me, django_assert_num_queries):
    ticket = _ticket(client)
    assert _put(client, ticket, png_bytes()).status_code == 200
    response = client.post(ticket["abandon_url"], {"reason": "network error"})
    assert response.json()["status"] == "pending"
    assert Job.objects.get(pk=ticket["job_id"]).status == JobStatus.QUEUED
    assert requests_used(me) == 1

    with django_assert_num_queries(3):  # the session, its user, the job
        state = client.get(ticket["state_url"]).json()
    assert state == {
        "job_id": ticket["job_id"],
        "status": "pending",
        "terminal": False,
        "error": None,
        "pages_done": 0,
        "page_count": 1,
    }
    processing.job_run(job_id=ticket["job_id"])
    state = client.get(ticket["state_url"]).json()
    assert (state["status"], state["terminal"], state["pages_done"]) == ("completed", True, 1)


def test_another_account_can_neither_cancel_nor_follow_a_job(client, me):
    ticket = _ticket(client)
    client.force_login(UserFactory())
    assert client.post(ticket["abandon_url"], {"reason": "x"}).status_code == 404
    assert client.get(ticket["state_url"]).status_code == 404
    assert Job.objects.get(pk=ticket["job_id"]).status == JobStatus.AWAITING_UPLOAD
    assert requests_used(me) == 1


def test_the_endpoints_need_a_login_and_abandon_needs_a_post(client, me):
    ticket = _ticket(client)
    assert client.get(ticket["abandon_url"]).status_code == 405
    client.logout()
    assert client.post(ticket["abandon_url"]).status_code == 302
    assert client.get(ticket["state_url"]).status_code == 302
    assert Job.objects.get(pk=ticket["job_id"]).status == JobStatus.AWAITING_UPLOAD


@pytest.mark.parametrize(
    ("size", "content_type", "status", "message"),
    [
        ("999999999999", "image/png", 413, "The file is larger than the upload limit."),
        ("0", "image/png", 400, "The file is empty."),
        ("100", "text/plain", 400, "Unsupported content type 'text/plain': use image/png, image/jpeg, image/bmp, "
                                   "image/tiff or application/pdf."),
        ("100", "", 400, "Unsupported content type '': use image/png, image/jpeg, image/bmp, image/tiff or "
                         "application/pdf."),
    ],
)  # fmt: skip
def test_a_ticket_for_a_file_the_upload_would_refuse_is_refused_in_the_services_words(
    client, me, size, content_type, status, message
):
    response = client.post("/upload/ticket", {"filename": "a.png", "content_type": content_type, "size": size})
    assert (response.status_code, response.json()) == (status, {"error": message})
    assert not Job.objects.exists()
    assert requests_used(me) == 0
