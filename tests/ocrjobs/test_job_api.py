"""The job API in-process: contract shapes, local signed uploads, negatives, isolation and query counts."""

import base64
import json

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from devtools.samples import LINES, cer, pdf_bytes, png_bytes
from ocrjobs import completion, processing
from ocrjobs.models import Job, JobStatus
from storage import signing
from tests.factories import ApiKeyFactory, UserFactory
from tests.helpers import path_and_query, requests_used

SIGN_URL = "/api/v1/upload/signed-url"


def _put(ticket: dict, data: bytes, content_type: str = "image/png"):
    return Client().generic("PUT", path_and_query(ticket["upload_url"]), data, content_type=content_type)


def _post_form(ticket: dict, data: bytes, filename: str, content_type: str = "image/png"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    form = {**ticket["fields"], "Content-Type": content_type}
    form["file"] = SimpleUploadedFile(filename, data, content_type=content_type)
    return Client().post(path_and_query(ticket["url"]), form)


def test_signed_url_without_body_has_put_url_post_form_and_filename_placeholder(api, user):
    response = api.post(SIGN_URL)
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"upload_url", "job_id", "s3_key", "expires_in", "url", "fields", "key_prefix"}
    assert body["expires_in"] == 3600
    assert set(body["fields"]) == {"key", "AWSAccessKeyId", "policy", "signature"}
    assert body["fields"]["key"].endswith("/${filename}")
    assert body["fields"]["key"] == body["s3_key"] == body["key_prefix"] + "${filename}"
    assert body["key_prefix"] == f"uploads/{user.pk}/{body['job_id']}/"
    policy = json.loads(base64.b64decode(body["fields"]["policy"]))
    assert ["content-length-range", 1, 50 * 1024 * 1024] in policy["conditions"]
    job = Job.objects.get(pk=body["job_id"])
    assert (job.status, job.mode, job.owner) == (JobStatus.AWAITING_UPLOAD, "ocr", user)
    assert requests_used(user) == 1


def test_signed_url_with_body_uses_the_safe_filename(api):
    body = api.post(
        SIGN_URL + "?mode=table", {"filename": "../../q3/sales.png", "content_type": "image/png"}, format="json"
    ).json()
    assert body["s3_key"].endswith("/sales.png")
    assert Job.objects.get(pk=body["job_id"]).mode == "table"


@pytest.mark.parametrize(
    ("query", "body", "message"),
    [
        ("?mode=nope", None, "Unknown mode 'nope'"),
        ("", {"content_type": "image/gif"}, "Unsupported content type"),
        ("?mode=formula", None, "needs the DeepSeek-OCR engine"),
        ("?mode=chart", None, "needs the DeepSeek-OCR engine"),
        ("", {"filename": 5}, "filename"),
        ("", ["not", "an", "object"], "JSON object"),
    ],
)
def test_bad_signed_url_requests_get_400_and_spend_nothing(api, user, query, body, message):
    response = api.post(SIGN_URL + query, body, format="json") if body is not None else api.post(SIGN_URL + query)
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert Job.objects.count() == 0
    assert requests_used(user) == 0


def test_put_flow_then_worker_then_result(api, user):
    ticket = api.post(SIGN_URL, {"filename": "invoice.png", "content_type": "image/png"}, format="json").json()
    response = _put(ticket, png_bytes())
    assert response.status_code == 200
    job = Job.objects.get(pk=ticket["job_id"])
    assert (job.status, job.size, job.page_count) == (JobStatus.QUEUED, len(png_bytes()), 1)
    assert default_storage.exists(ticket["s3_key"])

    processing.job_run(job_id=job.pk)
    assert processing.job_run(job_id=job.pk) is None  # idempotent: a second delivery does nothing

    result = api.get(f"/api/v1/results/{job.pk}").json()
    assert (result["status"], result["mode"], result["filename"], result["error"]) == (
        "completed",
        "ocr",
        "invoice.png",
        None,
    )
    doc = result["result"]
    assert doc["model"] == "rapidocr-ppocrv6"
    assert cer("\n".join(LINES), doc["extracted_text"]) <= 0.02
    assert doc["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    assert doc["pages"][0]["page"] == 1
    assert len(doc["pages"][0]["blocks"]) == len(LINES)


def test_post_form_flow_replaces_the_filename_placeholder(api):
    ticket = api.post(SIGN_URL).json()
    response = _post_form(ticket, png_bytes(), "scan one.png")
    assert response.status_code == 200, response.content
    job = Job.objects.get(pk=ticket["job_id"])
    assert job.filename == "scan one.png"
    assert job.upload_key == ticket["key_prefix"] + "scan one.png"
    assert job.status == JobStatus.QUEUED


def test_a_second_upload_to_the_same_job_is_refused(api):
    ticket = api.post(SIGN_URL).json()
    assert _put(ticket, png_bytes()).status_code == 200
    response = _put(ticket, png_bytes(["other"]))
    assert response.status_code == 409


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (b"", 400, "empty"),
        (b"GIF89a" + b"\0" * 100, 400, "Unsupported file type"),
        (png_bytes()[:80], 400, "corrupt or truncated"),
    ],
)
def test_bad_uploads_are_refused_and_store_nothing(api, user, data, status, message):
    ticket = api.post(SIGN_URL).json()
    response = _put(ticket, data)
    assert response.status_code == status
    assert message in response.json()["detail"]
    job = Job.objects.get(pk=ticket["job_id"])
    assert job.status == JobStatus.AWAITING_UPLOAD
    assert not default_storage.exists(ticket["key_prefix"] + "upload.png")
    _, files = (
        default_storage.listdir(ticket["key_prefix"]) if default_storage.exists(ticket["key_prefix"]) else ([], [])
    )
    assert files == []


def test_oversize_upload_gets_413_by_both_routes(api, settings):
    settings.DEEPREAD_MAX_UPLOAD_BYTES = 1000
    ticket = api.post(SIGN_URL).json()
    assert _put(ticket, png_bytes()).status_code == 413
    assert _post_form(ticket, png_bytes(), "big.png").status_code == 413
    assert Job.objects.get(pk=ticket["job_id"]).status == JobStatus.AWAITING_UPLOAD


def test_tampered_and_expired_signatures_are_refused(api, settings, monkeypatch):
    ticket = api.post(SIGN_URL).json()
    other = api.post(SIGN_URL).json()
    tampered = dict(ticket, upload_url=ticket["upload_url"].replace("signature=", "signature=0"))
    assert _put(tampered, png_bytes()).status_code == 403
    # A URL signed for one job does not open another.
    moved = dict(ticket, upload_url=ticket["upload_url"].replace(ticket["job_id"], other["job_id"]))
    assert _put(moved, png_bytes()).status_code == 403
    # A policy signed for one job does not accept another's key prefix.
    forged = dict(ticket, fields=dict(ticket["fields"], key=other["key_prefix"] + "x.png"))
    assert _post_form(forged, png_bytes(), "x.png").status_code == 403
    # Signed at a fixed instant for 1 s, presented 2 s later: the clock that signs is the clock that checks.
    settings.DEEPREAD_SIGNED_URL_TTL_S = 1
    monkeypatch.setattr(signing, "clock", lambda: 1_800_000_000.0)
    short = api.post(SIGN_URL).json()
    monkeypatch.setattr(signing, "clock", lambda: 1_800_000_002.0)
    assert _put(short, png_bytes()).status_code == 403
    assert "expired" in _post_form(short, png_bytes(), "a.png").json()["detail"]
    assert Job.objects.filter(status=JobStatus.QUEUED).count() == 0


def test_content_type_must_match_the_signed_one(api):
    ticket = api.post(SIGN_URL, {"filename": "a.png", "content_type": "image/png"}, format="json").json()
    assert _put(ticket, png_bytes(), content_type="image/jpeg").status_code == 403


def test_multi_page_pdf_and_page_by_page_results(api):
    ticket = api.post(SIGN_URL, {"filename": "three.pdf"}, format="json").json()
    pages = [["First page text"], ["Second page text"], ["Third page text"]]
    assert _put(ticket, pdf_bytes(pages), content_type="application/pdf").status_code == 200
    processing.job_run(job_id=ticket["job_id"])
    doc = api.get(f"/api/v1/results/{ticket['job_id']}").json()["result"]
    assert [p["page"] for p in doc["pages"]] == [1, 2, 3]
    assert cer("First page text Second page text Third page text", doc["extracted_text"]) <= 0.05
    assert Job.objects.get(pk=ticket["job_id"]).pages_done == 3


def test_output_keys_never_overwrite(api):
    keys = []
    for _ in range(3):
        ticket = api.post(SIGN_URL + "?mode=table", {"filename": "sales.png"}, format="json").json()
        _put(ticket, png_bytes())
        keys.append(processing.job_run(job_id=ticket["job_id"]).output_key)
    assert keys == ["table/sales.json", "table/sales-2.json", "table/sales-3.json"]


def test_processing_jobs_filters_counts_and_pagination(api, django_assert_num_queries):
    for name, mode in [("a-report.png", "ocr"), ("b-report.png", "table"), ("c.png", "ocr")]:
        api.post(SIGN_URL + f"?mode={mode}", {"filename": name}, format="json")
    ticket = api.post(SIGN_URL, {"filename": "done-report.png"}, format="json").json()
    _put(ticket, png_bytes())
    processing.job_run(job_id=ticket["job_id"])
    api.get("/api/v1/processing-jobs?limit=1")  # the key was just used: no last_used_at write in the count

    with django_assert_num_queries(4):  # the key (with its user), counts by status, the page of jobs, the quota
        body = api.get("/api/v1/processing-jobs").json()
    assert [f["filename"] for f in body["files"]] == ["done-report.png", "c.png", "b-report.png", "a-report.png"]
    assert (body["total_count"], body["completed_count"], body["pending_count"]) == (4, 1, 3)
    done = body["files"][0]
    assert (done["status"], done["output_key"], done["size"]) == ("completed", "ocr/done-report.json", len(png_bytes()))
    assert body["files"][1]["output_key"] is None

    body = api.get("/api/v1/processing-jobs?filename=REPORT&mode=ocr").json()
    assert [f["filename"] for f in body["files"]] == ["done-report.png", "a-report.png"]
    body = api.get("/api/v1/processing-jobs?limit=1&offset=1").json()
    assert [f["filename"] for f in body["files"]] == ["c.png"]
    assert body["total_count"] == 4
    assert api.get("/api/v1/processing-jobs?limit=0").status_code == 400


def test_list_query_count_does_not_grow_with_rows(api, django_assert_num_queries):
    for i in range(30):
        api.post(SIGN_URL, {"filename": f"f{i}.png"}, format="json")
    with django_assert_num_queries(4):  # the key (with its user), counts by status, the page of jobs, the quota
        assert len(api.get("/api/v1/processing-jobs").json()["files"]) == 30


def test_download_signed_url_returns_the_result_json(api):
    ticket = api.post(SIGN_URL, {"filename": "d.png"}, format="json").json()
    _put(ticket, png_bytes())
    processing.job_run(job_id=ticket["job_id"])
    body = api.post("/api/v1/download/signed-url?file_path=ocr/d.json").json()
    assert body["expires_in"] == 3600
    assert body["file_key"].endswith("/ocr/d.json")
    response = Client().get(path_and_query(body["url"]))
    assert response.status_code == 200
    doc = json.loads(b"".join(response.streaming_content))
    assert (doc["mode"], doc["job_id"]) == ("ocr", ticket["job_id"])
    tampered = body["url"].replace("ocr%2Fd.json", "ocr%2Fe.json")
    assert Client().get(path_and_query(tampered)).status_code == 403
    assert api.post("/api/v1/download/signed-url").status_code == 400


def test_another_account_gets_404_for_job_result_and_download(api, client):
    ticket = api.post(SIGN_URL, {"filename": "mine.png"}, format="json").json()
    _put(ticket, png_bytes())
    processing.job_run(job_id=ticket["job_id"])
    other = UserFactory()
    _, raw = ApiKeyFactory.create_with_raw(user=other)
    headers = {"HTTP_X_API_KEY": raw}
    assert client.get(f"/api/v1/results/{ticket['job_id']}", **headers).status_code == 404
    assert client.post("/api/v1/download/signed-url?file_path=ocr/mine.json", **headers).status_code == 404
    listing = client.get("/api/v1/processing-jobs", **headers).json()
    assert listing["total_count"] == 0
    assert client.get("/api/v1/results/not-a-uuid", **headers).json() == {"detail": "No such job."}


def test_a_failed_job_says_why_and_is_refunded(api, user):
    ticket = api.post(SIGN_URL, {"filename": "x.png"}, format="json").json()
    assert requests_used(user) == 1
    _put(ticket, png_bytes())
    default_storage.delete(ticket["s3_key"])
    job = processing.job_run(job_id=ticket["job_id"])
    assert job.status == JobStatus.FAILED
    result = api.get(f"/api/v1/results/{job.pk}").json()
    assert result["status"] == "failed"
    assert "missing from storage" in result["error"]
    assert result["result"] is None
    assert requests_used(user) == 0
    completion.job_fail(job_id=job.pk, message="again")
    assert requests_used(user) == 0  # refunded once only


def test_ocr_modes_lists_builtins_and_custom_modes_with_one_default(api, user):
    from modes.services import custom_mode_create, default_mode_set

    custom_mode_create(user=user, name="receipts", display_name="Receipts", prompt="<image>\nFree OCR.")
    default_mode_set(user=user, name="receipts")
    modes = api.get("/api/v1/ocr-modes").json()
    assert [m["name"] for m in modes] == ["ocr", "table", "formula", "chart", "document", "receipts"]
    assert [m["name"] for m in modes if m["is_default"]] == ["receipts"]
    assert {"name", "display_name", "description", "is_default"} <= set(modes[0])
    body = api.post(SIGN_URL).json()
    assert Job.objects.get(pk=body["job_id"]).mode == "receipts"


def test_unknown_api_path_is_json_404(api):
    response = api.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_openapi_schema_and_docs_page(client, db):
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    assert {"/api/v1/upload/signed-url", "/api/v1/processing-jobs", "/api/v1/results/{job_id}"} <= set(paths)
    assert client.get("/api/docs/").status_code == 200
