"""Mistral's OCR dialect of POST /v1/ocr in-process: request parsing, the OCRResponse shape on both engines, tables
and figure crops, and every refusal in Mistral's error shape with nothing spent."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from devtools.samples import LINES, cer, encode, pdf_bytes, png_bytes, render_table
from ocr import services as ocr_services
from ocr.mistral import _pages
from ocrjobs.models import Job
from tests.helpers import requests_used

URL = "/v1/ocr"
ROWS = [["Item", "Qty", "Price"], ["Apples", "12", "3.40"], ["Pears", "7", "2.15"]]


pytestmark = pytest.mark.usefixtures("engine_loaded")


def _data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def _post(client, body):
    return client.post(URL, body, content_type="application/json")


def test_an_image_by_data_uri_answers_an_ocr_response(bearer, user):
    body = {"model": "mistral-ocr-latest", "document": {"type": "image_url", "image_url": _data_uri(png_bytes())}}
    response = _post(bearer, body)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert set(answer) == {"pages", "model", "document_annotation", "usage_info"}
    assert answer["model"] == "rapidocr-ppocrv6"
    assert answer["usage_info"] == {"pages_processed": 1, "doc_size_bytes": len(png_bytes())}
    (page,) = answer["pages"]
    assert set(page) == {"index", "markdown", "images", "dimensions", "tables", "hyperlinks", "header", "footer",
                         "blocks"}  # fmt: skip
    assert page["index"] == 0
    assert cer("\n".join(LINES), page["markdown"].replace("\n\n", "\n")) < 0.05
    width, height = Image.open(io.BytesIO(png_bytes())).size
    assert page["dimensions"] == {"dpi": 72, "height": height, "width": width}
    assert (page["images"], page["tables"], page["hyperlinks"]) == ([], [], [])
    assert [b["type"] for b in page["blocks"]] == ["text"] * len(page["blocks"])
    for block in page["blocks"]:
        assert 0 <= block["top_left_x"] < block["bottom_right_x"] <= width
        assert 0 <= block["top_left_y"] < block["bottom_right_y"] <= height
    assert requests_used(user) == 1
    assert response["X-RateLimit-Remaining"] == "999"
    assert Job.objects.count() == 0


@pytest.mark.parametrize("pages", [[0, 2], "0,2", "2,0", "0, 2-2"])
def test_pages_pick_0_based_pages_of_a_pdf(bearer, user, pages):
    data = pdf_bytes([["Chapter one begins here"], ["Chapter two follows on"], ["The final chapter ends"]])
    body = {"document": {"type": "document_url", "document_url": _data_uri(data, "application/pdf")}, "pages": pages}
    response = _post(bearer, body)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert [p["index"] for p in answer["pages"]] == [0, 2]
    assert cer("Chapter one begins here", answer["pages"][0]["markdown"]) < 0.1
    assert cer("The final chapter ends", answer["pages"][1]["markdown"]) < 0.1
    assert answer["pages"][0]["dimensions"]["dpi"] == 144
    assert answer["usage_info"] == {"pages_processed": 2, "doc_size_bytes": len(data)}
    assert requests_used(user) == 1


@pytest.mark.parametrize(
    ("fmt", "content_start", "link"),
    [("markdown", "| Item | Qty | Price |", "[tbl-0.md](tbl-0.md)"), ("html", "<table><tr><td>Item</td>",
                                                                         "[tbl-0.html](tbl-0.html)")],
)  # fmt: skip
def test_table_format_moves_tables_out_of_the_markdown(bearer, fmt, content_start, link):
    body = {"document": {"type": "image_url", "image_url": {"url": _data_uri(encode(render_table(ROWS)))}},
            "table_format": fmt}  # fmt: skip
    page = _post(bearer, body).json()["pages"][0]
    (table,) = page["tables"]
    assert (table["id"], table["format"]) == (link[1:].split("]")[0], fmt)
    assert table["content"].startswith(content_start)
    for row in ROWS:
        for cell in row:
            assert cell in table["content"]
    assert link in page["markdown"]
    assert "Apples" not in page["markdown"]
    (block,) = [b for b in page["blocks"] if b["type"] == "table"]
    assert block["table_id"] == table["id"]


def test_without_table_format_tables_stay_in_the_markdown(bearer):
    body = {"document": {"type": "image_url", "image_url": _data_uri(encode(render_table(ROWS)))},
            "include_blocks": False}  # fmt: skip
    page = _post(bearer, body).json()["pages"][0]
    assert page["tables"] == []
    assert "| Apples | 12 | 3.40 |" in page["markdown"]
    assert "blocks" not in page


def test_figures_are_cropped_with_their_corners_on_the_gpu_engine(bearer, user, settings, monkeypatch, fake_vllm):
    from inference.vllm_engine import VllmEngine

    settings.DEEPREAD_ENGINE = "vllm"
    monkeypatch.setattr(
        ocr_services, "_runner", ocr_services.InThreadRunner(VllmEngine(base_urls=[fake_vllm.base_url], backoff_s=0.01))
    )
    image = Image.new("RGB", (1000, 1000), "white")
    body = {"model": "deepseek-ocr", "document": {"type": "image_url", "image_url": _data_uri(encode(image))},
            "include_image_base64": True, "table_format": "html"}  # fmt: skip
    response = _post(bearer, body)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["model"] == "deepseek-ai/DeepSeek-OCR"
    (page,) = answer["pages"]
    (figure,) = page["images"]
    # the fake model's image block is [[120, 600, 880, 900]] in 0–999 units of a 1000-pixel page
    corners = [figure[k] for k in ("top_left_x", "top_left_y", "bottom_right_x", "bottom_right_y")]
    assert corners == pytest.approx([120, 600, 881, 901], abs=2)
    assert figure["id"] == "img-0.png"
    prefix, payload = figure["image_base64"].split(",", 1)
    assert prefix == "data:image/png;base64"
    crop = Image.open(io.BytesIO(base64.b64decode(payload)))
    assert crop.size == (corners[2] - corners[0], corners[3] - corners[1])
    assert "![img-0.png](img-0.png)" in page["markdown"]
    assert "#deepread-image" not in page["markdown"]
    (table,) = page["tables"]
    assert table["content"].startswith("<table>")
    assert "[tbl-0.html](tbl-0.html)" in page["markdown"]
    assert "<table" not in page["markdown"]
    types = {b["type"] for b in page["blocks"]}
    assert {"title", "text", "table", "caption", "equation", "image"} <= types
    (image_block,) = [b for b in page["blocks"] if b["type"] == "image"]
    assert image_block["image_id"] == "img-0.png"
    # without include_image_base64 the figure is listed, its data left out; image_limit 0 leaves it out entirely
    page = _post(bearer, {**body, "include_image_base64": False}).json()["pages"][0]
    assert page["images"][0]["image_base64"] is None
    page = _post(bearer, {**body, "image_limit": 0}).json()["pages"][0]
    assert page["images"] == []
    assert "img-0" not in page["markdown"]
    assert requests_used(user) == 3


B64 = _data_uri(png_bytes(["x"]))
IMAGE = {"type": "image_url", "image_url": B64}
REFUSALS = [
    ({"document": IMAGE, "document_annotation_format": {"type": "json_schema", "json_schema": {}}}, 400,
     "unsupported_parameter", "document_annotation_format"),
    ({"document": IMAGE, "bbox_annotation_format": {"type": "json_schema"}}, 400, "unsupported_parameter",
     "bbox_annotation_format"),
    ({"document": IMAGE, "document_annotation_prompt": "sum it up"}, 400, "unsupported_parameter",
     "document_annotation_prompt"),
    ({"document": IMAGE, "confidence_scores_granularity": "word"}, 400, "unsupported_parameter",
     "confidence_scores_granularity"),
    ({"document": IMAGE, "extract_header": True}, 400, "unsupported_parameter", "extract_header"),
    ({"document": IMAGE, "temperature": 0}, 400, "invalid_parameter", "temperature"),
    ({"document": "https://example.com/a.pdf"}, 400, "invalid_parameter_type", "document"),
    ({"document": {"type": "file", "file_id": "abc"}}, 400, "invalid_parameter", "document"),
    ({"document": {"type": "audio_url", "audio_url": "x"}}, 400, "invalid_parameter", "document"),
    ({"document": {"type": "document_url"}}, 400, "parameter_missing", "document"),
    ({"document": {"type": "image_url", "image_url": 5}}, 400, "invalid_parameter_type", "document"),
    ({"document": IMAGE, "pages": "1-"}, 400, "invalid_parameter", "pages"),
    ({"document": IMAGE, "pages": [-1]}, 400, "invalid_parameter", "pages"),
    ({"document": IMAGE, "pages": [1]}, 400, "invalid_parameter", "pages"),
    ({"document": IMAGE, "pages": {"0": 1}}, 400, "invalid_parameter_type", "pages"),
    ({"document": IMAGE, "table_format": "latex"}, 400, "invalid_parameter", "table_format"),
    ({"document": IMAGE, "include_image_base64": "yes"}, 400, "invalid_parameter_type", "include_image_base64"),
    ({"document": IMAGE, "image_limit": -1}, 400, "invalid_parameter", "image_limit"),
    ({"document": IMAGE, "model": "gpt-4o"}, 404, "model_not_found", "model"),
    ({"document": {"type": "document_url", "document_url": "file:///etc/passwd"}}, 400, "invalid_url_protocol",
     "document"),
    ({"document": {"type": "document_url", "document_url": "http://169.254.169.254/latest/"}}, 400,
     "image_fetch_failed", "document"),
    ({"document": {"type": "image_url", "image_url": "data:image/png;base64,%%%"}}, 400, "invalid_base64_format",
     "document"),
    ({"document": {"type": "document_url", "document_url": _data_uri(b"%PDF-1.4 broken", "application/pdf")}},
     400, "unsupported_image_format", "document"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "status", "code", "param"), REFUSALS)
def test_every_refusal_is_in_mistrals_shape_and_spends_nothing(bearer, user, body, status, code, param):
    response = _post(bearer, body)
    assert response.status_code == status, response.content
    error = response.json()
    assert set(error) == {"object", "message", "type", "param", "code"}
    assert (error["object"], error["code"], error["param"]) == ("error", code, param)
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    assert requests_used(user) == 0
    assert Job.objects.count() == 0


def test_too_many_selected_pages_is_too_large_but_a_selection_within_the_limit_runs(bearer, user, settings):
    settings.DEEPREAD_SYNC_MAX_PAGES = 2
    data = pdf_bytes([["a"], ["b"], ["Third page"]])
    document = {"type": "document_url", "document_url": _data_uri(data, "application/pdf")}
    response = _post(bearer, {"document": document})
    assert response.status_code == 413
    assert (response.json()["code"], response.json()["param"]) == ("image_too_large", "pages")
    assert requests_used(user) == 0
    response = _post(bearer, {"document": document, "pages": "2"})
    assert response.status_code == 200
    assert [p["index"] for p in response.json()["pages"]] == [2]
    assert requests_used(user) == 1


def test_strict_model_names_refuse_mistrals_name_too(bearer, user, settings):
    settings.DEEPREAD_MODEL_STRICT = True
    response = _post(bearer, {"model": "mistral-ocr-latest", "document": IMAGE})
    assert response.status_code == 404
    assert response.json()["code"] == "model_not_found"
    assert requests_used(user) == 0


def test_a_missing_key_is_401_before_the_body_is_read(client, db):
    response = _post(client, {"document": IMAGE})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("value", "expected"), [([3, 1, 1], (1, 3)), ("0-2,5", (0, 1, 2, 5)), (" 4 ", (4,)), (None, None)]
)
def test_page_selections(value, expected):
    assert _pages(value) == expected
