"""The isolation matrix: every API endpoint, dashboard page, htmx fragment and download, called by an anonymous
caller, another account, a revoked key and an expired trial. None of them reads or changes what it should not."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import ApiKey, MonthlyUsage
from accounts.services import api_key_revoke
from accounts.tiers import Tier
from devtools.samples import png_bytes
from modes.models import CustomMode
from modes.services import custom_mode_create
from ocrjobs import completion, services
from ocrjobs.models import Job, JobPage
from tests.factories import ApiKeyFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_world():
    """An account with a finished job, a custom mode and a key: what the others must not reach."""
    owner = UserFactory(email="owner@example.com")
    key, raw = ApiKeyFactory.create_with_raw(user=owner)
    mode = custom_mode_create(user=owner, name="secret-mode", display_name="Secret", prompt="Free OCR.")
    ticket = services.job_create(user=owner, mode="ocr", filename="private.png", content_type="image/png",
                                 base_url="http://testserver/")  # fmt: skip
    services.job_upload_receive(job_id=ticket.job.id, filename="private.png", data=png_bytes(["Private"]))
    services.job_claim(job_id=ticket.job.id)
    JobPage.objects.create(job_id=ticket.job.id, page=1, result={
        "page": 1, "width": 10, "height": 10, "text": "Private", "blocks": [], "finish_reason": "stop",
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}})  # fmt: skip
    job = completion.job_complete(job=Job.objects.get(pk=ticket.job.id))
    return {"owner": owner, "key": key, "raw": raw, "mode": mode, "job": job}


def _snapshot(world) -> tuple:
    return (
        Job.objects.count(),
        list(MonthlyUsage.objects.order_by("user_id").values_list("user_id", "used")),
        ApiKey.objects.get(pk=world["key"].pk).revoked_at,
        CustomMode.objects.filter(pk=world["mode"].pk).values_list("display_name", flat=True).first(),
    )


def _callers(db):
    other = UserFactory(email="other@example.com")
    _, other_raw = ApiKeyFactory.create_with_raw(user=other)
    revoked_user = UserFactory(email="revoked@example.com")
    revoked_key, revoked_raw = ApiKeyFactory.create_with_raw(user=revoked_user)
    api_key_revoke(user=revoked_user, key_id=revoked_key.pk)
    expired = UserFactory(
        email="expired@example.com", tier=Tier.TRIAL, date_joined=timezone.now() - dt.timedelta(days=40)
    )
    _, expired_raw = ApiKeyFactory.create_with_raw(user=expired)
    return {
        "anonymous": {},
        "other account": {"HTTP_X_API_KEY": other_raw},
        "revoked key": {"HTTP_X_API_KEY": revoked_raw},
        "expired trial": {"HTTP_AUTHORIZATION": f"Bearer {expired_raw}"},
    }, {"other account": other, "expired trial": expired}


def test_api_matrix(client, owner_world):
    callers, _ = _callers(None)
    job = owner_world["job"]
    image = base64.b64encode(png_bytes(["x"])).decode()
    before = _snapshot(owner_world)
    for who, headers in callers.items():
        calls = [
            ("get", "/api/v1/ocr-modes", None),
            ("post", "/api/v1/upload/signed-url?mode=ocr", {}),
            ("get", "/api/v1/processing-jobs", None),
            ("post", f"/api/v1/download/signed-url?file_path={job.output_key}", {}),
            ("post", "/api/v1/download/signed-url?file_path=ocr/private/page-1-annotated.png", {}),
            ("get", f"/api/v1/results/{job.id}", None),
            ("post", "/v1/ocr", {"image": image, "image_type": "base64"}),
            ("get", "/v1/models", None),
        ]
        for method, url, body in calls:
            if method == "get":
                response = client.get(url, **headers)
            else:
                response = client.post(url, body, content_type="application/json", **headers)
            text = response.content.decode()
            assert "Private" not in text, (who, url)
            assert "secret-mode" not in text, (who, url)
            assert str(job.id) not in text or url.endswith(str(job.id)) is False, (who, url)
            if who in ("anonymous", "revoked key"):
                assert response.status_code == 401, (who, url, response.status_code)
            elif who == "other account":
                if "results" in url or "download" in url:
                    assert response.status_code == 404, (who, url)
            elif who == "expired trial" and ("signed-url?mode" in url or url == "/v1/ocr"):
                assert response.status_code == 403, (who, url)
    after = _snapshot(owner_world)
    # Nothing of the owner's changed; the only new jobs are the other account's own (one upload ticket).
    assert after[2:] == before[2:]
    assert after[0] == before[0] + 1
    assert Job.objects.filter(owner=owner_world["owner"]).count() == 1


def test_dashboard_matrix(client, owner_world):
    job, mode, key = owner_world["job"], owner_world["mode"], owner_world["key"]
    urls = [
        f"/jobs/{job.id}/", f"/jobs/{job.id}/row", f"/jobs/{job.id}/pages/1.png",
        f"/jobs/{job.id}/files/page-1-annotated.png", f"/jobs/{job.id}/download/json",
        f"/jobs/{job.id}/download/md", f"/jobs/{job.id}/download/original",
        f"/modes/{mode.pk}/edit", f"/modes/{mode.pk}/delete", f"/keys/{key.pk}/revoke",
    ]  # fmt: skip
    before = _snapshot(owner_world)
    # Anonymous: every page and fragment sends to the login page, htmx or not.
    for url in [*urls, "/jobs/", "/keys/", "/usage/", "/modes/", "/upload/"]:
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = client.get(url, **headers)
            assert response.status_code == 302, url
            assert response["Location"].startswith("/accounts/login/"), url
    assert (
        client.post("/upload/ticket", {"filename": "a.png", "content_type": "image/png", "size": "5"}).status_code
        == 302
    )
    # Another account, logged in: 404 on every object of the owner, for reads and writes.
    _, users = _callers(None)
    for who in ("other account", "expired trial"):
        client.force_login(users[who])
        for url in urls:
            assert client.get(url).status_code == 404, (who, url)
            assert client.get(url, HTTP_HX_REQUEST="true").status_code == 404, (who, url)
        for url in (f"/modes/{mode.pk}/edit", f"/modes/{mode.pk}/delete", f"/keys/{key.pk}/revoke"):
            assert (
                client.post(
                    url, {"name": "x", "display_name": "Hacked", "prompt": "x", "output_kind": "text"}
                ).status_code
                == 404
            )
        listing = (
            client.get("/jobs/").content.decode()
            + client.get("/keys/").content.decode()
            + client.get("/modes/").content.decode()
        )
        assert "private.png" not in listing
        assert key.prefix not in listing
        assert "secret-mode" not in listing
        client.logout()
    assert _snapshot(owner_world) == before


def test_signed_storage_urls_are_bound_to_one_object(client, owner_world):
    from storage.objects import presign_download

    job = owner_world["job"]
    url = presign_download(key=job.result_key, ttl=60, base_url="http://testserver/")
    path = url.split("testserver", 1)[1]
    assert client.get(path).status_code == 200
    other_key = job.result_key.replace("private", "other")
    assert client.get(path.replace(job.result_key.split("/")[-1], other_key.split("/")[-1])).status_code == 403
    assert client.get(path[:-3] + ("aaa" if not path.endswith("aaa") else "bbb")).status_code == 403
    expired = presign_download(key=job.result_key, ttl=-1, base_url="http://testserver/")
    assert client.get(expired.split("testserver", 1)[1]).status_code == 403
