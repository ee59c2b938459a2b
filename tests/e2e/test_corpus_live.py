"""The bad-input corpus against a running DeepRead (gunicorn and a prefork worker with the CPU engine): every case
through the job API and through /v1/ocr over HTTP. Each gets its documented answer or a failed job with the reason;
the quota moves only for what was read; refused files leave nothing in storage; and afterwards the same processes
are still serving, none restarted, none past a bounded peak of memory."""

from __future__ import annotations

import base64

import pytest
import requests

from bench.proctree import tree_peak_rss_mb, tree_pids
from tests.corpus.make_corpus import write

pytestmark = pytest.mark.e2e
PEAK_RSS_LIMIT_MB = 1500  # one engine process reading ordinary pages peaks near 500 MB


def _remaining(base: str, headers: dict) -> int:
    response = requests.get(f"{base}/api/v1/ocr-modes", headers=headers, timeout=10)
    assert response.status_code == 200
    return int(response.headers["X-RateLimit-Remaining"])


def test_every_corpus_case_against_the_live_service(service, tmp_path):
    base = service.base_url
    headers = {"X-API-Key": service.new_key("corpus-live@example.com")}
    web_children = set(tree_pids(service.procs["web"].pid))
    before = _remaining(base, headers)
    expected_spend = 0
    jobs: dict[str, tuple[dict, str]] = {}

    for case in write(tmp_path / "corpus"):
        data = (tmp_path / "corpus" / case["file"]).read_bytes()
        name = case["name"]
        ticket = requests.post(
            f"{base}/api/v1/upload/signed-url",
            params={"mode": "ocr"},
            json={"filename": case["filename"], "content_type": case["content_type"]},
            headers=headers,
            timeout=10,
        )
        if case["outcome"] == "refuse-name":
            assert ticket.status_code == case["status"], name
            assert case["message"] in ticket.json()["detail"].lower(), name
        else:
            assert ticket.status_code == 200, (name, ticket.text)
            expected_spend += 1  # the upload request counts; a failed job gives it back below
            body = ticket.json()
            put = requests.put(
                body["upload_url"], data=data, headers={"Content-Type": case["content_type"]}, timeout=60
            )
            if case["outcome"] == "refuse":
                assert put.status_code == case["status"], (name, put.status_code, put.text)
                assert case["message"].lower() in put.json()["detail"].lower(), (name, put.text)
                folder = service.var / "media" / body["s3_key"].rsplit("/", 1)[0]
                assert not folder.exists() or not any(folder.iterdir()), name  # nothing partial kept
            else:
                assert put.status_code == 200, (name, put.text)
                jobs[name] = (case, body["job_id"])

        v1 = requests.post(
            f"{base}/v1/ocr",
            json={"image": base64.b64encode(data).decode(), "image_type": "base64"},
            headers=headers,
            timeout=120,
        )
        if case["outcome"] in ("refuse", "fail"):
            assert v1.status_code == case["status"], (name, v1.status_code, v1.text)
            assert v1.json()["error"]["code"] == (case["v1_code"] or case["code"]), (name, v1.text)
        else:
            assert v1.status_code == 200, (name, v1.text)
            expected_spend += 1

    for name, (case, job_id) in jobs.items():
        body = service.wait_result(headers, job_id, timeout=300)
        if case["outcome"] == "fail":
            assert body["status"] == "failed", name
            assert case["message"].lower() in body["error"].lower(), (name, body["error"])
            expected_spend -= 1  # refunded
        else:
            assert body["status"] == "completed", (name, body["error"])

    assert _remaining(base, headers) == before - expected_spend
    # The same processes are still there and still answer; none of them ran away with memory.
    for proc in service.procs.values():
        assert proc.poll() is None
    assert set(tree_pids(service.procs["web"].pid)) == web_children  # no gunicorn worker died and was replaced
    for name in ("web", "worker"):
        peaks = tree_peak_rss_mb(service.procs[name].pid)
        print(f"peak RSS of the {name} processes (MB): {sorted(round(p) for p in peaks.values())}")
        assert max(peaks.values()) < PEAK_RSS_LIMIT_MB, (name, peaks)
    assert requests.get(f"{base}/api/v1/processing-jobs", headers=headers, timeout=10).status_code == 200
