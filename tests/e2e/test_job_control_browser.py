"""The viewer in headless Chromium (issue 16): pages appear as they are stored (Server-Sent Events, no polling), the
Cancel button stops a running job, which then shows as cancelled with a Retry button; the Webhooks page shows an
endpoint's secret once."""

from __future__ import annotations

import time

import pytest
import requests

from devtools.browser import chromium_path
from devtools.samples import pdf_bytes
from tests.e2e.test_browser import create_key, expect, sign_up

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed (.ci/run installs it)"),
]


def test_viewer_shows_pages_as_they_arrive_and_cancels_the_job(page, vllm_service, fake_vllm_server):
    base = vllm_service.base_url
    sign_up(page, vllm_service, "live-viewer@example.com")
    key = create_key(page, base, "viewer")
    fake_vllm_server.latency = 120.0  # the engine answers nothing on its own during this test
    try:
        body = {"filename": "two.pdf", "content_type": "application/pdf"}
        signed = requests.post(f"{base}/api/v1/upload/signed-url", json=body, headers={"X-API-Key": key}, timeout=30)
        ticket = signed.json()
        requests.put(ticket["upload_url"], data=pdf_bytes([["one"], ["two"]]),
                     headers={"Content-Type": "application/pdf"}, timeout=30).raise_for_status()  # fmt: skip
        deadline = time.time() + 60
        while fake_vllm_server.stats()["inflight"] < 2:
            assert time.time() < deadline, vllm_service.log("worker")[-3000:]
            time.sleep(0.1)
        page.goto(f"{base}/jobs/{ticket['job_id']}/")
        expect(page.locator("#live-status")).to_have_text("processing")
        assert page.locator("#progress[hx-trigger]").count() == 0  # no polling: the event stream updates it
        # A page is stored (as a worker stores it): it appears in the open page without a reload.
        vllm_service.manage("shell", "-c", (
            "from ocrjobs import processing; processing.job_page_store(job_id='" + ticket["job_id"] + "', number=2, "
            "result={'page': 2, 'width': 1, 'height': 1, 'text': 'Second page, live', 'blocks': [], "
            "'usage': {'prompt_tokens': 0, 'completion_tokens': 0, 'total_tokens': 0}})"))  # fmt: skip
        expect(page.locator("#live-pages li[data-page='2']")).to_contain_text("Second page, live")
        expect(page.locator("#live-count")).to_have_text("1 of 2 pages")
        before = fake_vllm_server.stats()["aborted"]
        page.get_by_role("button", name="Cancel job").click()
        expect(page.locator(".error .badge-cancelled")).to_contain_text("cancelled")
        expect(page.get_by_role("button", name="Retry")).to_be_visible()
        deadline = time.time() + 30
        while fake_vllm_server.stats()["aborted"] - before < 1:
            assert time.time() < deadline, vllm_service.log("worker")[-3000:]
            time.sleep(0.1)
    finally:
        fake_vllm_server.latency = 0.15
    page.get_by_role("button", name="Retry").click()
    page.wait_for_url(lambda url: ticket["job_id"] not in url and "/jobs/" in url)
    expect(page.get_by_role("link", name="JSON", exact=True)).to_be_visible(timeout=120_000)  # reloaded when done
    page.goto(f"{base}/jobs/")
    expect(page.locator("table.jobs .badge-cancelled")).to_have_count(1)


def test_webhooks_page_shows_the_secret_once(page, vllm_service):
    base = vllm_service.base_url
    sign_up(page, vllm_service, "hooks-page@example.com")
    page.goto(f"{base}/webhooks/")
    page.get_by_label("URL").fill("http://127.0.0.1:9/hooks")
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.locator(".msg-error")).to_contain_text("private or reserved address")
    page.get_by_label("URL").fill("https://93.184.215.14/hooks")  # a public address; nothing is sent to it here
    page.get_by_role("button", name="Add endpoint").click()
    secret = page.locator("#new-secret").input_value()
    assert secret.startswith("whsec_")
    page.reload()
    assert page.locator("#new-secret").count() == 0
    expect(page.locator("table code", has_text="https://93.184.215.14/hooks")).to_have_count(1)
