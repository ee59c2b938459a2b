"""The upload page's duplicate check (issue 18): one read-only query, scoped to the account, by SHA-256 (as the
worker records it) or, for a job without a recorded hash, by name and size; nothing spent by asking."""

from __future__ import annotations

import hashlib

import pytest

from accounts.models import MonthlyUsage
from devtools.samples import png_bytes
from ocrjobs import services
from ocrjobs.duplicates import upload_duplicates
from ocrjobs.models import Job
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
URL = "/upload/duplicates"
DATA = png_bytes(["Duplicate me"])
DIGEST = hashlib.sha256(DATA).hexdigest()
SIZE = len(DATA)


def _uploaded(user, *, mode="ocr", name="scan.png", data=DATA, hashed=True) -> Job:
    ticket = services.job_create(user=user, mode=mode, filename=name, content_type="", base_url="http://t/")
    services.job_upload_receive(job_id=ticket.job.id, filename=name, data=data)
    if hashed:  # what the worker records when it reads the upload (ocrjobs.shortcuts.job_reuse_whole)
        Job.objects.filter(pk=ticket.job.id).update(source_sha256=hashlib.sha256(data).hexdigest())
    return Job.objects.get(pk=ticket.job.id)


def _ask(client, *, sha256=DIGEST, filename="renamed.png", size=SIZE, modes=("ocr",)):
    return client.get(URL, {"sha256": sha256, "filename": filename, "size": size, "mode": list(modes)})


def test_the_same_bytes_in_the_same_mode_are_found_whatever_the_name(client, me):
    job = _uploaded(me)
    response = _ask(client, modes=("ocr", "document"))
    assert response.status_code == 200
    found = response.json()["duplicates"]
    assert list(found) == ["ocr"]  # the other mode has no earlier job: it uploads as usual
    assert found["ocr"]["job_id"] == str(job.id)
    assert found["ocr"]["job_url"] == f"/jobs/{job.id}/"
    assert found["ocr"]["filename"] == "scan.png"
    assert found["ocr"]["created_at"] == job.created_at.isoformat()


def test_the_newest_earlier_job_is_named(client, me):
    _uploaded(me)
    newer = _uploaded(me, name="again.png")
    assert _ask(client).json()["duplicates"]["ocr"]["job_id"] == str(newer.id)


def test_other_bytes_another_mode_or_another_account_are_no_duplicate(client, me):
    _uploaded(UserFactory())  # someone else's identical file tells me nothing
    _uploaded(me, mode="document")
    _uploaded(me, data=png_bytes(["Something else"]), name="other.png")
    assert _ask(client).json() == {"duplicates": {}}


def test_a_job_not_hashed_yet_matches_by_name_and_size_only(client, me):
    queued = _uploaded(me, hashed=False)
    assert _ask(client, sha256="", filename="scan.png").json()["duplicates"]["ocr"]["job_id"] == str(queued.id)
    assert _ask(client, filename="scan.png").json()["duplicates"]["ocr"]["job_id"] == str(queued.id)
    assert _ask(client, sha256="", filename="scan.png", size=len(DATA) + 1).json() == {"duplicates": {}}
    assert _ask(client, sha256="", filename="other.png").json() == {"duplicates": {}}


def test_a_job_whose_file_never_arrived_is_no_duplicate(client, me):
    services.job_create(user=me, mode="ocr", filename="renamed.png", content_type="", base_url="http://t/")
    assert _ask(client, sha256="").json() == {"duplicates": {}}


def test_asking_spends_nothing_and_is_one_query(me, django_assert_num_queries):
    _uploaded(me)
    used = MonthlyUsage.objects.get(user=me).used
    jobs = Job.objects.count()
    with django_assert_num_queries(1):
        assert set(upload_duplicates(user=me, sha256=DIGEST, filename="x", size=1, modes=["ocr", "table"])) == {"ocr"}
    assert MonthlyUsage.objects.get(user=me).used == used
    assert Job.objects.count() == jobs


@pytest.mark.parametrize(
    "params",
    [
        {"sha256": "zz" * 32, "mode": "ocr"},
        {"sha256": DIGEST[:-1], "mode": "ocr"},
        {"sha256": DIGEST},
        {"sha256": DIGEST, "mode": [f"m{i}" for i in range(21)]},
    ],
)
def test_malformed_questions_get_a_clear_400(client, me, params):
    response = client.get(URL, params)
    assert response.status_code == 400
    assert response.json()["error"]


def test_it_needs_a_login(client):
    response = client.get(URL, {"sha256": DIGEST, "mode": "ocr"})
    assert response.status_code == 302


@pytest.mark.parametrize("size", ["\u00b2", "\u0663", "9" * 5000, "-1", "1e3"])
def test_a_size_that_is_not_plain_ascii_digits_is_ignored_not_a_500(client, me, size):
    _uploaded(me)
    response = _ask(client, filename="scan.png", size=size)
    assert response.status_code == 200
