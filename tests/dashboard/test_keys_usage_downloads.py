"""The dashboard's second pass, in-process: key expiry, per-key counts and revoked keys hidden; usage by mode and
as CSV; the trial's end; downloads named after the file, Markdown with page separators."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import ApiKey, User
from accounts.services import api_key_create, api_key_revoke
from accounts.tiers import Tier
from ocrjobs.models import Job, JobPage
from ocrjobs.usage import usage_record
from tests.dashboard.test_views import _completed_job

pytestmark = pytest.mark.django_db


def test_an_expired_key_is_refused_and_spends_nothing(client, me):
    key, raw = api_key_create(user=me, name="old", expires_at=timezone.now() + dt.timedelta(hours=1))
    assert client.post("/api/v1/upload/signed-url", HTTP_X_API_KEY=raw).status_code == 200
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = client.post("/api/v1/upload/signed-url", HTTP_X_API_KEY=raw)
    assert response.status_code == 401
    assert set(response.json()) == {"detail"}
    assert Job.objects.filter(owner=me).count() == 1


def test_a_key_made_with_an_expiry_day_ends_with_that_day(client, me):
    tomorrow = (timezone.now() + dt.timedelta(days=1)).date()
    client.post("/keys/create", {"name": "ci", "expires_on": tomorrow.isoformat()})
    key = ApiKey.objects.get(user=me)
    assert key.expires_at == dt.datetime.combine(tomorrow, dt.time.max, tzinfo=dt.UTC)
    yesterday = (timezone.now() - dt.timedelta(days=1)).date()
    refused = client.post("/keys/create", {"name": "late", "expires_on": yesterday.isoformat()})
    assert refused.status_code == 400
    assert "Choose a day from today on." in refused.content.decode()
    assert ApiKey.objects.filter(user=me).count() == 1


def test_keys_page_counts_requests_per_key_and_hides_revoked_keys(client, me):
    laptop, _ = api_key_create(user=me, name="laptop")
    ci, _ = api_key_create(user=me, name="ci-runner")
    for _ in range(3):
        usage_record(user=me, api_key_id=laptop.pk, kind="job", mode="ocr")
    usage_record(user=me, api_key_id=ci.pk, kind="sync", mode="ocr")
    api_key_revoke(user=me, key_id=ci.pk)
    page = client.get("/keys/").content.decode()
    assert "laptop" in page
    assert "3 requests" in page
    assert "ci-runner" not in page
    assert "Show 1 revoked key" in page
    shown = client.get("/keys/?revoked=show").content.decode()
    assert "ci-runner" in shown
    assert "1 request<" in shown
    assert "Hide the 1 revoked key" in shown


def test_usage_page_splits_by_mode_and_exports_csv(client, me):
    from accounts.services import quota_consume

    for mode in ("ocr", "ocr", "table"):
        quota_consume(user=me)
        usage_record(user=me, api_key_id=None, kind="job", mode=mode)
    page = client.get("/usage/").content.decode()
    assert page.index("<code>ocr</code>") < page.index("<code>table</code>")
    assert '<td data-label="Requests">2</td>' in page
    csv = client.get("/usage/?format=csv")
    assert csv["Content-Type"].startswith("text/csv")
    lines = csv.content.decode().splitlines()
    assert lines[0] == "day,requests"
    assert len(lines) == 31
    assert lines[-1] == f"{timezone.now().astimezone(dt.UTC).date().isoformat()},3"


def test_the_trial_end_is_shown_where_the_trial_is_mentioned(client):
    joined = timezone.now() - dt.timedelta(days=2)
    user = User.objects.create_user(email="trial@example.com", password="x" * 20, tier=Tier.TRIAL)
    User.objects.filter(pk=user.pk).update(date_joined=joined)
    client.force_login(user)
    end = f"{(joined + dt.timedelta(days=30)):%-d %B %Y}"
    assert end in client.get("/welcome/").content.decode()
    assert end in client.get("/usage/").content.decode()


def test_downloads_carry_the_file_name_and_markdown_separates_pages(client, me):
    job = _completed_job(me, text="First page")
    page = JobPage.objects.get(job=job).result
    JobPage.objects.create(job=job, page=2, result={**page, "page": 2, "text": "Second page"})
    from ocrjobs import completion

    Job.objects.filter(pk=job.pk).update(page_count=2)
    completion.job_complete(job=Job.objects.get(pk=job.pk))  # already complete: the stored result stays
    annotated = client.get(f"/jobs/{job.id}/files/page-1-annotated.png?download=1")
    assert annotated.status_code == 200
    assert 'filename="doc-page-1-annotated.png"' in annotated["Content-Disposition"]
    markdown = client.get(f"/jobs/{job.id}/download/md").content.decode()
    assert markdown.startswith("<!-- page 1 of ")
    viewer = client.get(f"/jobs/{job.id}/").content.decode()
    assert 'download="doc-page-1-annotated.png"' in viewer
