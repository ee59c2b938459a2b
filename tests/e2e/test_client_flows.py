"""Client flows of API.md §1, written as a user of the hosted API would write them, against real processes."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from devtools.samples import LINES, cer, encode, pdf_bytes, png_bytes, render_table

pytestmark = pytest.mark.e2e
TIMEOUT = 120


def _poll_listing(base: str, headers: dict, *, filename: str, mode: str) -> dict:
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        listing = requests.get(
            f"{base}/api/v1/processing-jobs", params={"filename": filename, "mode": mode}, headers=headers, timeout=10
        ).json()
        done = [f for f in listing["files"] if f["status"] in ("completed", "failed")]
        if listing["files"] and len(done) == len(listing["files"]):
            return listing
        time.sleep(0.5)
    raise AssertionError(f"{filename} in {mode} did not finish")


def _poll_result(base: str, headers: dict, job_id: str) -> dict:
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        body = requests.get(f"{base}/api/v1/results/{job_id}", headers=headers, timeout=10).json()
        if body["status"] in ("completed", "failed"):
            return body
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish")


def _post_form_upload(ticket: dict, filename: str, data: bytes, content_type: str) -> requests.Response:
    fields = dict(ticket["fields"])
    fields["key"] = fields["key"].replace("${filename}", filename)
    fields["Content-Type"] = content_type
    return requests.post(ticket["url"], data=fields, files={"file": (filename, data, content_type)}, timeout=30)


def test_post_form_flow_without_a_body(service):
    headers = {"X-API-Key": service.new_key("form@example.com")}
    base = service.base_url
    response = requests.post(f"{base}/api/v1/upload/signed-url", params={"mode": "ocr"}, headers=headers, timeout=10)
    assert response.status_code == 200
    ticket = response.json()
    assert ticket["fields"]["key"].endswith("${filename}")
    assert _post_form_upload(ticket, "letter.png", png_bytes(), "image/png").status_code == 200

    listing = _poll_listing(base, headers, filename="letter", mode="ocr")
    (entry,) = listing["files"]
    assert (entry["status"], entry["output_key"], entry["filename"]) == ("completed", "ocr/letter.json", "letter.png")
    download = requests.post(
        f"{base}/api/v1/download/signed-url", params={"file_path": entry["output_key"]}, headers=headers, timeout=10
    ).json()
    result = requests.get(download["url"], timeout=10).json()
    assert result["mode"] == "ocr"
    assert cer("\n".join(LINES), result["extracted_text"]) <= 0.02
    assert isinstance(result["usage"]["total_tokens"], int)


def test_put_flow_polled_through_results(service):
    headers = {"Authorization": "Bearer " + service.new_key("put@example.com")}
    base = service.base_url
    ticket = requests.post(
        f"{base}/api/v1/upload/signed-url",
        params={"mode": "table"},
        json={"filename": "q3.png", "content_type": "image/png"},
        headers=headers,
        timeout=10,
    ).json()
    rows = [["Item", "Qty", "Price"], ["Apples", "12", "3.40"], ["Pears", "7", "2.15"]]
    put = requests.put(
        ticket["upload_url"], data=encode(render_table(rows)), headers={"Content-Type": "image/png"}, timeout=30
    )
    assert put.status_code == 200
    body = _poll_result(base, headers, ticket["job_id"])
    assert (body["status"], body["mode"], body["filename"], body["error"]) == ("completed", "table", "q3.png", None)
    assert body["result"]["tables"][0]["rows"] == rows


def test_multi_page_pdf(service):
    headers = {"X-API-Key": service.new_key("pdf@example.com")}
    base = service.base_url
    ticket = requests.post(
        f"{base}/api/v1/upload/signed-url", json={"filename": "report.pdf"}, headers=headers, timeout=10
    ).json()
    pages = [["Chapter one begins here"], ["Chapter two follows on"], ["The final chapter ends"]]
    put = requests.put(ticket["upload_url"], data=pdf_bytes(pages), timeout=30)
    assert put.status_code == 200
    body = _poll_result(base, headers, ticket["job_id"])
    result = body["result"]
    assert [p["page"] for p in result["pages"]] == [1, 2, 3]
    for page, lines in zip(result["pages"], pages, strict=True):
        assert cer(lines[0], page["text"]) <= 0.05
    assert body["pages"] == body["pages_done"] == 3


def test_multi_mode_processing_of_one_file(service):
    headers = {"X-API-Key": service.new_key("multi@example.com")}
    base = service.base_url
    data = png_bytes()
    for mode in ("ocr", "table", "document"):
        ticket = requests.post(
            f"{base}/api/v1/upload/signed-url", params={"mode": mode}, headers=headers, timeout=10
        ).json()
        assert _post_form_upload(ticket, "document.png", data, "image/png").status_code == 200
    keys = set()
    for mode in ("ocr", "table", "document"):
        (entry,) = _poll_listing(base, headers, filename="document.png", mode=mode)["files"]
        keys.add(entry["output_key"])
    assert keys == {"ocr/document.json", "table/document.json", "document/document.json"}


def test_quota_is_exact_under_concurrent_requests(service):
    key = service.new_key("busy@example.com")
    service.manage(
        "shell",
        "-c",
        "from accounts.models import User, MonthlyUsage; from accounts.quota import month_start; "
        "from django.utils import timezone; u = User.objects.get(email='busy@example.com'); "
        "MonthlyUsage.objects.create(user=u, month=month_start(timezone.now()), used=995)",
    )
    codes: list[int] = []
    lock = threading.Lock()

    def ask():
        r = requests.post(f"{service.base_url}/api/v1/upload/signed-url", headers={"X-API-Key": key}, timeout=30)
        with lock:
            codes.append(r.status_code)

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200] * 5 + [403] * 15
    listing = requests.get(f"{service.base_url}/api/v1/processing-jobs", headers={"X-API-Key": key}, timeout=10)
    assert listing.json()["total_count"] == 5
    assert listing.headers["X-RateLimit-Remaining"] == "0"
