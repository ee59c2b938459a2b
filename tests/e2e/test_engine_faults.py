"""The engine fails mid-job, through the whole deployment: gunicorn, a gpu worker and a fake vLLM server that
answers 500 or hangs past the read timeout. A job retries and completes, or fails after N tries saying why,
refunded, with nothing left in storage. Retries are shortened through the same settings production uses."""

from __future__ import annotations

import pytest
import requests

from devtools.fake_vllm import HANG, FakeVllm
from devtools.samples import pdf_bytes
from devtools.stack import running_stack
from tests.e2e.test_vllm_jobs import _page_png, _submit

pytestmark = pytest.mark.e2e
ENGINE_TRIES = 2  # DEEPREAD_VLLM_RETRIES=1: two HTTP requests per try of the task
JOB_TRIES = 3  # DEEPREAD_JOB_RETRIES=2


@pytest.fixture(scope="module")
def fake():
    server = FakeVllm(capacity=16, latency=0.05, hang_s=2.0).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, fake):
    env = {
        "VLLM_BASE_URL": fake.base_url,
        "DEEPREAD_VLLM_RETRIES": str(ENGINE_TRIES - 1),
        "DEEPREAD_VLLM_BACKOFF_S": "0.05",
        "DEEPREAD_VLLM_READ_TIMEOUT_S": "0.5",
        "DEEPREAD_JOB_RETRIES": str(JOB_TRIES - 1),
        "DEEPREAD_JOB_RETRY_BACKOFF_S": "0.2",
    }
    with running_stack(tmp_path_factory.mktemp("engine-faults"), engine="vllm", env=env) as running:
        yield running


@pytest.fixture
def headers(stack, request):
    return {"X-API-Key": stack.new_key(f"{request.node.name[:40]}@example.com")}


def _remaining(stack, headers) -> int:
    response = requests.get(f"{stack.base_url}/api/v1/ocr-modes", headers=headers, timeout=10)
    return int(response.headers["X-RateLimit-Remaining"])


def _stored_outputs(stack) -> list[str]:
    outputs = stack.var / "media" / "outputs"
    return sorted(str(p.relative_to(outputs)) for p in outputs.rglob("*") if p.is_file()) if outputs.exists() else []


def test_a_500_burst_mid_job_is_retried_and_the_job_completes_once(stack, fake, headers):
    fake.reset()
    # Two failures per try: the first try of the task fails as a whole, the second recovers on its first request.
    fake.faults.extend([500] * (ENGINE_TRIES + 1))
    job_id = _submit(stack, headers, mode="ocr", filename="burst.png", data=_page_png(), content_type="image/png")
    body = stack.wait_result(headers, job_id)
    assert body["status"] == "completed", body
    assert body["result"]["extracted_text"]
    assert fake.stats()["received"] == ENGINE_TRIES + 2
    assert fake.stats()["served"] == 1
    assert f"Job {job_id}: The DeepSeek-OCR server did not answer after 2 tries (HTTP 500). Try 1 failed" in stack.log(
        "worker"
    )


def test_faults_while_pdf_pages_are_in_flight_still_give_every_page_once(stack, fake, headers):
    fake.reset()
    fake.faults.extend([500, HANG, 500, 503])  # spread over whichever pages ask first
    data = pdf_bytes([[f"Section {n} of the report"] for n in range(1, 6)])
    job_id = _submit(stack, headers, mode="ocr", filename="five.pdf", data=data, content_type="application/pdf")
    body = stack.wait_result(headers, job_id)
    assert body["status"] == "completed", body
    assert [p["page"] for p in body["result"]["pages"]] == [1, 2, 3, 4, 5]
    assert "failed_pages" not in body["result"]
    assert fake.stats()["served"] == 5  # each page recognised once, none twice after a retry


def test_an_engine_that_keeps_timing_out_fails_the_job_after_n_tries_refunded(stack, fake, headers):
    fake.reset()
    fake.faults.extend([HANG] * (ENGINE_TRIES * JOB_TRIES))
    before = _remaining(stack, headers)
    job_id = _submit(stack, headers, mode="document", filename="slow.png", data=_page_png(), content_type="image/png")
    assert _remaining(stack, headers) == before - 1
    body = stack.wait_result(headers, job_id)
    assert body["status"] == "failed", body
    assert body["error"] == (
        f"The DeepSeek-OCR server did not answer after {ENGINE_TRIES} tries (timed out). "
        f"Gave up after {JOB_TRIES} tries."
    )
    assert "127.0.0.1" not in body["error"]
    assert fake.base_url not in body["error"]
    assert body["result"] is None
    assert fake.stats()["received"] == ENGINE_TRIES * JOB_TRIES
    assert fake.stats()["served"] == 0
    assert _remaining(stack, headers) == before  # refunded
    listed = requests.get(f"{stack.base_url}/api/v1/processing-jobs", headers=headers, timeout=10).json()
    assert [(j["job_id"], j["status"], j["output_key"]) for j in listed["files"]] == [(job_id, "failed", None)]
    assert not any("slow" in path for path in _stored_outputs(stack))
