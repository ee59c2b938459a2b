"""A job deleted or cancelled while a page is being recognised leaves nothing in storage, and a deleted job's
result name is not handed to another job while download URLs signed for it may still be valid (found by an
attack on the merged stack: a later job served the deleted document's page images and result)."""

from __future__ import annotations

import threading

import pytest
from django.core.files.storage import default_storage

from ocrjobs import control, processing
from ocrjobs.models import Job
from storage.keys import artifact_storage_key, output_key_release, released_output_key
from tests.ocrjobs.test_leases import HANG, _GatedEngine, _job


def _stored_under(prefix: str) -> list[str]:
    found = []

    def walk(folder: str) -> None:
        try:
            dirs, files = default_storage.listdir(folder)
        except FileNotFoundError:
            return
        found.extend(f"{folder}{name}" for name in files)
        for name in dirs:
            walk(f"{folder}{name}/")

    walk(prefix)
    return found


@pytest.mark.parametrize("action", ["delete", "cancel"])
def test_a_job_ended_mid_page_leaves_no_page_files(transactional_db, monkeypatch, settings, action):
    settings.DEEPREAD_JOB_LEASE_S = 30
    job = _job(pages=2)
    engine = _GatedEngine()
    monkeypatch.setattr(processing, "worker_engine", lambda: engine)
    runner = threading.Thread(target=lambda: processing.job_run(job_id=job.pk))
    runner.start()
    assert engine.entered.wait(HANG)
    job.refresh_from_db()
    folder = artifact_storage_key(account_id=job.owner_id, output_key=job.output_key, name="")
    if action == "delete":
        control.job_delete(user=job.owner, job_id=job.pk)
    else:
        control.job_cancel(user=job.owner, job_id=job.pk)
    engine.release.set()
    runner.join(HANG)
    assert not runner.is_alive()
    assert _stored_under(folder) == []
    assert Job.objects.filter(pk=job.pk).exists() is (action == "cancel")


def test_a_deleted_jobs_name_is_not_given_out_again_while_its_urls_live(db, settings):
    job = _job()
    assert released_output_key(account_id=job.owner_id, output_key="ocr/doc.json") is False
    output_key_release(account_id=job.owner_id, output_key="ocr/doc.json")
    assert released_output_key(account_id=job.owner_id, output_key="ocr/doc.json") is True
    assert released_output_key(account_id=job.owner_id + 1, output_key="ocr/doc.json") is False
    from ocrjobs.completion import output_key_ensure

    job.mode, job.filename = "ocr", "doc.pdf"
    assert output_key_ensure(job=job) == "ocr/doc-2.json"
