"""The result document's schema, as drf-spectacular emits it, holds for real results of every mode on both
engines (RapidOCR in-process; the fake vLLM server for the DeepSeek-OCR modes), for `GET /api/v1/results/{id}`
and for the downloaded JSON. The Result* components are made strict here (no undeclared field), so a field a
producer adds without declaring it fails this test."""

from __future__ import annotations

import copy
import json
from urllib.parse import urlsplit

import jsonschema
import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from devtools.pdfgen import PROSE, build_pdf
from devtools.samples import encode, pdf_bytes, png_bytes, render_table
from ocrjobs import processing
from ocrjobs.models import Job

SIGN_URL = "/api/v1/upload/signed-url"
TABLE = [["Item", "Qty", "Price"], ["Apples", "3", "1.20"], ["Pears", "5", "2.40"]]


def _nullable_to_jsonschema(node):
    """OpenAPI 3.0's `nullable: true` as JSON Schema's `null` alternative; every Result* object made strict."""
    if isinstance(node, list):
        return [_nullable_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _nullable_to_jsonschema(v) for k, v in node.items()}
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


@pytest.fixture(scope="module")
def components():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    found = copy.deepcopy(schema["components"]["schemas"])
    for name, component in found.items():
        if name.startswith("Result") and component.get("type") == "object":
            component["additionalProperties"] = False
    return _nullable_to_jsonschema(found)


def _check(components: dict, name: str, instance: dict) -> None:
    root = {"$ref": f"#/components/schemas/{name}", "components": {"schemas": components}}
    jsonschema.Draft202012Validator(root, format_checker=jsonschema.FormatChecker()).validate(instance)


def _run(api, mode: str, name: str, data: bytes, content_type: str) -> Job:
    ticket = api.post(f"{SIGN_URL}?mode={mode}", {"filename": name}, format="json").json()
    parts = urlsplit(ticket["upload_url"])
    put = Client().generic("PUT", f"{parts.path}?{parts.query}", data, content_type=content_type)
    assert put.status_code == 200, put.content
    processing.job_run(job_id=ticket["job_id"])
    job = Job.objects.get(pk=ticket["job_id"])
    for number in range(1, (job.page_count or 1) + 1):  # fanned-out pages (vLLM), run here
        processing.job_page_run(job_id=job.pk, page=number)
    job.refresh_from_db()
    assert job.status == "completed", job.error
    return job


def _check_both_payloads(api, components: dict, job: Job) -> dict:
    body = api.get(f"/api/v1/results/{job.pk}").json()
    _check(components, "JobResult", body)
    signed = api.post("/api/v1/download/signed-url", {"file_path": job.output_key}, format="json").json()
    parts = urlsplit(signed["url"])
    downloaded = Client().get(f"{parts.path}?{parts.query}")
    assert downloaded.status_code == 200
    raw = b"".join(downloaded.streaming_content) if downloaded.streaming else downloaded.content
    document = json.loads(raw)
    _check(components, "ResultDocument", document)
    assert document == body["result"]
    return document


INPUTS = {
    "png": ("scan.png", png_bytes(["Invoice 42", "Total due 19.99"]), "image/png"),
    "pdf": ("two.pdf", pdf_bytes([["Page one words"], ["Page two words"]]), "application/pdf"),
    "table": ("table.png", encode(render_table(TABLE)), "image/png"),
}


@pytest.mark.parametrize(("mode", "sample"), [("ocr", "pdf"), ("document", "png"), ("table", "table")])
def test_rapidocr_results_of_every_mode_match_the_schema(api, components, mode, sample):
    document = _check_both_payloads(api, components, _run(api, mode, *INPUTS[sample]))
    assert document["mode"] == mode
    assert document["pages"]
    assert all("model" not in p for p in document["pages"])
    if mode == "table":
        assert document["tables"]
        assert all(t["page"] == 1 for t in document["tables"])


@pytest.mark.parametrize(
    ("mode", "sample"), [("ocr", "png"), ("document", "pdf"), ("table", "table"), ("formula", "pdf"), ("chart", "png")]
)
def test_deepseek_results_of_every_mode_match_the_schema(api, components, vllm, mode, sample):
    document = _check_both_payloads(api, components, _run(api, mode, *INPUTS[sample]))
    assert document["model"] == "deepseek-ai/DeepSeek-OCR"
    if mode == "table":
        assert document["tables"]
        assert all(t["page"] == 1 for t in document["tables"])
    if mode == "formula":
        assert "formulas" in document
    if mode == "chart":
        assert "charts" in document


def test_shortcut_and_reused_pages_match_the_schema(api, components, vllm):
    """`source` (blank, text_layer, reuse) and `reused_from` are declared too."""
    mixed = build_pdf([("digital", PROSE), ("scan", PROSE), ("blank", [])])
    first = _check_both_payloads(api, components, _run(api, "ocr", "mixed.pdf", mixed, "application/pdf"))
    assert [p.get("source") for p in first["pages"]] == ["text_layer", None, "blank"]
    scan = build_pdf([("scan", PROSE)])
    again = _check_both_payloads(api, components, _run(api, "ocr", "again.pdf", scan, "application/pdf"))
    assert again["pages"][0]["source"] == "reuse"
    assert again["pages"][0]["reused_from"]["page"] == 2


def test_a_field_the_schema_does_not_declare_fails(api, components):
    """The check is real: an undeclared page field, a wrong type or a missing field is refused."""
    job = _run(api, "ocr", *INPUTS["png"])
    document = api.get(f"/api/v1/results/{job.pk}").json()["result"]
    for broken in (
        {**document, "pages": [{**document["pages"][0], "surprise": 1}]},
        {**document, "processing_ms": "fast"},
        {k: v for k, v in document.items() if k != "extracted_text"},
        {**document, "pages": [{**document["pages"][0], "blocks": [{"type": "text", "text": "x", "bbox": [1, 2]}]}]},
    ):
        with pytest.raises(jsonschema.ValidationError):
            _check(components, "ResultDocument", broken)
