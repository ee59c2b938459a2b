"""The bad-input corpus (tests/corpus/make_corpus.py) through the job API and through /v1/ocr: each case gets its
documented status and message, or is accepted and read; nothing of a refused file stays in storage, and a refused
/v1/ocr call spends nothing."""

from __future__ import annotations

import base64
import json
import resource
import unicodedata

import pytest
from django.core.files.storage import default_storage

from ocr import services as ocr_services
from ocrjobs import processing
from ocrjobs.models import Job, JobStatus
from storage.keys import upload_key_prefix
from tests.corpus.make_corpus import write
from tests.helpers import requests_used

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    return [(case, (out / case["file"]).read_bytes()) for case in write(out)]


@pytest.fixture(scope="module", autouse=True)
def _engine():
    assert ocr_services.wait_until_loaded(timeout=120)


def test_the_corpus_has_every_kind_of_case(corpus):
    names = {case["name"] for case, _ in corpus}
    assert len(corpus) >= 30
    required = {"zero-bytes", "png-bomb-50000", "tiff-1000-frames", "pdf-5000-pages", "pdf-encrypted",
                "pdf-broken-xref", "filename-traversal", "filename-nul", "filename-rtl",
                "polyglot-png-zip"}  # fmt: skip
    assert required <= names


def test_every_case_through_the_job_api(api, user, client, corpus):
    for case, data in corpus:
        ticket = api.post(
            "/api/v1/upload/signed-url?mode=ocr",
            {"filename": case["filename"], "content_type": case["content_type"]},
            format="json",
        )
        if case["outcome"] == "refuse-name":
            assert ticket.status_code == case["status"], case["name"]
            assert case["message"] in ticket.json()["detail"].lower(), case["name"]
            continue
        assert ticket.status_code == 200, (case["name"], ticket.content)
        body = ticket.json()
        put = client.generic(
            "PUT", body["upload_url"].split("testserver", 1)[1], data, content_type=case["content_type"]
        )
        job = Job.objects.get(pk=body["job_id"])
        prefix = upload_key_prefix(account_id=user.pk, job_id=str(job.id))
        if case["outcome"] == "refuse":
            assert put.status_code == case["status"], (case["name"], put.status_code, put.content)
            assert case["message"].lower() in put.json()["detail"].lower(), (case["name"], put.json())
            assert job.status == JobStatus.AWAITING_UPLOAD, case["name"]  # waits for a correct file
            assert not default_storage.exists(prefix.rstrip("/")) or not default_storage.listdir(prefix)[1], case[
                "name"
            ]
        elif case["outcome"] == "fail":
            assert put.status_code == 200, (case["name"], put.content)
            used = requests_used(user)
            done = processing.job_run(job_id=job.id)
            assert done.status == JobStatus.FAILED, case["name"]
            assert case["message"].lower() in done.error.lower(), (case["name"], done.error)
            assert requests_used(user) == used - 1  # given back
            assert done.output_key is None
        else:
            assert put.status_code == 200, (case["name"], put.content)
            assert job.status == JobStatus.QUEUED, case["name"]
            name = job.filename
            assert "/" not in name, (case["name"], name)
            assert "\\" not in name, (case["name"], name)
            assert not name.startswith("."), (case["name"], name)
            assert not any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name), (case["name"], name)
            assert len(name) <= 180, case["name"]
            assert job.upload_key.startswith(prefix), case["name"]
            done = processing.job_run(job_id=job.id)
            assert done.status == JobStatus.COMPLETED, (case["name"], done.error)
    # The worker code ran in this process on every accepted file: its peak memory stayed bounded (a 50,000 x
    # 50,000 decode alone would need 7.5 GB; the engine and the test run together take well under 2 GB).
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 2 * 1024 * 1024


def test_every_case_through_v1_ocr(api, user, corpus):
    used = requests_used(user)
    for case, data in corpus:
        response = api.post(
            "/v1/ocr", {"image": base64.b64encode(data).decode(), "image_type": "base64"}, format="json"
        )
        if case["outcome"] in ("refuse", "fail"):
            assert response.status_code == case["status"], (case["name"], response.status_code, response.content)
            error = response.json()["error"]
            assert error["code"] == (case["v1_code"] or case["code"]), (case["name"], error)
            assert error["param"] == "image", case["name"]
            assert requests_used(user) == used, case["name"]  # refused input spends nothing
        else:
            assert response.status_code == 200, (case["name"], response.content)
            used += 1
            assert requests_used(user) == used


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"image": "@@@not-base64@@@", "image_type": "base64"}, 400, "invalid_base64_format"),
        ({"image": "data:image/png;base64,====", "image_type": "base64"}, 400, "invalid_base64_format"),
        ({"image": ["a list"]}, 400, "invalid_parameter_type"),
        ({"image": {"url": "x"}}, 400, "invalid_parameter_type"),
        ({"image": "x", "return_image": 1}, 400, "invalid_parameter_type"),
        ({"image": "x", "mode": 7}, 400, "invalid_parameter_type"),
        ({"image": "x", "temperature": 0.2}, 400, "invalid_parameter"),
        ({"image": "x", "n": 2, "stream": True}, 400, "invalid_parameter"),
    ],
)
def test_json_cases(api, user, body, status, code):
    response = api.post("/v1/ocr", body, format="json")
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert requests_used(user) == 0


def test_huge_json_is_refused_while_reading(api, user, settings):
    settings.DEEPREAD_SYNC_MAX_BODY_BYTES = 1_000_000
    huge = json.dumps({"image": "A" * 2_000_000, "image_type": "base64"})
    response = api.generic("POST", "/v1/ocr", huge, content_type="application/json")
    assert response.status_code == 413
    assert requests_used(user) == 0
    listing = api.post("/api/v1/upload/signed-url?mode=ocr", huge, content_type="application/json")
    assert listing.status_code == 413
    assert Job.objects.count() == 0
