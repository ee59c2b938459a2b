"""The public field files (issue 12) through both APIs, in-process with the CPU engine: the job API (signed PUT,
the worker, the result and its annotated image) and POST /v1/ocr. Then the refusals of item 5 through both APIs:
a TIFF frame over the pixel limit, and an upload cut off before its declared length. Every refusal also checks
that nothing changed: no file stored, no request spent, the job still waiting for its file."""

from __future__ import annotations

import base64
import io

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from PIL import Image

from devtools.samples import png_bytes
from inference.annotate import colour
from inference.documents import inspect_document, page_image
from ocrjobs import processing, selectors
from ocrjobs.models import Job, JobStatus
from tests.field import assert_reads, field_file
from tests.helpers import path_and_query, requests_used
from tests.inference.test_real_world_pages import tiff_with_a_huge_second_frame

SIGN_URL = "/api/v1/upload/signed-url"
FIELD = {
    "01-rgba-transparent-bg.png": "image/png",
    "04-acroform-filled.pdf": "application/pdf",
    "08-long-screenshot.png": "image/png",
    "17-url-non-ascii-path.png": "image/png",
}


pytestmark = pytest.mark.usefixtures("engine_loaded")


def _stored(prefix: str) -> list[str]:
    return default_storage.listdir(prefix)[1] if default_storage.exists(prefix) else []


def _check_annotated(annotated: Image.Image, page: Image.Image, blocks: list[dict]) -> None:
    """The annotated image is the page, same size, with each block's box drawn where its text is: the box holds
    ink on the page, and its left edge is drawn in the block's colour half way down."""
    assert annotated.size == page.size
    grey = page.convert("L")
    for block in blocks:
        x1, y1, x2, y2 = block["bbox"]
        crop = grey.crop((x1, y1, x2, y2)).tobytes()
        assert sum(1 for v in crop if v < 110) > 0.02 * len(crop), block  # the text lies inside its box
        r, g, b = annotated.getpixel((x1, (y1 + y2) // 2))
        er, eg, eb = colour(block["type"])
        assert abs(r - er) + abs(g - eg) + abs(b - eb) < 90, (block, (r, g, b))


@pytest.mark.parametrize("name", sorted(FIELD))
def test_field_files_through_the_job_api(name, api, user):
    data, expected = field_file(name)
    ticket = api.post(SIGN_URL, {"filename": name, "content_type": FIELD[name]}, format="json").json()
    response = Client().generic("PUT", path_and_query(ticket["upload_url"]), data, content_type=FIELD[name])
    assert response.status_code == 200, response.content
    processing.job_run(job_id=ticket["job_id"])
    result = api.get(f"/api/v1/results/{ticket['job_id']}").json()
    assert result["status"] == "completed", result
    assert_reads(expected, result["result"]["extracted_text"])

    first = result["result"]["pages"][0]  # drawn by the worker when the job completed
    with default_storage.open(selectors.download_key(user=user, file_path=first["annotated_image"])) as fh:
        annotated = Image.open(io.BytesIO(fh.read())).convert("RGB")
    info = inspect_document(data, max_pixels=60_000_000, max_pages=10)
    page = page_image(data, info, 1, dpi=144, max_pixels=60_000_000).image
    _check_annotated(annotated, page, first["blocks"])


@pytest.mark.parametrize("name", sorted(FIELD))
def test_field_files_through_v1_ocr(name, bearer, user):
    data, expected = field_file(name)
    body = {"image": base64.b64encode(data).decode(), "image_type": "base64", "return_image": True}
    response = bearer.post("/v1/ocr", body, content_type="application/json")
    assert response.status_code == 200, response.content
    assert_reads(expected, response.json()["choices"][0]["text"])
    annotated = Image.open(io.BytesIO(base64.b64decode(response.json()["result_image_base64"]))).convert("RGB")
    page = page_image(
        data, inspect_document(data, max_pixels=60_000_000, max_pages=10), 1, dpi=144, max_pixels=60_000_000
    )
    assert annotated.size == page.image.size
    assert annotated.getpixel((1, 1)) == (255, 255, 255)  # a transparent corner shows white, not black
    assert requests_used(user) == 1


# --- refusals -------------------------------------------------------------------------------------------------------
def test_a_tiff_with_a_huge_second_frame_is_refused_by_the_job_api_storing_nothing(api, user):
    data = tiff_with_a_huge_second_frame()
    ticket = api.post(SIGN_URL, {"content_type": "image/tiff"}, format="json").json()
    response = Client().generic("PUT", path_and_query(ticket["upload_url"]), data, content_type="image/tiff")
    assert response.status_code == 413
    assert "Frame 2 of the TIFF is 12000×12000 pixels" in response.json()["detail"]
    assert Job.objects.get(pk=ticket["job_id"]).status == JobStatus.AWAITING_UPLOAD
    assert _stored(ticket["key_prefix"]) == []
    assert requests_used(user) == 1  # the ticket's request only: still refundable when the URL expires unused


def test_a_tiff_with_a_huge_second_frame_is_refused_by_v1_ocr_spending_nothing(bearer, user):
    data = tiff_with_a_huge_second_frame()
    body = {"image": base64.b64encode(data).decode(), "image_type": "base64"}
    response = bearer.post("/v1/ocr", body, content_type="application/json")
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "image_too_large"
    assert "Frame 2" in error["message"]
    assert requests_used(user) == 0


def _cut_off_put(ticket: dict, data: bytes, declared: int):
    """A PUT whose body stops short of its Content-Length, as the server sees a connection that closed early."""
    return Client().generic(
        "PUT",
        path_and_query(ticket["upload_url"]),
        b"",
        CONTENT_TYPE="image/png",
        CONTENT_LENGTH=str(declared),
        **{"wsgi.input": io.BytesIO(data)},
    )


@pytest.mark.parametrize("sent", [0.1, 0.5, 0.99])
def test_a_put_cut_off_before_its_content_length_is_refused_and_the_job_waits(api, user, sent):
    data = png_bytes()
    ticket = api.post(SIGN_URL, {"filename": "scan.png", "content_type": "image/png"}, format="json").json()
    response = _cut_off_put(ticket, data[: int(len(data) * sent)], declared=len(data))
    assert response.status_code == 400
    assert response.json() == {"detail": "The upload was cut off; upload it again."}
    assert Job.objects.get(pk=ticket["job_id"]).status == JobStatus.AWAITING_UPLOAD
    assert _stored(ticket["key_prefix"]) == []
    # The complete file, sent again to the same URL, is taken.
    again = Client().generic("PUT", path_and_query(ticket["upload_url"]), data, content_type="image/png")
    assert again.status_code == 200
    assert Job.objects.get(pk=ticket["job_id"]).status == JobStatus.QUEUED


def test_a_post_form_cut_off_before_its_content_length_is_refused(api):
    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

    ticket = api.post(SIGN_URL).json()
    form = {**ticket["fields"], "Content-Type": "image/png"}
    from django.core.files.uploadedfile import SimpleUploadedFile

    form["file"] = SimpleUploadedFile("scan.png", png_bytes(), content_type="image/png")
    body = encode_multipart(BOUNDARY, form)
    cut = body[: len(body) - 200]  # the file's tail and the closing boundary never arrive
    response = Client().generic(
        "POST",
        path_and_query(ticket["url"]),
        b"",
        CONTENT_TYPE=MULTIPART_CONTENT,
        CONTENT_LENGTH=str(len(body)),
        **{"wsgi.input": io.BytesIO(cut)},
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "The upload was cut off; upload it again."}
    assert Job.objects.get(pk=ticket["job_id"]).status == JobStatus.AWAITING_UPLOAD
    assert _stored(ticket["key_prefix"]) == []
    whole = Client().generic(
        "POST", path_and_query(ticket["url"]), body, content_type=MULTIPART_CONTENT, CONTENT_LENGTH=str(len(body))
    )
    assert whole.status_code == 200, whole.content
