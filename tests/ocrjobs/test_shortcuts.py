"""Fewer model requests per page: text layers, identical pages and re-uploads, blank pages — jobs run in-process
against the fake vLLM server, counting what reached it; every shortcut off (and force_ocr) sends every page."""

from django.test import Client

from devtools.pdfgen import PROSE, build_pdf
from devtools.samples import png_bytes
from ocrjobs import processing
from ocrjobs.models import Job, JobPage
from ocrjobs.selectors import job_result_document
from tests.factories import ApiKeyFactory, UserFactory
from tests.helpers import path_and_query

SIGN_URL = "/api/v1/upload/signed-url"


def _run(api, name: str, data: bytes, content_type: str, *, mode: str = "ocr", **extra) -> dict:
    ticket = api.post(f"{SIGN_URL}?mode={mode}", {"filename": name, **extra}, format="json").json()
    assert (
        Client().generic("PUT", path_and_query(ticket["upload_url"]), data, content_type=content_type).status_code
        == 200
    )
    processing.job_run(job_id=ticket["job_id"])  # a PDF fans out into page tasks: run each here
    job = Job.objects.get(pk=ticket["job_id"])
    for number in range(1, (job.page_count or 1) + 1):
        processing.job_page_run(job_id=job.pk, page=number)
    job.refresh_from_db()
    assert job.status == "completed", job.error
    return job_result_document(job=job)


MIXED = [("digital", PROSE), ("scan", PROSE), ("blank", []), ("digital", [*PROSE[:2], "Page four of four."])]


def test_a_mixed_pdf_sends_only_its_scan_to_the_model(api, vllm):
    result = _run(api, "mixed.pdf", build_pdf(MIXED), "application/pdf")
    assert vllm.stats()["received"] == 1
    assert [p.get("source") for p in result["pages"]] == ["text_layer", None, "blank", "text_layer"]
    assert result["pages"][0]["text"].splitlines() == PROSE
    assert result["pages"][1]["text"].startswith("Quarterly Report 2025")  # the model's answer
    assert result["pages"][2]["text"] == ""
    assert result["pages"][2]["blocks"] == []
    assert result["usage"]["total_tokens"] == result["pages"][1]["usage"]["total_tokens"] > 0
    assert result["extracted_text"].startswith(PROSE[0])


def test_force_ocr_and_other_modes_send_every_page_with_ink(api, vllm):
    _run(api, "forced.pdf", build_pdf(MIXED), "application/pdf", force_ocr=True)
    assert vllm.stats()["received"] == 3  # the blank page still needs no model
    vllm.reset()
    _run(api, "doc.pdf", build_pdf(MIXED), "application/pdf", mode="document")
    assert vllm.stats()["received"] == 3  # the text layer answers `ocr` mode only


def test_identical_pages_and_re_uploads_reuse_results_within_one_account(api, vllm):
    first = _run(api, "a.png", png_bytes(["Invoice 77"]), "image/png")
    assert vllm.stats()["received"] == 1
    again = _run(api, "b.png", png_bytes(["Invoice 77"]), "image/png")  # an identical re-upload
    assert vllm.stats()["received"] == 1
    assert again["pages"][0]["source"] == "reuse"
    assert again["pages"][0]["reused_from"] == {"job_id": first["job_id"], "page": 1}
    assert again["pages"][0]["text"] == first["pages"][0]["text"]
    assert again["usage"]["total_tokens"] == 0
    _run(api, "b.png", png_bytes(["Invoice 77"]), "image/png", mode="document")  # another mode: the model
    assert vllm.stats()["received"] == 2
    _run(api, "c.png", png_bytes(["Invoice 77"]), "image/png", force_ocr=True)
    assert vllm.stats()["received"] == 3
    other = UserFactory()
    _, raw = ApiKeyFactory.create_with_raw(user=other)
    from rest_framework.test import APIClient

    stranger = APIClient()
    stranger.credentials(HTTP_X_API_KEY=raw)
    theirs = _run(stranger, "a.png", png_bytes(["Invoice 77"]), "image/png")
    assert vllm.stats()["received"] == 4  # never across accounts
    assert "source" not in theirs["pages"][0]


def test_a_page_inside_a_new_pdf_reuses_an_identical_page_seen_before(api, vllm):
    scan = ("scan", ["Identical scanned page"])
    _run(api, "one.pdf", build_pdf([scan, ("scan", ["First other page"])]), "application/pdf")
    assert vllm.stats()["received"] == 2
    result = _run(api, "two.pdf", build_pdf([("scan", ["Second other page"]), scan]), "application/pdf")
    assert vllm.stats()["received"] == 3
    assert [p.get("source") for p in result["pages"]] == [None, "reuse"]
    assert result["pages"][1]["reused_from"]["page"] == 1
    assert JobPage.objects.exclude(reuse_key="").count() == 4


def test_every_shortcut_off_sends_every_page(api, vllm, settings):
    settings.DEEPREAD_SKIP_BLANK = settings.DEEPREAD_TEXT_LAYER = settings.DEEPREAD_REUSE_RESULTS = False
    _run(api, "mixed.pdf", build_pdf(MIXED), "application/pdf")
    _run(api, "mixed.pdf", build_pdf(MIXED), "application/pdf")
    assert vllm.stats()["received"] == 8


def test_a_document_figure_is_copied_when_its_page_is_reused(api, vllm):
    first = _run(api, "fig.png", png_bytes(["Figure page"]), "image/png", mode="document")
    again = _run(api, "fig2.png", png_bytes(["Figure page"]), "image/png", mode="document")
    assert vllm.stats()["received"] == 1
    (figure,) = [b for b in again["pages"][0]["blocks"] if b.get("image")]
    assert figure["image"] == "document/fig2/page-1-image-1.png"
    assert "](page-1-image-1.png)" in again["pages"][0]["text"]
    signed = api.post(f"/api/v1/download/signed-url?file_path={figure['image']}")
    assert signed.status_code == 200
    assert first["pages"][0]["blocks"] != again["pages"][0]["blocks"]  # its own copy, not a link to the first job
