"""Searchable PDF and hOCR through the job API and the dashboard, for jobs the CPU engine really ran."""

import xml.etree.ElementTree as ET

import pypdfium2 as pdfium
import pytest
from django.core.files.storage import default_storage
from django.test import Client

from devtools.samples import pdf_bytes, png_bytes
from inference.searchable import page_words
from ocrjobs import processing
from ocrjobs.models import Job
from ocrjobs.selectors import job_result_document
from storage.keys import artifact_storage_key
from tests.factories import ApiKeyFactory, UserFactory
from tests.helpers import path_and_query

SIGN_URL = "/api/v1/upload/signed-url"


def _run(api, name: str, data: bytes, content_type: str) -> Job:
    ticket = api.post(SIGN_URL, {"filename": name}, format="json").json()
    assert (
        Client().generic("PUT", path_and_query(ticket["upload_url"]), data, content_type=content_type).status_code
        == 200
    )
    return processing.job_run(job_id=ticket["job_id"])


def _download(api, file_path: str, output_format: str) -> bytes:
    body = api.post(f"/api/v1/download/signed-url?file_path={file_path}&output_format={output_format}").json()
    response = Client().get(path_and_query(body["url"]))
    assert response.status_code == 200
    return b"".join(response.streaming_content)


@pytest.mark.parametrize(
    ("name", "data", "content_type", "pages"),
    [
        ("scan.png", png_bytes(["Invoice 2041", "Total due 99.50"]), "image/png", 1),
        ("two.pdf", pdf_bytes([["First page text"], ["Second page text"]]), "application/pdf", 2),
    ],
)
def test_a_completed_job_downloads_as_a_searchable_pdf_whose_text_is_the_result(api, name, data, content_type, pages):
    job = _run(api, name, data, content_type)
    result = job_result_document(job=job)
    pdf = pdfium.PdfDocument(_download(api, job.output_key, "pdf"))
    assert len(pdf) == pages
    for index, page in enumerate(result["pages"]):
        extracted = pdf[index].get_textpage().get_text_range().split()
        assert extracted == [w.text for w in page_words(page)]
        assert extracted  # the engine really read something
    stored = artifact_storage_key(account_id=job.owner_id, output_key=job.output_key, name="searchable.pdf")
    assert default_storage.exists(stored)  # drawn once, kept beside the result


def test_hocr_download_has_each_page_and_word(api):
    job = _run(api, "h.pdf", pdf_bytes([["Alpha beta"], ["Gamma"]]), "application/pdf")
    result = job_result_document(job=job)
    root = ET.fromstring(_download(api, job.output_key, "hocr"))
    ns = {"h": "http://www.w3.org/1999/xhtml"}
    assert len(root.findall(".//h:div[@class='ocr_page']", ns)) == 2
    words = [w.text for w in root.findall(".//h:span[@class='ocrx_word']", ns)]
    assert words == [w.text for p in result["pages"] for w in page_words(p)]


def test_a_bad_output_format_is_a_400_and_stores_nothing(api):
    job = _run(api, "b.png", png_bytes(["x"]), "image/png")
    response = api.post(f"/api/v1/download/signed-url?file_path={job.output_key}&output_format=docx")
    assert response.status_code == 400
    assert "output_format must be one of json, pdf, hocr" in response.json()["detail"]
    for name in ("searchable.pdf", "result.hocr", "docx"):
        assert not default_storage.exists(
            artifact_storage_key(account_id=job.owner_id, output_key=job.output_key, name=name)
        )


def test_another_account_cannot_draw_my_pdf(api, client):
    job = _run(api, "mine.png", png_bytes(["mine"]), "image/png")
    _, raw = ApiKeyFactory.create_with_raw(user=UserFactory())
    response = client.post(
        f"/api/v1/download/signed-url?file_path={job.output_key}&output_format=pdf", HTTP_X_API_KEY=raw
    )
    assert response.status_code == 404
    assert not default_storage.exists(
        artifact_storage_key(account_id=job.owner_id, output_key=job.output_key, name="searchable.pdf")
    )


def test_the_viewer_offers_and_serves_both(api, client, user):
    job = _run(api, "v.png", png_bytes(["Viewer text"]), "image/png")
    client.force_login(user)
    page = client.get(f"/jobs/{job.id}/").content.decode()
    assert f"/jobs/{job.id}/download/pdf" in page
    assert f"/jobs/{job.id}/download/hocr" in page
    pdf = client.get(f"/jobs/{job.id}/download/pdf")
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"] == 'attachment; filename="v.pdf"'
    assert b"".join(pdf.streaming_content).startswith(b"%PDF-")
    hocr = client.get(f"/jobs/{job.id}/download/hocr")
    assert b"ocrx_word" in b"".join(hocr.streaming_content)
    other = Client()
    other.force_login(UserFactory())
    assert other.get(f"/jobs/{job.id}/download/pdf").status_code == 404
