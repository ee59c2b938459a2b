"""A gpu worker started against a vLLM server whose repetition guard is not loaded: it says why in its log, in words
an operator can act on, and sends that server no page (the job waits, nothing is spent on the GPU)."""

from __future__ import annotations

import time

import pytest
import requests

from devtools.fake_vllm import FakeVllm
from devtools.stack import running_stack
from tests.e2e.test_vllm_jobs import _page_png, _submit

pytestmark = pytest.mark.e2e


def test_a_worker_refuses_a_server_without_the_guard(tmp_path):
    fake = FakeVllm(latency=0.01, guard=False).start()
    try:
        env = {"VLLM_BASE_URL": fake.base_url, "DEEPREAD_VLLM_BACKOFF_S": "0.05", "DEEPREAD_JOB_RETRY_BACKOFF_S": "30"}
        with running_stack(tmp_path, engine="vllm", env=env) as stack:
            headers = {"X-API-Key": stack.new_key("guard@example.com")}
            deadline = time.time() + 60
            while "refused for work" not in stack.log("worker") and time.time() < deadline:
                time.sleep(0.1)
            log = stack.log("worker")
            assert "n-gram repetition guard is not loaded" in log
            assert "--logits-processors vllm.model_executor.models.deepseek_ocr:NGramPerReqLogitsProcessor" in log
            probes = fake.stats()["received"]
            assert probes == 1  # the probe alone
            job_id = _submit(stack, headers, mode="ocr", filename="p.png", data=_page_png(), content_type="image/png")
            time.sleep(3)
            body = requests.get(f"{stack.base_url}/api/v1/results/{job_id}", headers=headers, timeout=10).json()
            assert body["status"] in ("pending", "processing")  # waiting for a fixed server, not failed
            assert fake.stats()["received"] == probes  # no page went to the unguarded server
            assert fake.stats()["served"] == 1  # the probe, which an unguarded server accepts
    finally:
        fake.stop()
