"""Dashboard views: login walls, full pages against htmx fragments, isolation between accounts, query counts,
uploads refused before anything is spent, sanitised results."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiKey, MonthlyUsage, User
from accounts.quota import month_start
from accounts.tiers import Tier
from devtools.samples import png_bytes
from modes.models import CustomMode
from modes.services import custom_mode_create
from ocrjobs import completion, services
from ocrjobs.models import Job, JobPage, JobStatus
from tests.factories import ApiKeyFactory, JobFactory, UserFactory
from tests.helpers import requests_used

pytestmark = pytest.mark.django_db
PAGES = ["/jobs/", "/upload/", "/keys/", "/usage/", "/modes/", "/modes/new", "/welcome/", "/accounts/password/"]


def _completed_job(user, *, text="Hello", blocks=None, mode="document") -> Job:
    """A finished job written through the services, with a stored upload and result."""
    ticket = services.job_create(
        user=user, mode=mode, filename="doc.png", content_type="image/png", base_url="http://t/"
    )
    services.job_upload_receive(job_id=ticket.job.id, filename="doc.png", data=png_bytes(["Hello"]))
    assert services.job_claim(job_id=ticket.job.id)
    page = {"page": 1, "width": 1100, "height": 120, "text": text, "usage": {"prompt_tokens": 0, "completion_tokens": 0,
            "total_tokens": 0}, "finish_reason": "stop", "model": "test-engine",
            "blocks": blocks or [{"type": "text", "text": text, "bbox": [40, 30, 400, 60]}]}  # fmt: skip
    JobPage.objects.create(job_id=ticket.job.id, page=1, result=page)
    job = Job.objects.get(pk=ticket.job.id)
    return completion.job_complete(job=job)


@pytest.mark.parametrize("url", PAGES)
def test_pages_need_a_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", PAGES)
def test_pages_render_with_a_strict_csp(client, me, url):
    response = client.get(url)
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert b"<script>" not in response.content  # no inline script: only <script src=…>
    assert b"csrfmiddlewaretoken" in response.content or b"X-CSRFToken" in response.content


def test_sign_up_starts_a_trial_and_offers_the_first_key(client, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/accounts/signup/",
            {
                "email": "New@Example.com",
                "password1": "a long enough pass phrase",
                "password2": "a long enough pass phrase",
            },
        )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/signup/sent/"
    user = User.objects.get(email="new@example.com")
    assert user.tier == Tier.TRIAL
    (mail,) = mailoutbox
    link = re.search(r"http://testserver(/accounts/confirm/\S+)", mail.body).group(1)
    assert client.post(link, {"password": "a long enough pass phrase"})["Location"] == "/welcome/"
    assert b"Create my first API key" in client.get("/welcome/").content


def test_sign_up_refuses_weak_passwords(client):
    response = client.post(
        "/accounts/signup/", {"email": "n@example.com", "password1": "12345678", "password2": "12345678"}
    )
    assert b"too common" in response.content or b"entirely numeric" in response.content
    assert User.objects.filter(email="n@example.com").count() == 0


def test_jobs_full_page_and_htmx_fragment(client, me):
    _completed_job(me)
    full = client.get("/jobs/")
    assert b"<html" in full.content
    assert b"doc.png" in full.content
    fragment = client.get("/jobs/?status=completed", HTTP_HX_REQUEST="true")
    assert b"<html" not in fragment.content
    assert fragment.content.lstrip().startswith(b'<div id="job-table">')
    assert b"doc.png" in fragment.content
    assert b"doc.png" not in client.get("/jobs/?status=failed", HTTP_HX_REQUEST="true").content


def test_the_list_polls_once_while_a_row_runs_and_stops_when_all_end(client, me):
    running = []
    for n in range(3):
        ticket = services.job_create(user=me, mode="ocr", filename=f"a{n}.png", content_type="image/png",
                                     base_url="http://t/")  # fmt: skip
        services.job_upload_receive(job_id=ticket.job.id, filename=f"a{n}.png", data=png_bytes())
        running.append(ticket.job.id)
    page = client.get("/jobs/?mode=ocr").content.decode()
    assert page.count('hx-trigger="every 2s"') == 1
    assert 'id="job-table" hx-get="/jobs/?mode=ocr&amp;page=1" hx-trigger="every 2s"' in page
    assert "every 2s" not in client.get(f"/jobs/{running[0]}/row").content.decode()
    Job.objects.filter(pk__in=running).update(status=JobStatus.FAILED, error="x")
    _completed_job(me)
    assert "every 2s" not in client.get("/jobs/?mode=ocr", HTTP_HX_REQUEST="true").content.decode()


def test_a_history_restore_gets_the_whole_page_with_its_filters(client, me):
    _completed_job(me)
    restored = client.get("/jobs/?filename=doc&status=completed", HTTP_HX_REQUEST="true",
                          HTTP_HX_HISTORY_RESTORE_REQUEST="true").content.decode()  # fmt: skip
    assert "<html" in restored
    assert 'name="filename" value="doc"' in restored
    assert '<option value="completed" selected>' in restored


def test_empty_state_says_what_to_do(client, me):
    content = client.get("/jobs/").content
    assert b"No jobs yet" in content
    assert b"Upload your first file" in content


def test_job_list_query_count_does_not_grow_with_jobs(client, me):
    _completed_job(me)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/jobs/").status_code == 200
        return len(ctx.captured_queries)

    few = count()
    Job.objects.bulk_create(
        JobFactory.build_batch(10_000, owner=me, status=JobStatus.PROCESSING, page_count=3, pages_done=1)
    )
    many = count()
    assert many == few
    assert many <= 8


def test_another_accounts_job_is_404_everywhere(client, me):
    other = UserFactory()
    job = _completed_job(other)
    for url in (
        f"/jobs/{job.id}/",
        f"/jobs/{job.id}/row",
        f"/jobs/{job.id}/pages/1.png",
        f"/jobs/{job.id}/files/page-1-annotated.png",
        f"/jobs/{job.id}/download/json",
        f"/jobs/{job.id}/download/md",
        f"/jobs/{job.id}/download/original",
        f"/jobs/{uuid.uuid4()}/",
    ):
        assert client.get(url).status_code == 404, url
        assert client.get(url, HTTP_HX_REQUEST="true").status_code == 404, url
    assert b"doc.png" not in client.get("/jobs/").content


def test_another_accounts_key_and_mode_are_404(client, me):
    other = UserFactory()
    key, _ = ApiKeyFactory.create_with_raw(user=other)
    mode = custom_mode_create(user=other, name="theirs", display_name="Theirs", prompt="Free OCR.")
    assert client.post(f"/keys/{key.pk}/revoke").status_code == 404
    assert client.get(f"/modes/{mode.pk}/edit").status_code == 404
    assert client.post(f"/modes/{mode.pk}/delete").status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None
    assert CustomMode.objects.filter(pk=mode.pk).exists()


def test_viewer_shows_blocks_and_sanitised_markdown(client, me):
    hostile = (
        "# Title\n\n<script>alert(1)</script><img src=x onerror=alert(2)>"
        '[click](javascript:alert(3))\n\n<table><tr><td rowspan="2">a</td></tr></table>\n\n\\(x^2\\)'
    )
    job = _completed_job(me, text=hostile)
    content = client.get(f"/jobs/{job.id}/").content.decode()
    rendered = content.split('id="tab-text"', 1)[1].split('id="tab-blocks"', 1)[0]
    assert "<h1>Title</h1>" in rendered
    assert "<script" not in content.split("</head>", 1)[1]  # no script element in the body at all
    assert "onerror" not in rendered
    assert 'href="javascript:' not in rendered
    assert '<td rowspan="2">a</td>' in rendered
    assert "\\(x^2\\)" in rendered  # left for KaTeX
    assert "&lt;script&gt;" in content  # the raw JSON tab shows it, escaped
    assert 'class="blk blk-text"' in content
    assert 'viewBox="0 0 1100 120"' in content


def test_downloads(client, me):
    job = _completed_job(me, text="Some *markdown*")
    as_json = client.get(f"/jobs/{job.id}/download/json")
    assert json.loads(b"".join(as_json.streaming_content) if as_json.streaming else as_json.content)["job_id"] == str(
        job.id
    )
    md = client.get(f"/jobs/{job.id}/download/md")
    assert md.content == b"Some *markdown*"
    assert md["Content-Disposition"] == 'attachment; filename="doc.md"'
    assert client.get(f"/jobs/{job.id}/download/csv").status_code == 404  # no tables in this result
    original = client.get(f"/jobs/{job.id}/download/original")
    assert b"".join(original.streaming_content) == png_bytes(["Hello"])
    annotated = client.get(f"/jobs/{job.id}/files/page-1-annotated.png")
    assert annotated["Content-Type"] == "image/png"


def test_upload_ticket_refusals_spend_nothing(client, me):
    cases = [
        ({"filename": "a.exe", "content_type": "application/x-msdownload", "size": "10", "mode": "ocr"}, 400),
        ({"filename": "big.png", "content_type": "image/png", "size": str(10**10), "mode": "ocr"}, 413),
        ({"filename": "a.png", "content_type": "image/png", "size": "0", "mode": "ocr"}, 400),
        ({"filename": "a.png", "content_type": "image/png", "size": "10", "mode": "formula"}, 400),
        ({"filename": "a.png", "content_type": "image/png", "size": "10", "mode": "nope"}, 400),
    ]
    for data, status in cases:
        response = client.post("/upload/ticket", data)
        assert response.status_code == status, data
        assert response.json()["error"]
    MonthlyUsage.objects.create(user=me, month=month_start(timezone.now()), used=1000)
    response = client.post(
        "/upload/ticket", {"filename": "a.png", "content_type": "image/png", "size": "10", "mode": "ocr"}
    )
    assert response.status_code == 403
    assert "Monthly limit" in response.json()["error"]
    assert Job.objects.count() == 0
    assert requests_used(me) == 1000


def test_upload_ticket_goes_through_the_signed_url_route(client, me):
    response = client.post(
        "/upload/ticket", {"filename": "scan.png", "content_type": "image/png", "size": "100", "mode": "ocr"}
    )
    assert response.status_code == 200
    ticket = response.json()
    assert "/storage/upload/" in ticket["upload_url"]
    put = client.generic("PUT", ticket["upload_url"].split("testserver", 1)[1], png_bytes(), content_type="image/png")
    assert put.status_code == 200
    assert Job.objects.get(pk=ticket["job_id"]).status == JobStatus.QUEUED
    assert requests_used(me) == 1


def test_key_is_shown_once_and_revoked_with_confirmation(client, me):
    response = client.post("/keys/create", {"name": "laptop"}, HTTP_HX_REQUEST="true")
    assert response["Cache-Control"] == "no-store"
    raw = response.content.decode().split('value="', 1)[1].split('"', 1)[0]
    assert raw.startswith("ocr_")
    assert raw not in client.get("/keys/").content.decode()
    key = ApiKey.objects.get(user=me)
    confirm = client.get(f"/keys/{key.pk}/revoke")
    assert b"cannot be undone" in confirm.content
    assert client.post(f"/keys/{key.pk}/revoke").status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_custom_mode_crud_and_listing_in_the_api(client, me):
    response = client.post(
        "/modes/new",
        {"name": "inv", "display_name": "Invoices", "description": "", "prompt": "Free OCR.", "output_kind": "text"},
    )
    assert response.status_code == 302
    mode = CustomMode.objects.get(owner=me, name="inv")
    _, raw = ApiKeyFactory.create_with_raw(user=me)
    names = [m["name"] for m in client.get("/api/v1/ocr-modes", HTTP_X_API_KEY=raw).json()]
    assert "inv" in names
    edit = {"name": "inv", "display_name": "Bills", "description": "", "prompt": "Free OCR.", "output_kind": "markdown"}
    client.post(f"/modes/{mode.pk}/edit", edit)
    mode.refresh_from_db()
    assert (mode.display_name, mode.output_kind) == ("Bills", "markdown")
    bad = client.post("/modes/new", {"name": "ocr", "display_name": "x", "prompt": "x", "output_kind": "text"})
    assert bad.status_code == 400
    assert b"built-in" in bad.content
    assert client.post(f"/modes/{mode.pk}/delete").status_code == 302
    assert not CustomMode.objects.filter(pk=mode.pk).exists()


def test_preview_runs_the_engine_and_counts_nothing(client, me):
    from ocr import services as ocr_services

    assert ocr_services.wait_until_loaded(timeout=120)
    response = client.post(
        "/modes/preview",
        {
            "prompt": "Free OCR.",
            "output_kind": "text",
            "sample": ContentFile(png_bytes(["Preview this"]), name="s.png"),
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert b"Preview this" in response.content
    assert b"data:image/png;base64," in response.content
    assert Job.objects.count() == 0
    assert requests_used(me) == 0
    refused = client.post(
        "/modes/preview", {"prompt": "x", "output_kind": "text", "sample": ContentFile(b"not an image", name="s.png")}
    )
    assert refused.status_code == 400


def test_usage_page_shows_the_month_and_the_days(client, me):
    ticket = services.job_create(user=me, mode="ocr", filename="a.png", content_type="image/png", base_url="http://t/")
    assert ticket.quota.used == 1
    content = client.get("/usage/").content.decode()
    assert "<strong>1</strong> of 1000 requests" in content
    assert content.count('class="bar"') == 30
    assert "your tier" in content


def test_page_image_is_the_upload_itself_for_a_png(client, me):
    job = _completed_job(me)
    response = client.get(f"/jobs/{job.id}/pages/1.png")
    assert b"".join(response.streaming_content) == png_bytes(["Hello"])  # streamed from storage, not decoded
    assert default_storage.exists(job.upload_key)


def test_the_pager_keeps_a_filter_with_reserved_characters(client, me):
    for n in range(26):  # one more than a page
        services.job_create(user=me, mode="ocr", filename=f"a+b {n}.png", content_type="image/png",
                            base_url="http://t/")  # fmt: skip
    services.job_create(user=me, mode="ocr", filename="ab other.png", content_type="image/png", base_url="http://t/")
    first = client.get("/jobs/", {"filename": "a+b"}).content.decode()
    assert "filename=a%2Bb&amp;page=2" in first
    second = client.get("/jobs/?filename=a%2Bb&page=2").content.decode()
    assert "a+b 0.png" in second
    assert "ab other.png" not in second
