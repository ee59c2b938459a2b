"""A job deleted or cancelled while a page is being recognised leaves nothing in storage, and a deleted job's
result name is not handed to another job while download URLs signed for it may still be valid (found by an
attack on the merged stack: a later job served the deleted document's page images and result)."""

from __future__ import annotations

import threading

import pytest
from django.core.files.storage import default_storage

from ocrjobs import control, processing
from ocrjobs.completion import job_fail
from ocrjobs.models import Job
from storage.keys import artifact_storage_key, output_key_release, released_output_key
from tests.helpers import requests_used
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
    errors: list[BaseException] = []

    def run() -> None:
        try:
            processing.job_run(job_id=job.pk)
        except BaseException as exc:
            errors.append(exc)

    runner = threading.Thread(target=run)
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
    assert errors == []  # the worker's run ends quietly: the job ended, nothing failed
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


def test_failing_a_job_deleted_meanwhile_changes_nothing_and_raises_nothing(db):
    job = _job()
    owner, job_id = job.owner, job.pk
    used = requests_used(owner)
    job.delete()
    assert job_fail(job_id=job_id, message="The engine gave up.") is None
    assert requests_used(owner) == used  # no refund for a job that is gone
    assert not Job.objects.filter(pk=job_id).exists()
