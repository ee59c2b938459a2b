"""POST /v1/ocr with image URLs as browsers send them (issue 12 item 4), in-process with the real CPU engine: the
field file served under non-ASCII names, by an IDN host, behind a redirect to a non-ASCII Location, and a server
that drips bytes past the deadline (image_fetch_failed, nothing spent)."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest

from core import urlfetch
from ocr import services as ocr_services
from ocrjobs.models import Job
from tests.helpers import requests_used

FIELD = Path(__file__).resolve().parents[2] / "../shared/data/field"
FIELD = FIELD if FIELD.exists() else Path("/work/shared/data/field")
NAME = "17-url-non-ascii-path.png"


pytestmark = pytest.mark.usefixtures("engine_loaded")


@pytest.fixture
def bearer(bearer, settings):
    """The shared Bearer client, with the SSRF guard off for the loopback image server."""
    settings.DEEPREAD_URL_FETCH_ALLOW_PRIVATE = True
    return bearer


@pytest.fixture(scope="module")
def field_image() -> tuple[bytes, list[str]]:
    expected = json.loads((FIELD / "expected.json").read_text())[NAME]["lines"]
    return (FIELD / NAME).read_bytes(), expected


@pytest.fixture
def uploads(field_image):
    """A server that serves the field image at every path under /uploads/ whose *decoded* form is a known name,
    and records the raw request targets it was sent."""
    data, _ = field_image
    names = {"/uploads/cierre_peña.png", "/uploads/scan 01.png", "/uploads/見積書 (1).png", "/uploads/img.png"}
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            seen.append(self.path)
            path = self.path.partition("?")[0]
            if path == "/moved":
                self.send_response(302)
                self.send_header("Location", "/uploads/cierre_peña.png".encode().decode("latin-1"))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            ok = unquote(path) in names and all(ord(c) < 128 for c in self.path)
            body = data if ok else b"not found"
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


def _lines_present(text: str, lines: list[str]) -> None:
    flat = " ".join(text.split()).lower()
    for line in lines:
        assert flat.count(line.lower()) == 1, (line, text)


@pytest.mark.parametrize(
    ("path", "wire"),
    [
        ("/uploads/cierre_peña.png", "/uploads/cierre_pe%C3%B1a.png"),
        ("/uploads/scan 01.png", "/uploads/scan%2001.png"),
        ("/uploads/見積書 (1).png", "/uploads/%E8%A6%8B%E7%A9%8D%E6%9B%B8%20(1).png"),
        ("/uploads/img.png?name=año", "/uploads/img.png?name=a%C3%B1o"),
        ("/moved", "/uploads/cierre_pe%C3%B1a.png"),
    ],
)
def test_the_field_file_under_a_non_ascii_url_gives_its_text(bearer, user, uploads, field_image, path, wire):
    port, seen = uploads
    _, expected = field_image
    response = bearer.post("/v1/ocr", {"image": f"http://127.0.0.1:{port}{path}"}, content_type="application/json")
    assert response.status_code == 200, response.content
    _lines_present(response.json()["choices"][0]["text"], expected)
    assert seen[-1] == wire
    assert requests_used(user) == 1


def test_an_idn_host_is_fetched_by_its_idna_name(bearer, user, uploads, field_image, monkeypatch):
    port, _ = uploads
    asked = []

    def resolver(host, port):
        asked.append(host)
        if host == "xn--peoles-xwa.test":
            return ["127.0.0.1"]
        raise urlfetch.FetchError(urlfetch.NOT_FETCHED)

    monkeypatch.setattr(urlfetch, "system_resolver", resolver)
    response = bearer.post(
        "/v1/ocr", {"image": f"http://peñoles.test:{port}/uploads/cierre_peña.png"}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    _lines_present(response.json()["choices"][0]["text"], field_image[1])
    assert asked == ["xn--peoles-xwa.test"]


def _dripping_server():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    stop = threading.Event()

    def serve():
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n")
            while not stop.wait(2.0):
                conn.sendall(b"x")

    threading.Thread(target=serve, daemon=True).start()
    return sock, stop


@pytest.mark.parametrize(
    ("image", "code"),
    [
        ("http://127.0.0.1:{drip}/slow.png", "image_fetch_failed"),
        ("http://127.0.0.1:{port}/uploads/missing-ñ.png", "image_fetch_failed"),
        ("http://bad\u00a0host/ñ.png", "invalid_url_format"),
        ("http://no-such-host.invalid/cierre_peña.png", "image_fetch_failed"),
        ("http://[::1/ñ.png", "invalid_url_format"),
    ],
)
def test_fetch_failures_are_openai_errors_and_spend_nothing(bearer, user, uploads, settings, image, code):
    settings.DEEPREAD_URL_FETCH_DEADLINE_S = 1.0
    port, _ = uploads
    sock, stop = _dripping_server()
    try:
        started = time.monotonic()
        response = bearer.post(
            "/v1/ocr",
            {"image": image.format(drip=sock.getsockname()[1], port=port)},
            content_type="application/json",
        )
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        sock.close()
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error["param"], error["type"]) == (code, "image", "invalid_request_error")
    assert elapsed < 10  # bounds a hang only; the drip server would hold the call for 2,000 s
    assert requests_used(user) == 0
    assert Job.objects.count() == 0


@pytest.mark.parametrize("kind", ["document_url", "image_url"])
def test_the_mistral_dialect_fetches_non_ascii_urls_too(bearer, user, uploads, field_image, kind):
    port, seen = uploads
    url = f"http://127.0.0.1:{port}/uploads/cierre_peña.png"
    body = {"model": ocr_services.served_model(), "document": {"type": kind, kind: url}}
    response = bearer.post("/v1/ocr", body, content_type="application/json")
    assert response.status_code == 200, response.content
    _lines_present(" ".join(page["markdown"] for page in response.json()["pages"]), field_image[1])
    assert seen[-1] == "/uploads/cierre_pe%C3%B1a.png"
    assert requests_used(user) == 1


def test_the_mistral_dialect_gets_image_fetch_failed_in_its_format(bearer, user, settings):
    settings.DEEPREAD_URL_FETCH_DEADLINE_S = 1.0
    sock, stop = _dripping_server()
    try:
        body = {
            "model": ocr_services.served_model(),
            "document": {"type": "document_url", "document_url": f"http://127.0.0.1:{sock.getsockname()[1]}/ñ.pdf"},
        }
        response = bearer.post("/v1/ocr", body, content_type="application/json")  # fmt: skip
    finally:
        stop.set()
        sock.close()
    assert response.status_code == 400, response.content
    error = response.json()
    assert error["object"] == "error"
    assert error["code"] == "image_fetch_failed"
    assert requests_used(user) == 0
    assert Job.objects.count() == 0
