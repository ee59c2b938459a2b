"""Mistral's own Python SDK (mistralai, from PyPI) pointed at a live DeepRead: only `server_url` and the key change.
Documents by URL are served on loopback (the stacks run with DEEPREAD_URL_FETCH_ALLOW_PRIVATE=1)."""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from mistralai.client import Mistral, errors
from PIL import Image

from devtools.samples import LINES, cer, encode, pdf_bytes, png_bytes

pytestmark = pytest.mark.e2e
PAGES = [["Chapter one begins here"], ["Chapter two follows on"], ["The final chapter ends"]]


@pytest.fixture(scope="module")
def files_server() -> Iterator[str]:
    files = {"/report.pdf": (pdf_bytes(PAGES), "application/pdf")}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            data, kind = files.get(self.path, (b"", "text/plain"))
            self.send_response(200 if data else 404)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _remaining(stack, key: str) -> int:
    response = requests.get(f"{stack.base_url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    return int(response.headers["X-RateLimit-Remaining"])


def _ready(client: Mistral, **kwargs):
    """Mistral's SDK surfaces a 503 as SDKError; the engine may still be warming up just after start."""
    import time

    for _ in range(60):
        try:
            return client.ocr.process(**kwargs)
        except errors.SDKError as exc:
            if exc.status_code != 503:
                raise
            time.sleep(int(exc.headers.get("Retry-After", "1")))
    raise AssertionError("the engine never became ready")


def test_an_image_by_data_uri(service):
    key = service.new_key("mistral-image@example.com")
    client = Mistral(api_key=key, server_url=service.base_url)
    data_uri = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
    answer = _ready(client, model="mistral-ocr-latest", document={"type": "image_url", "image_url": data_uri})
    assert answer.model == "rapidocr-ppocrv6"
    (page,) = answer.pages
    assert page.index == 0
    assert cer("\n".join(LINES), page.markdown.replace("\n\n", "\n")) < 0.05
    width, height = Image.open(io.BytesIO(png_bytes())).size
    assert (page.dimensions.width, page.dimensions.height, page.dimensions.dpi) == (width, height, 72)
    assert page.images == []
    assert page.blocks  # the SDK asks for blocks by default
    assert {block.type for block in page.blocks} == {"text"}
    assert answer.usage_info.pages_processed == 1
    assert answer.usage_info.doc_size_bytes == len(png_bytes())
    assert _remaining(service, key) == 999


def test_a_three_page_pdf_by_url_with_pages(service, files_server):
    key = service.new_key("mistral-pdf@example.com")
    client = Mistral(api_key=key, server_url=service.base_url)
    document = {"type": "document_url", "document_url": f"{files_server}/report.pdf"}
    answer = _ready(client, model="deepseek-ocr", document=document, pages=[0, 2], include_blocks=False)
    assert [page.index for page in answer.pages] == [0, 2]
    assert cer(PAGES[0][0], answer.pages[0].markdown) < 0.1
    assert cer(PAGES[2][0], answer.pages[1].markdown) < 0.1
    assert answer.pages[0].dimensions.dpi == 144
    assert answer.usage_info.pages_processed == 2
    answer = _ready(client, model="deepseek-ocr", document=document, pages="1-2")
    assert [page.index for page in answer.pages] == [1, 2]
    assert cer(PAGES[1][0], answer.pages[0].markdown) < 0.1
    assert _remaining(service, key) == 998


def test_figure_crops_with_their_corners(vllm_service):
    key = vllm_service.new_key("mistral-figures@example.com")
    client = Mistral(api_key=key, server_url=vllm_service.base_url)
    page_image = Image.new("RGB", (1000, 800), "white")
    data_uri = "data:image/png;base64," + base64.b64encode(encode(page_image)).decode()
    answer = _ready(
        client,
        model="mistral-ocr-latest",
        document={"type": "image_url", "image_url": data_uri},
        include_image_base64=True,
        table_format="markdown",
    )
    assert answer.model == "deepseek-ai/DeepSeek-OCR"
    (page,) = answer.pages
    (figure,) = page.images
    # the fake model's figure is [[120, 600, 880, 900]] in 0–999 units: pixels of a 1000×800 page
    corners = (figure.top_left_x, figure.top_left_y, figure.bottom_right_x, figure.bottom_right_y)
    assert corners == pytest.approx((120, 480, 881, 721), abs=2)
    crop = Image.open(io.BytesIO(base64.b64decode(figure.image_base64.split(",", 1)[1])))
    assert crop.size == (corners[2] - corners[0], corners[3] - corners[1])
    assert f"![{figure.id}]({figure.id})" in page.markdown
    (table,) = page.tables
    assert (table.format_, table.id) == ("markdown", "tbl-0.md")
    assert "| North | 1,200 | 1,350 |" in table.content
    assert [b.image_id for b in page.blocks if b.type == "image"] == [figure.id]


def test_a_refusal_is_a_400_in_mistrals_shape_and_spends_nothing(service):
    key = service.new_key("mistral-refused@example.com")
    client = Mistral(api_key=key, server_url=service.base_url)
    data_uri = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
    with pytest.raises(errors.SDKError) as raised:
        client.ocr.process(
            model="mistral-ocr-latest",
            document={"type": "image_url", "image_url": data_uri},
            document_annotation_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
        )
    assert raised.value.status_code == 400
    body = json.loads(raised.value.body)
    assert body["object"] == "error"
    assert (body["code"], body["param"]) == ("unsupported_parameter", "document_annotation_format")
    assert "not supported" in body["message"]
    assert _remaining(service, key) == 1000
