"""The job API on real S3 (Ceph's RADOS Gateway), PostgreSQL and Redis: clients upload straight to the bucket with
pre-signed PUT and POST, processing starts by itself, results come back through pre-signed GET. RGW itself refuses
expired, tampered and oversized uploads."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from deepread import processes
from devtools.samples import LINES, cer, encode, pdf_bytes, render_lines
from devtools.stack import BIN, running_stack

pytestmark = pytest.mark.integration


@pytest.fixture
def s3_stack(tmp_path, production_env, s3_bucket):
    _, _, s3_env = s3_bucket
    env = {**production_env, **s3_env, "DEEPREAD_UPLOAD_SWEEP_S": "1", "DEEPREAD_MAX_UPLOAD_BYTES": "2000000"}
    with running_stack(tmp_path, env=env) as stack:
        stack.start("scheduler", processes.scheduler(BIN, schedule_file=str(tmp_path / "beat")))
        stack.key = stack.new_key(f"s3-{uuid.uuid4().hex[:6]}@example.com")
        yield stack


def _ticket(stack, **body) -> dict:
    response = requests.post(
        f"{stack.base_url}/api/v1/upload/signed-url", params={"mode": "ocr"}, json=body,
        headers={"X-API-Key": stack.key}, timeout=30,
    )  # fmt: skip
    response.raise_for_status()
    return response.json()


def _wait(stack, job_id: str, timeout: float = 90) -> tuple[dict, float]:
    started = time.time()
    while time.time() - started < timeout:
        body = requests.get(f"{stack.base_url}/api/v1/results/{job_id}", headers={"X-API-Key": stack.key}, timeout=10)
        body = body.json()
        if body["status"] in ("processing", "completed", "failed") and "first_seen" not in body:
            body["first_seen"] = time.time() - started
        if body["status"] in ("completed", "failed"):
            return body, body["first_seen"]
        time.sleep(0.2)
    raise AssertionError(stack.log("worker")[-3000:] + stack.log("scheduler")[-2000:])


def test_put_flow_to_the_bucket_starts_by_itself_and_downloads_by_presigned_get(s3_stack):
    ticket = _ticket(s3_stack, filename="letter.png", content_type="image/png")
    assert ticket["upload_url"].startswith("http://127.0.0.1:7480/")
    put = requests.put(ticket["upload_url"], data=encode(render_lines(LINES)), headers={"Content-Type": "image/png"},
                       timeout=30)  # fmt: skip
    assert put.status_code == 200, put.text
    uploaded = time.time()
    body, _ = _wait(s3_stack, ticket["job_id"])
    assert body["status"] == "completed", body
    assert cer(body["result"]["extracted_text"], "\n".join(LINES)) < 0.05
    listing = requests.get(f"{s3_stack.base_url}/api/v1/processing-jobs", headers={"X-API-Key": s3_stack.key},
                           timeout=10).json()  # fmt: skip
    (entry,) = [f for f in listing["files"] if f["job_id"] == ticket["job_id"]]
    signed = requests.post(f"{s3_stack.base_url}/api/v1/download/signed-url", params={"file_path": entry["output_key"]},
                           headers={"X-API-Key": s3_stack.key}, timeout=10).json()  # fmt: skip
    assert signed["url"].startswith("http://127.0.0.1:7480/")
    downloaded = requests.get(signed["url"], timeout=10)
    assert downloaded.status_code == 200
    assert downloaded.json()["job_id"] == ticket["job_id"]
    assert time.time() - uploaded < 60


def test_post_form_flow_with_filename_placeholder_starts_by_itself(s3_stack):
    ticket = _ticket(s3_stack)
    fields = dict(ticket["fields"])
    fields["key"] = fields["key"].replace("${filename}", "report.pdf")
    fields["Content-Type"] = "application/pdf"
    data = pdf_bytes([["Quarterly figures"], ["Second page"]])
    response = requests.post(ticket["url"], data=fields, files={"file": ("report.pdf", data, "application/pdf")},
                             timeout=30)  # fmt: skip
    assert response.status_code in (200, 201, 204), response.text
    uploaded = time.time()
    body, _ = _wait(s3_stack, ticket["job_id"])
    # When DeepRead noticed the file (the sweep queued the job), measured on this machine's clock.
    found_at = s3_stack.manage(
        "shell", "--no-imports", "-c",
        f"from ocrjobs.models import Job; print(Job.objects.get(pk={ticket['job_id']!r}).uploaded_at.timestamp())",
    )  # fmt: skip
    # found without any client call, by the sweep every DEEPREAD_UPLOAD_SWEEP_S (2 s); the bound only catches a
    # sweep that never runs (on a loaded machine the sweep can wait behind running jobs)
    assert float(found_at.strip()) - uploaded < 60
    assert body["status"] == "completed", body
    assert body["filename"] == "report.pdf"
    assert [p["page"] for p in body["result"]["pages"]] == [1, 2]


def test_rgw_refuses_expired_tampered_and_oversized_uploads(s3_stack, s3_bucket):
    client, bucket, _ = s3_bucket
    ticket = _ticket(s3_stack, filename="x.png", content_type="image/png")
    png = encode(render_lines(["x"]))
    tampered = ticket["upload_url"].replace("x.png", "y.png")
    assert requests.put(tampered, data=png, headers={"Content-Type": "image/png"}, timeout=10).status_code == 403
    bad_signature = ticket["upload_url"][:-4] + ("0000" if not ticket["upload_url"].endswith("0000") else "1111")
    assert requests.put(bad_signature, data=png, headers={"Content-Type": "image/png"}, timeout=10).status_code == 403

    big = _ticket(s3_stack)
    fields = dict(big["fields"])
    fields["key"] = fields["key"].replace("${filename}", "big.png")
    oversized = requests.post(big["url"], data=fields, files={"file": ("big.png", b"x" * 2_100_000, "image/png")},
                              timeout=30)  # fmt: skip
    assert oversized.status_code == 400
    assert "EntityTooLarge" in oversized.text
    outside = dict(big["fields"])
    outside["key"] = "uploads/999/elsewhere/evil.png"
    assert (
        requests.post(big["url"], data=outside, files={"file": ("e.png", png, "image/png")}, timeout=30).status_code
        == 403
    )

    expired = client.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "uploads/1/expired/x.png"}, ExpiresIn=1
    )
    time.sleep(2)
    assert requests.put(expired, data=png, timeout=10).status_code == 403
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert not any(k.endswith(("y.png", "big.png", "evil.png", "expired/x.png")) for k in keys), keys
