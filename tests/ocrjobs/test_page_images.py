"""The data path (issue 14, item 3): the upload inspected once and kept on the row, read once per job, pages
prepared once in the worker and stored for fanned-out page tasks and the viewer, annotated images drawn in the
worker, web views that only stream, and the local upload written outside the transaction."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import connection
from django.test import Client

from core.errors import Conflict
from devtools.pdfgen import PROSE, build_pdf
from devtools.samples import pdf_bytes, png_bytes
from ocrjobs import page_images, processing, services
from ocrjobs.models import Job, JobPage, JobStatus
from ocrjobs.selectors import job_result_document
from storage.keys import upload_key_prefix

SIGN_URL = "/api/v1/upload/signed-url"
SCANS = build_pdf([("scan", PROSE), ("scan", PROSE[:2]), ("scan", PROSE[1:])])


@pytest.fixture
def opened(monkeypatch):
    """Every storage key opened for reading, in order."""
    names: list[str] = []
    original = FileSystemStorage._open

    def counting(self, name, mode="rb"):
        names.append(name)
        return original(self, name, mode)

    monkeypatch.setattr(FileSystemStorage, "_open", counting)
    return names


def _upload(api, name: str, data: bytes, content_type: str, *, mode: str = "ocr", **extra) -> str:
    ticket = api.post(f"{SIGN_URL}?mode={mode}", {"filename": name, **extra}, format="json").json()
    parts = urlsplit(ticket["upload_url"])
    put = Client().generic("PUT", f"{parts.path}?{parts.query}", data, content_type=content_type)
    assert put.status_code == 200, put.content
    return ticket["job_id"]


def _run_fanned_out(job_id: str) -> Job:
    processing.job_run(job_id=job_id)
    job = Job.objects.get(pk=job_id)
    for number in range(1, job.page_count + 1):  # the page tasks job_run enqueued, run here
        processing.job_page_run(job_id=job.pk, page=number)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error
    return job


def test_the_upload_is_inspected_once_and_kept_on_the_row(api, monkeypatch):
    job_id = _upload(api, "two.pdf", pdf_bytes([["Page one"], ["Page two"]]), "application/pdf", pages="2")
    job = Job.objects.get(pk=job_id)
    assert (job.source_kind, job.source_pages, job.page_count) == ("pdf", 2, 2)

    def refuse(*args, **kwargs):
        raise AssertionError("the upload was inspected again")

    monkeypatch.setattr(page_images, "inspect_document", refuse)
    processing.job_run(job_id=job_id)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error
    assert (job.source_pages, job.page_count) == (2, 1)  # the document's pages; the pages asked for
    assert [p["page"] for p in job_result_document(job=job)["pages"]] == [2]


def test_a_fanned_out_pdf_reads_its_upload_once_and_each_page_image_once(api, vllm, opened):
    job_id = _upload(api, "scans.pdf", SCANS, "application/pdf")
    job = _run_fanned_out(job_id)
    assert opened.count(job.upload_key) == 1
    for number in (1, 2, 3):
        assert opened.count(page_images.page_image_key(job=job, number=number)) == 1
    assert vllm.stats()["received"] == 3
    result = job_result_document(job=job)
    assert [p["page"] for p in result["pages"]] == [1, 2, 3]
    for page in result["pages"]:  # drawn by the worker, beside the result
        key = page_images.annotated_key(job=job, number=page["page"])
        assert default_storage.exists(key)
        assert page["annotated_image"].endswith(f"/page-{page['page']}-annotated.png")


def test_a_text_layer_page_is_answered_before_fanning_out(api, vllm, opened):
    """The text layer needs the upload, which page tasks no longer read: job_run answers it, and only the scan
    goes to a page task and the model."""
    mixed = build_pdf([("digital", PROSE), ("scan", PROSE), ("blank", [])])
    job = _run_fanned_out(_upload(api, "mixed.pdf", mixed, "application/pdf"))
    assert vllm.stats()["received"] == 1
    assert opened.count(job.upload_key) == 1
    assert [p.get("source") for p in job_result_document(job=job)["pages"]] == ["text_layer", None, "blank"]


def test_pages_read_from_their_stored_images_give_the_same_result(api, settings, monkeypatch):
    """A stored page image is the page the engine would have rendered: the CPU engine reads the same words and
    boxes whether the pages fan out (read from storage) or run in one task (rendered in place)."""
    data = pdf_bytes([["Invoice 42 total due"], ["Second page words"]])
    whole = job_result_document(job=processing.job_run(job_id=_upload(api, "a.pdf", data, "application/pdf")))
    monkeypatch.setattr(processing, "pages_fan_out", lambda: True)
    fanned = job_result_document(job=_run_fanned_out(_upload(api, "b.pdf", data, "application/pdf")))
    strip = ("page", "width", "height", "text", "blocks")
    assert [{k: p[k] for k in strip} for p in fanned["pages"]] == [{k: p[k] for k in strip} for p in whole["pages"]]
    assert fanned["extracted_text"] == whole["extracted_text"]


def _no_decoding(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a web view decoded an image")

    monkeypatch.setattr("PIL.Image.open", refuse)


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [("doc.pdf", pdf_bytes([["One"], ["Two"]]), "application/pdf"), ("doc.png", png_bytes(["Hi"]), "image/png")],
    ids=["pdf", "png"],
)
def test_web_views_stream_stored_images_without_decoding(client, me, monkeypatch, name, data, content_type):
    ticket = services.job_create(user=me, mode="ocr", filename=name, content_type=content_type, base_url="http://t/")
    services.job_upload_receive(job_id=ticket.job.id, filename=name, data=data)
    job = processing.job_run(job_id=ticket.job.id)
    _no_decoding(monkeypatch)
    page = client.get(f"/jobs/{job.id}/pages/1.png")
    assert page.status_code == 200
    body = b"".join(page.streaming_content)
    if content_type == "image/png":
        assert body == data  # the upload itself
    else:
        with default_storage.open(page_images.page_image_key(job=job, number=1)) as fh:
            assert body == fh.read()
    annotated = client.get(f"/jobs/{job.id}/files/page-1-annotated.png")
    assert annotated.status_code == 200
    assert b"".join(annotated.streaming_content).startswith(b"\x89PNG")


def test_an_old_job_without_images_gets_a_404_and_a_worker_draws_them_once(
    client, me, monkeypatch, django_capture_on_commit_callbacks
):
    ticket = services.job_create(user=me, mode="ocr", filename="old.pdf", content_type="", base_url="http://t/")
    services.job_upload_receive(job_id=ticket.job.id, filename="old.pdf", data=pdf_bytes([["Old"], ["Job"]]))
    job = processing.job_run(job_id=ticket.job.id)
    for number in (1, 2):  # as a job completed before the worker drew them
        default_storage.delete(page_images.page_image_key(job=job, number=number))
        default_storage.delete(page_images.annotated_key(job=job, number=number))
    sent = []
    monkeypatch.setattr("ocrjobs.dispatch.job_images_draw_send", lambda job_id: sent.append(job_id))
    with django_capture_on_commit_callbacks(execute=True):
        _no_decoding(monkeypatch)
        assert client.get(f"/jobs/{job.id}/pages/2.png").status_code == 404
        assert client.get(f"/jobs/{job.id}/files/page-2-annotated.png").status_code == 404
        monkeypatch.undo()
    assert sent == [str(job.pk)]  # asked once, not once per request
    assert not default_storage.exists(page_images.annotated_key(job=job, number=2))
    assert page_images.job_images_draw(job_id=str(job.pk)) == 2  # what the task runs, in a worker
    assert client.get(f"/jobs/{job.id}/pages/2.png").status_code == 200
    assert client.get(f"/jobs/{job.id}/files/page-2-annotated.png").status_code == 200


def test_the_local_upload_is_written_outside_the_transaction(user, monkeypatch):
    ticket = services.job_create(user=user, mode="ocr", filename="a.png", content_type="image/png", base_url="x")
    depth = len(connection.atomic_blocks)  # pytest-django's own test transaction
    seen = []
    original = FileSystemStorage.save

    def recording(self, name, content, max_length=None):
        seen.append(len(connection.atomic_blocks))
        return original(self, name, content, max_length=max_length)

    monkeypatch.setattr(FileSystemStorage, "save", recording)
    job = services.job_upload_receive(job_id=ticket.job.id, filename="a.png", data=png_bytes(["Hi"]))
    assert seen == [depth]
    assert job.status == JobStatus.QUEUED
    assert default_storage.exists(job.upload_key)


def test_an_upload_that_loses_the_race_is_deleted_again(user, monkeypatch):
    """Two PUTs of one job: the second file, written before its transaction, finds the job queued and is
    removed; the first stays, and the job is unchanged."""
    ticket = services.job_create(user=user, mode="ocr", filename="", content_type="image/png", base_url="x")
    first = services.job_upload_receive(job_id=ticket.job.id, filename="a.png", data=png_bytes(["First"]))
    acceptor = services._upload_acceptor
    monkeypatch.setattr(  # the second PUT passed the first check just before the first one committed
        services, "_upload_acceptor", lambda job_id, lock=False: acceptor(job_id, lock=lock) if lock else first
    )
    with pytest.raises(Conflict):
        services.job_upload_receive(job_id=ticket.job.id, filename="b.png", data=png_bytes(["Second"]))
    _, files = default_storage.listdir(upload_key_prefix(account_id=user.pk, job_id=str(first.pk)))
    assert files == ["a.png"]
    job = Job.objects.get(pk=first.pk)
    assert (job.upload_key, job.status, job.size) == (first.upload_key, JobStatus.QUEUED, first.size)
    assert not JobPage.objects.filter(job=job).exists()
