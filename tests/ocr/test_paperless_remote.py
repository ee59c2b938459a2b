"""paperless-ngx's remote parser with `PAPERLESS_REMOTE_OCR_ENGINE=mistral` pointed at DeepRead: the exact request
it sends (its `_mistral_ocr_parse`), and the fields of the answer it reads (`pages[].markdown`, `dimensions`,
`blocks[]` with a text and `top_left_x`… corners), for a PDF and an image."""

from __future__ import annotations

import base64

import pytest

from devtools.samples import pdf_bytes, png_bytes

pytestmark = pytest.mark.usefixtures("engine_loaded")


@pytest.mark.parametrize(
    ("mime", "data", "kind", "pages"),
    [
        ("application/pdf", pdf_bytes([["Invoice 2041"], ["Total due 99.50"]]), "document_url", 2),
        ("image/png", png_bytes(["Receipt 7781"]), "image_url", 1),
    ],
)
def test_paperless_mistral_request_gets_what_its_parser_reads(client, api_key, mime, data, kind, pages):
    uri = f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
    payload = {"model": "mistral-ocr-latest", "document": {"type": kind, kind: uri}, "include_blocks": True}
    response = client.post(
        "/v1/ocr", payload, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api_key[1]}"
    )
    assert response.status_code == 200, response.content
    answer = response.json()
    assert len(answer["pages"]) == pages
    for page in answer["pages"]:
        assert page["markdown"].strip()
        assert page["dimensions"]["width"] > 0
        assert page["dimensions"]["height"] > 0
        texts = [
            b
            for b in page["blocks"]
            if any(isinstance(b.get(k), str) and b[k].strip() for k in ("text", "markdown", "content"))
        ]
        assert texts
        for block in texts:
            assert 0 <= block["top_left_x"] < block["bottom_right_x"] <= page["dimensions"]["width"]
            assert 0 <= block["top_left_y"] < block["bottom_right_y"] <= page["dimensions"]["height"]
