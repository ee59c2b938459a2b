"""POST /v1/ocr as a client of a hosted OCR API would call it, against real gunicorn: only the base URL and key
change. Images are served by a local HTTP server (the stack runs with DEEPREAD_URL_FETCH_ALLOW_PRIVATE=1)."""

from __future__ import annotations

import base64
import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from PIL import Image

from devtools.samples import LINES, cer, png_bytes, render_lines

pytestmark = pytest.mark.e2e


class OcrClient:
    """What a user writes: a base URL, a key, and one call."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}"}

    def ocr(self, image: str, **options) -> requests.Response:
        return requests.post(
            f"{self.base_url}/v1/ocr", json={"image": image, **options}, headers=self.headers, timeout=120
        )


@pytest.fixture(scope="module")
def client(service):
    return OcrClient(service.base_url, service.new_key("sync@example.com"))


@pytest.fixture(scope="module")
def image_server():
    png = png_bytes()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path == "/scan.png":
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(png)))
                self.end_headers()
                self.wfile.write(png)
            elif self.path == "/moved":
                self.send_response(302)
                self.send_header("Location", "/scan.png")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _ocr_until_ready(client: OcrClient, image: str, **options) -> requests.Response:
    """A client honours Retry-After while the engine warms up after start."""
    import time

    for _ in range(60):
        response = client.ocr(image, **options)
        if response.status_code != 503:
            return response
        time.sleep(int(response.headers.get("Retry-After", "1")))
    raise AssertionError("the engine never became ready")


def test_url_flow(client, image_server):
    response = _ocr_until_ready(client, f"{image_server}/scan.png")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "ocr.completion"
    assert cer(body["choices"][0]["text"], "\n".join(LINES)) < 0.05
    assert response.headers["X-RateLimit-Limit"] == "1000"
    redirected = client.ocr(f"{image_server}/moved")
    assert redirected.json()["choices"][0]["text"] == body["choices"][0]["text"]
    missing = client.ocr(f"{image_server}/nothing.png")
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "image_fetch_failed"


def test_base64_and_data_url_flows_with_the_annotated_image(client):
    raw = base64.b64encode(png_bytes()).decode()
    plain = _ocr_until_ready(client, raw, image_type="base64")
    assert plain.status_code == 200, plain.text
    data_url = client.ocr(f"data:image/png;base64,{raw}", return_image=True)
    assert data_url.status_code == 200
    body = data_url.json()
    assert body["choices"][0]["text"] == plain.json()["choices"][0]["text"]
    annotated = Image.open(io.BytesIO(base64.b64decode(body["result_image_base64"])))
    assert annotated.format == "PNG"
    assert annotated.size == render_lines(LINES).size


def test_quota_counts_each_call(client):
    raw = base64.b64encode(png_bytes(["count me"])).decode()
    first = _ocr_until_ready(client, raw, image_type="base64")
    second = client.ocr(raw, image_type="base64")
    assert int(second.headers["X-RateLimit-Remaining"]) == int(first.headers["X-RateLimit-Remaining"]) - 1
    refused = client.ocr("not base64!", image_type="base64")
    assert refused.status_code == 400
    assert refused.headers["X-RateLimit-Remaining"] == second.headers["X-RateLimit-Remaining"]
