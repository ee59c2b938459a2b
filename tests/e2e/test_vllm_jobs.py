"""Every mode through the public job API with DEEPREAD_ENGINE=vllm: gunicorn, a gpu worker on threads and the
fake vLLM server, all real processes and sockets."""

from __future__ import annotations

import io
import time

import pytest
import requests
from PIL import Image, ImageDraw

from devtools.samples import encode, pdf_bytes, render_lines

pytestmark = pytest.mark.e2e


def _submit(stack, headers: dict, *, mode: str, filename: str, data: bytes, content_type: str) -> str:
    response = requests.post(
        f"{stack.base_url}/api/v1/upload/signed-url",
        params={"mode": mode},
        json={"filename": filename, "content_type": content_type},
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    ticket = response.json()
    put = requests.put(ticket["upload_url"], data=data, headers={"Content-Type": content_type}, timeout=30)
    assert put.status_code == 200, put.text
    return ticket["job_id"]


def _download(stack, headers: dict, file_path: str) -> requests.Response:
    signed = requests.post(
        f"{stack.base_url}/api/v1/download/signed-url", params={"file_path": file_path}, headers=headers, timeout=10
    )
    assert signed.status_code == 200, signed.text
    return requests.get(signed.json()["url"], timeout=10)


@pytest.fixture(scope="module")
def headers(vllm_service):
    return {"X-API-Key": vllm_service.new_key("gpu@example.com")}


def _page_png(width: int = 1998, height: int = 999, marker: tuple[int, int, int] | None = None) -> bytes:
    image = render_lines(["A report page"], width=width)
    image = image.resize((width, height))
    if marker:
        ImageDraw.Draw(image).rectangle((0, 0, 7, 7), fill=marker)
    return encode(image)


def test_document_mode_blocks_pixel_boxes_figure_crops_and_token_usage(vllm_service, headers):
    job_id = _submit(
        vllm_service, headers, mode="document", filename="report.png", data=_page_png(), content_type="image/png"
    )
    body = vllm_service.wait_result(headers, job_id)
    assert body["status"] == "completed", body
    result = body["result"]
    assert result["model"] == "deepseek-ai/DeepSeek-OCR"
    (page,) = result["pages"]
    assert (page["width"], page["height"]) == (1998, 999)
    title = page["blocks"][0]
    assert title["type"] == "title"
    assert title["bbox"] == [146, 52, 1148, 86]  # 0–999 units scaled to this page's pixels
    assert result["extracted_text"].startswith("# Quarterly Report 2025")
    assert result["usage"]["prompt_tokens"] > 273
    assert result["usage"]["total_tokens"] == result["usage"]["prompt_tokens"] + result["usage"]["completion_tokens"]

    (figure,) = [b for b in page["blocks"] if b["type"] == "image"]
    assert figure["image"] == "document/report/page-1-image-1.png"
    assert "](page-1-image-1.png)" in result["extracted_text"]
    crop = Image.open(io.BytesIO(_download(vllm_service, headers, figure["image"]).content))
    x1, y1, x2, y2 = figure["bbox"]
    assert crop.size == (x2 - x1, y2 - y1)
    assert _download(vllm_service, headers, "document/report.json").json()["job_id"] == job_id

    # The annotated page: drawn by the worker, stored beside the result, the page's own size.
    assert page["annotated_image"] == "document/report/page-1-annotated.png"
    annotated = _download(vllm_service, headers, page["annotated_image"])
    assert annotated.headers["Content-Type"] == "image/png"
    drawn = Image.open(io.BytesIO(annotated.content))
    assert drawn.size == (1998, 999)
    assert drawn.getpixel((title["bbox"][0], (title["bbox"][1] + title["bbox"][3]) // 2)) != (255, 255, 255)
    again = _download(vllm_service, headers, page["annotated_image"])
    assert again.content == annotated.content
    other = requests.post(
        f"{vllm_service.base_url}/api/v1/download/signed-url",
        params={"file_path": "document/report/page-9-annotated.png"},
        headers=headers,
        timeout=10,
    )
    assert other.status_code == 404
    stranger = {"X-API-Key": vllm_service.new_key("stranger@example.com")}
    for path in (figure["image"], page["annotated_image"], "document/report.json"):
        response = requests.post(
            f"{vllm_service.base_url}/api/v1/download/signed-url",
            params={"file_path": path},
            headers=stranger,
            timeout=10,
        )
        assert response.status_code == 404, path


@pytest.mark.parametrize("mode", ["table", "formula", "chart", "ocr"])
def test_structured_modes(vllm_service, headers, mode):
    job_id = _submit(
        vllm_service, headers, mode=mode, filename=f"{mode}.png", data=_page_png(), content_type="image/png"
    )
    body = vllm_service.wait_result(headers, job_id)
    assert body["status"] == "completed", body
    result = body["result"]
    if mode == "table":
        (table,) = result["tables"]
        assert table["rows"][1] == ["Region", "Q1", "Q2"]  # the rowspan cell fills both rows
        assert table["csv"].startswith("Region,Revenue,Revenue\n")
        assert table["page"] == 1
    elif mode == "formula":
        assert [f["latex"] for f in result["formulas"]] == ["C = 4.2", "G = \\frac{R_{Q2} - R_{Q1}}{R_{Q1}}"]
    elif mode == "chart":
        (chart,) = result["charts"]
        assert chart["rows"][0] == ["Jan", 410.0, 300.0]
    else:
        assert result["extracted_text"].splitlines()[0] == "Quarterly Report 2025"
        assert all(b["type"] == "text" for b in result["pages"][0]["blocks"])


def test_a_repetition_loop_is_retried_and_a_second_loop_fails_only_its_page(vllm_service, headers):
    looping = _page_png(marker=(255, 0, 255))
    job_id = _submit(
        vllm_service, headers, mode="document", filename="loop.png", data=looping, content_type="image/png"
    )
    result = vllm_service.wait_result(headers, job_id)["result"]
    assert result["pages"][0]["recovered_by"] == "plain_prompt"
    assert [a["step"] for a in result["pages"][0]["attempts"]] == ["first", "ngram_tight", "plain_prompt"]
    assert "failed_pages" not in result

    pages = [render_lines(["fine page"]), render_lines(["stuck page"])]
    ImageDraw.Draw(pages[1]).rectangle((0, 0, 20, 20), fill=(0, 255, 255))
    buf = io.BytesIO()
    pages[0].save(buf, format="PDF", save_all=True, append_images=pages[1:], resolution=144)
    job_id = _submit(
        vllm_service, headers, mode="ocr", filename="half.pdf", data=buf.getvalue(), content_type="application/pdf"
    )
    body = vllm_service.wait_result(headers, job_id)
    assert body["status"] == "completed"
    assert body["result"]["failed_pages"] == [2]
    assert "repetition loop" in body["result"]["warnings"][0]
    assert body["result"]["extracted_text"].startswith("Quarterly Report 2025")


def test_pdf_pages_reach_the_server_concurrently(vllm_service, headers, fake_vllm_server):
    """The pages of one PDF are sent together: the fake server answers none until 10 have arrived, so the 10th
    arriving proves 10 in flight at once, however slow the machine (the wait's bound only catches a hang)."""
    fake_vllm_server.reset()
    fake_vllm_server.hold(10)
    data = pdf_bytes([[f"page {n}"] for n in range(1, 21)])
    job_id = _submit(
        vllm_service, headers, mode="ocr", filename="twenty.pdf", data=data, content_type="application/pdf"
    )
    assert fake_vllm_server.wait_arrived(10, timeout=120), fake_vllm_server.stats()
    body = vllm_service.wait_result(headers, job_id, timeout=300)
    assert body["status"] == "completed"
    assert [p["page"] for p in body["result"]["pages"]] == list(range(1, 21))
    stats = fake_vllm_server.stats()
    assert stats["served"] == 20
    assert stats["hold_timeouts"] == 0, stats  # nobody waited out the hold: the 10 were there together


def test_a_job_whose_server_refuses_it_fails_with_the_reason_and_is_refunded(vllm_service, headers, fake_vllm_server):
    fake_vllm_server.faults.extend([400])
    usage_before = requests.get(f"{vllm_service.base_url}/api/v1/ocr-modes", headers=headers, timeout=10)
    used_before = int(usage_before.headers["X-RateLimit-Remaining"])
    # A page this account has not sent before: an identical one would reuse its earlier result (no request).
    job_id = _submit(
        vllm_service, headers, mode="ocr", filename="refused.png", data=_page_png(width=1990), content_type="image/png"
    )
    body = vllm_service.wait_result(headers, job_id)
    assert body["status"] == "failed"
    assert "refused the page" in body["error"]
    after = requests.get(f"{vllm_service.base_url}/api/v1/ocr-modes", headers=headers, timeout=10)
    assert int(after.headers["X-RateLimit-Remaining"]) == used_before  # spent at submission, refunded on failure


def test_a_cold_starting_server_delays_jobs_instead_of_failing_them(tmp_path):
    """The gpu worker waits for /v1/models at start-up and says so; a job sent meanwhile completes later."""
    from devtools.fake_vllm import FakeVllm
    from devtools.stack import free_port, running_stack

    port = free_port()
    env = {"VLLM_BASE_URL": f"http://127.0.0.1:{port}/v1", "DEEPREAD_VLLM_BACKOFF_S": "0.05"}
    with running_stack(tmp_path, engine="vllm", env=env) as stack:
        headers = {"X-API-Key": stack.new_key("cold@example.com")}
        job_id = _submit(stack, headers, mode="ocr", filename="early.png", data=_page_png(), content_type="image/png")
        deadline = time.monotonic() + 120  # the worker says it is waiting for the server (an event, not a sleep)
        while "cold-starting or unreachable" not in stack.log("worker"):
            assert time.monotonic() < deadline, stack.log("worker")[-2000:]
            time.sleep(0.2)
        early = requests.get(f"{stack.base_url}/api/v1/results/{job_id}", headers=headers, timeout=10).json()
        assert early["status"] == "pending"
        fake = FakeVllm(port=port, latency=0.01).start()
        try:
            body = stack.wait_result(headers, job_id)
        finally:
            fake.stop()
        assert body["status"] == "completed"
        assert "cold-starting or unreachable" in stack.log("worker")
