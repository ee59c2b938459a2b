"""Job control against a live stack (issue 16): cancel closing the requests in flight to the fake vLLM server,
delete making an earlier signed URL stop working, Idempotency-Key under 20 concurrent duplicates, signed webhooks
received by a real listener and verified with `standardwebhooks`, and Server-Sent Events read by a real SSE client
(httpx-sse) through gunicorn, reconnecting with Last-Event-ID."""

from __future__ import annotations

import base64
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import requests
from httpx_sse import connect_sse
from standardwebhooks.webhooks import Webhook

from devtools.samples import encode, pdf_bytes, render_lines
from devtools.stack import running_stack
from tests.webhook_listener import Listener

pytestmark = pytest.mark.e2e
SIGN = "/api/v1/upload/signed-url"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Webhooks to loopback allowed (the listener is there), a short webhook backoff, and event streams cut after
    2 s (ASGI and WSGI alike), so an SSE client must reconnect with Last-Event-ID mid-job."""
    env = {
        "DEEPREAD_URL_FETCH_ALLOW_PRIVATE": "1",
        "DEEPREAD_WEBHOOK_ALLOW_PRIVATE": "1",
        "DEEPREAD_WEBHOOK_BACKOFF_S": "0.5,1",
        "DEEPREAD_SSE_WSGI_MAX_S": "2",
        "DEEPREAD_SSE_MAX_S": "2",
    }
    with running_stack(tmp_path_factory.mktemp("jobctl-var"), env=env) as live:
        yield live


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.stop()


def _submit(stack, headers: dict, data: bytes, *, filename: str, content_type: str, **body) -> str:
    ticket = requests.post(f"{stack.base_url}{SIGN}", json={"filename": filename, "content_type": content_type,
                           **body}, headers=headers, timeout=30)  # fmt: skip
    assert ticket.status_code == 200, ticket.text
    ticket = ticket.json()
    put = requests.put(ticket["upload_url"], data=data, headers={"Content-Type": content_type}, timeout=30)
    assert put.status_code == 200, put.text
    return ticket["job_id"]


def _used(stack, headers: dict) -> int:
    return requests.get(f"{stack.base_url}/api/v1/usage", headers=headers, timeout=10).json()["month"]["used"]


def _three_pages() -> bytes:
    return pdf_bytes([["Alpha page words"], ["Bravo page words"], ["Charlie page words"]])


def test_cancel_drops_the_requests_in_flight_to_vllm_at_once(vllm_service, fake_vllm_server):
    headers = {"X-API-Key": vllm_service.new_key("cancel@example.com")}
    before = fake_vllm_server.stats()
    fake_vllm_server.latency = 120.0  # each page would take two minutes: only a closed connection ends it sooner
    try:
        job_id = _submit(vllm_service, headers, _three_pages(), filename="three.pdf", content_type="application/pdf")
        deadline = time.time() + 60
        while fake_vllm_server.stats()["inflight"] < 3:
            assert time.time() < deadline, vllm_service.log("worker")[-3000:]
            time.sleep(0.1)
        cancelled = requests.post(f"{vllm_service.base_url}/api/v1/jobs/{job_id}/cancel", headers=headers, timeout=10)
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"
        deadline = time.time() + 30  # far less than the 120 s each request would take
        while (stats := fake_vllm_server.stats())["inflight"] > 0 or stats["aborted"] - before["aborted"] < 3:
            assert time.time() < deadline, (stats, vllm_service.log("worker")[-3000:])
            time.sleep(0.1)
        assert stats["aborted"] - before["aborted"] == 3  # the server saw all three connections close
        assert stats["served"] == before["served"]  # and answered none of them
        result = requests.get(f"{vllm_service.base_url}/api/v1/results/{job_id}", headers=headers, timeout=10).json()
        assert (result["status"], result["result"], result["error"]) == (
            "cancelled", None, "Cancelled at the owner's request.")  # fmt: skip
        assert stats["received"] - before["received"] == 3  # no page was sent again after the cancel
        again = requests.post(f"{vllm_service.base_url}/api/v1/jobs/{job_id}/cancel", headers=headers, timeout=10)
        assert again.status_code == 409
        assert _used(vllm_service, headers) == 1  # a processing job keeps its request
        jobs = requests.get(f"{vllm_service.base_url}/api/v1/processing-jobs", headers=headers, timeout=10).json()
        assert [f["status"] for f in jobs["files"]] == ["cancelled"]
    finally:
        fake_vllm_server.latency = 0.15
    # The worker is healthy afterwards: the next job completes.
    job_id = _submit(vllm_service, headers, encode(render_lines(["After"])), filename="a.png", content_type="image/png")
    assert vllm_service.wait_result(headers, job_id)["status"] == "completed"


def test_delete_makes_the_earlier_download_url_stop_working(stack):
    headers = {"X-API-Key": stack.new_key("delete@example.com")}
    job_id = _submit(stack, headers, encode(render_lines(["Delete me"])), filename="d.png", content_type="image/png")
    done = stack.wait_result(headers, job_id)
    assert done["status"] == "completed", done
    signed = requests.post(f"{stack.base_url}/api/v1/download/signed-url",
                           params={"file_path": done["result"]["pages"][0]["annotated_image"]}, headers=headers,
                           timeout=30).json()  # fmt: skip
    result_url = requests.post(f"{stack.base_url}/api/v1/download/signed-url", params={"file_path": "ocr/d.json"},
                               headers=headers, timeout=10).json()["url"]  # fmt: skip
    assert requests.get(result_url, timeout=10).status_code == 200
    assert requests.get(signed["url"], timeout=10).status_code == 200
    assert requests.delete(f"{stack.base_url}/api/v1/jobs/{job_id}", headers=headers, timeout=10).status_code == 204
    assert requests.get(result_url, timeout=10).status_code == 404
    assert requests.get(signed["url"], timeout=10).status_code == 404
    gone = requests.get(f"{stack.base_url}/api/v1/jobs/{job_id}", headers=headers, timeout=10)
    assert (gone.status_code, gone.json()) == (404, {"detail": "No such job."})


def test_twenty_concurrent_duplicates_make_one_job_and_spend_one_request(stack):
    headers = {"X-API-Key": stack.new_key("idem@example.com"), "Idempotency-Key": "order-42"}
    barrier = threading.Barrier(20)

    def ask(_: int) -> requests.Response:
        barrier.wait(timeout=60)
        return requests.post(f"{stack.base_url}{SIGN}?mode=ocr", json={"filename": "o.png"}, headers=headers,
                             timeout=120)  # fmt: skip

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(ask, range(20)))
    assert [a.status_code for a in answers] == [200] * 20
    assert len({a.json()["job_id"] for a in answers}) == 1
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 19
    assert _used(stack, headers) == 1
    listing = requests.get(f"{stack.base_url}/api/v1/processing-jobs", headers=headers, timeout=10).json()
    assert listing["total_count"] == 1
    other = requests.post(f"{stack.base_url}{SIGN}?mode=table", headers=headers, timeout=10)
    assert (other.status_code, _used(stack, headers)) == (422, 1)


def test_v1_ocr_idempotency_key_and_pages(stack):
    key = stack.new_key("sync-idem@example.com")
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "scan-1"}
    image = base64.b64encode(_three_pages()).decode()
    body = {"image": image, "image_type": "base64", "pages": "2"}
    first = requests.post(f"{stack.base_url}/v1/ocr", json=body, headers=headers, timeout=120)
    assert first.status_code == 200, first.text
    text = first.json()["choices"][0]["text"]
    assert "Bravo" in text
    assert "Alpha" not in text
    assert "Charlie" not in text
    again = requests.post(f"{stack.base_url}/v1/ocr", json=body, headers=headers, timeout=120)
    assert again.json() == first.json()
    assert _used(stack, {"X-API-Key": key}) == 1
    changed = requests.post(f"{stack.base_url}/v1/ocr", json={**body, "pages": "1"}, headers=headers, timeout=60)
    assert changed.status_code == 422
    assert changed.json()["error"]["code"] == "idempotency_key_reused"
    bad = requests.post(f"{stack.base_url}/v1/ocr", json={**body, "pages": "9"}, headers={"Authorization":
                        f"Bearer {key}"}, timeout=60)  # fmt: skip
    assert (bad.status_code, bad.json()["error"]["param"]) == (400, "pages")
    assert "the document has 3 pages" in bad.json()["error"]["message"]
    assert _used(stack, {"X-API-Key": key}) == 1


def test_webhooks_and_callbacks_are_signed_retried_and_logged(stack, listener):
    headers = {"X-API-Key": stack.new_key("hooks@example.com")}
    api = f"{stack.base_url}/api/v1"
    endpoint = requests.post(f"{api}/webhooks", json={"url": listener.url + "/endpoint", "events": [
        "job.completed", "job.page_completed"]}, headers=headers, timeout=10).json()  # fmt: skip
    callback_secret = requests.post(f"{api}/webhooks/callback-secret", headers=headers, timeout=10).json()["secret"]
    listener.statuses = [500]  # the first delivery fails and is retried after the backoff
    job_id = _submit(stack, headers, pdf_bytes([["Page one"], ["Page two"]]), filename="two.pdf",
                     content_type="application/pdf", callback_url=listener.url + "/callback")  # fmt: skip
    assert stack.wait_result(headers, job_id)["status"] == "completed"
    received = listener.wait_for(7)  # 2 pages + completed, to each of two URLs, plus the failed try
    secrets = {"/hooks/endpoint": endpoint["secret"], "/hooks/callback": callback_secret}
    events: dict[str, list] = {"/hooks/endpoint": [], "/hooks/callback": []}
    for headers_in, body in received:
        signed = {k: v for k, v in headers_in.items() if not k.startswith(":")}
        message = Webhook(secrets[headers_in[":path"]]).verify(body, signed)
        events[headers_in[":path"]].append((headers_in["webhook-id"], message["type"], message["data"].get("page")))
    for path, got in events.items():
        unique = {(t, p) for _, t, p in got}
        assert unique == {("job.page_completed", 1), ("job.page_completed", 2), ("job.completed", None)}, path
    assert len({msg_id for got in events.values() for msg_id, _, _ in got}) == 6  # the retry reused its id
    log = requests.get(f"{api}/webhooks/deliveries", params={"job": job_id}, headers=headers, timeout=10).json()
    assert len(log) == 6
    assert all(d["status"] == "succeeded" and d["response_code"] == 200 for d in log)
    assert sorted(d["attempts"] for d in log) == [1, 1, 1, 1, 1, 2]


def test_events_stream_pages_as_they_arrive_and_resume_with_last_event_id(stack):
    key = stack.new_key("sse@example.com")
    headers = {"X-API-Key": key}
    job_id = _submit(stack, headers, _three_pages(), filename="three.pdf", content_type="application/pdf")
    url = f"{stack.base_url}/api/v1/jobs/{job_id}/events"
    pages, statuses, last, connections = [], [], "", 0
    with httpx.Client(timeout=30) as client:
        while not statuses or statuses[-1] not in ("completed", "failed", "cancelled"):
            connections += 1
            assert connections < 60, (pages, statuses)
            request_headers = {**headers, **({"Last-Event-ID": last} if last else {})}
            with connect_sse(client, "GET", url, headers=request_headers) as source:
                assert source.response.headers["content-type"].startswith("text/event-stream")
                for event in source.iter_sse():
                    last = event.id or last
                    data = event.json()
                    if event.event == "page_completed":
                        pages.append((data["page"], data["pages_done"], data["pages"], data["text"]))
                    elif event.event == "status":
                        statuses.append(data["status"])
    result = stack.wait_result(headers, job_id)["result"]
    assert [p[:3] for p in pages] == [(1, 1, 3), (2, 2, 3), (3, 3, 3)]  # each page once, in order, no gap
    assert [p[3] for p in pages] == [p["text"] for p in result["pages"]]
    assert statuses[-1] == "completed"
    assert connections > 1  # the streams were cut mid-job, and the reconnects lost nothing
    # A later reconnect after the second page gets only the third, then the end.
    resume = {**headers, "Last-Event-ID": "2"}
    with httpx.Client(timeout=30) as client, connect_sse(client, "GET", url, headers=resume) as source:
        replay = [(e.event, e.json().get("page"), e.json().get("status")) for e in source.iter_sse()]
    assert replay == [("page_completed", 3, None), ("status", None, "completed")]
    # No key: 401 in the API's format; another account's job: 404.
    assert httpx.get(url, timeout=10).json() == {
        "detail": "Authentication credentials were not provided or are invalid."
    }
    other = {"X-API-Key": stack.new_key("sse-other@example.com")}
    assert httpx.get(url, headers=other, timeout=10).status_code == 404
