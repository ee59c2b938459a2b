"""The job list's actions (issue 18): cancel, delete and retry per row and for several picked jobs in one POST;
every id through the logged-in account, a refusal changing nothing."""

from __future__ import annotations

import uuid

import pytest
from django.core.files.storage import default_storage

from devtools.samples import png_bytes
from ocrjobs import bulk, completion, services
from ocrjobs.models import Job, JobPage, JobStatus
from tests.factories import UserFactory
from tests.helpers import requests_used

pytestmark = pytest.mark.django_db
URL = "/jobs/actions"


def _queued(user, name: str = "doc.png") -> Job:
    ticket = services.job_create(user=user, mode="ocr", filename=name, content_type="", base_url="http://t/")
    services.job_upload_receive(job_id=ticket.job.id, filename=name, data=png_bytes(["Hello"]))
    return Job.objects.get(pk=ticket.job.id)


def _failed(user, name: str = "bad.png") -> Job:
    return completion.job_fail(job_id=_queued(user, name).id, message="The engine broke.")


def _completed(user, name: str = "done.png") -> Job:
    job = _queued(user, name)
    assert services.job_claim(job_id=job.id)
    page = {"page": 1, "width": 10, "height": 10, "text": "Hi", "blocks": [], "model": "test-engine",
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}  # fmt: skip
    JobPage.objects.create(job=job, page=1, result=page)
    return completion.job_complete(job=Job.objects.get(pk=job.id))


def _snapshot() -> list[tuple]:
    return sorted(Job.objects.values_list("pk", "status", "owner_id", "refunded"))


def test_the_list_offers_each_row_what_its_state_allows(client, me):
    queued, failed, done = _queued(me, "q.png"), _failed(me, "f.png"), _completed(me, "c.png")
    page = client.get("/jobs/").content.decode()
    rows = {job: page.split(f'id="job-{job.id}"')[1].split("</tr>")[0] for job in (queued, failed, done)}
    assert 'value="cancel"' in rows[queued]
    assert 'value="retry"' not in rows[queued]
    assert 'value="cancel"' not in rows[failed]
    assert 'value="retry"' in rows[failed]
    assert 'value="cancel"' not in rows[done]
    assert 'value="retry"' not in rows[done]
    for job, row in rows.items():
        assert f'name="ids" value="{job.id}"' in row
        assert 'value="delete" data-confirm=' in row
    assert "Delete selected" in page
    assert "Select all on this page" in page


def test_bulk_delete_removes_the_picked_jobs_and_their_files_and_leaves_the_rest(client, me):
    keep, first, second = _completed(me, "keep.png"), _completed(me, "a.png"), _failed(me, "b.png")
    uploads = [first.upload_key, second.upload_key]
    assert all(default_storage.exists(key) for key in uploads)
    response = client.post(
        URL, {"action": "delete", "ids": [first.id, second.id], "next": "/jobs/?status=completed"}, follow=True
    )
    assert response.redirect_chain == [("/jobs/?status=completed", 302)]
    assert b"2 jobs deleted." in response.content
    assert list(Job.objects.values_list("pk", flat=True)) == [keep.pk]
    assert not any(default_storage.exists(key) for key in uploads)
    assert default_storage.exists(keep.upload_key)


def test_bulk_cancel_gives_pending_requests_back_and_skips_ended_jobs(client, me):
    queued, other, done = _queued(me, "q.png"), _queued(me, "r.png"), _completed(me, "c.png")
    assert requests_used(me) == 3
    response = client.post(URL, {"action": "cancel", "ids": [queued.id, other.id, done.id]}, follow=True)
    assert b"2 jobs cancelled; 1 skipped (already ended)." in response.content
    assert Job.objects.get(pk=queued.pk).status == JobStatus.CANCELLED
    assert Job.objects.get(pk=other.pk).status == JobStatus.CANCELLED
    assert Job.objects.get(pk=done.pk).status == JobStatus.COMPLETED
    assert requests_used(me) == 1


def test_bulk_retry_queues_new_jobs_for_failed_ones_only(client, me):
    failed, done = _failed(me), _completed(me)
    before = requests_used(me)
    response = client.post(URL, {"action": "retry", "ids": [failed.id, done.id]}, follow=True)
    assert b"1 job queued again; 1 skipped (not failed or cancelled)." in response.content
    (new,) = Job.objects.filter(retry_of=failed)
    assert (new.status, new.upload_key) == (JobStatus.QUEUED, failed.upload_key)
    assert requests_used(me) == before + 1
    assert not Job.objects.filter(retry_of=done).exists()


@pytest.mark.parametrize("action", ["cancel", "delete", "retry"])
def test_a_row_button_acts_on_its_own_job_only(client, me, action):
    target, picked = _failed(me, "t.png"), _failed(me, "p.png")
    if action == "cancel":
        target, picked = _queued(me, "t2.png"), _queued(me, "p2.png")
    # The row's button submits the list's form, with whatever boxes are ticked: only ?only= counts.
    response = client.post(f"{URL}?only={target.id}", {"action": action, "ids": [picked.id]})
    assert response.status_code == 302
    picked.refresh_from_db()
    assert picked.status in (JobStatus.FAILED, JobStatus.QUEUED)
    assert not Job.objects.filter(retry_of=picked).exists()
    if action == "delete":
        assert not Job.objects.filter(pk=target.pk).exists()
    elif action == "cancel":
        assert Job.objects.get(pk=target.pk).status == JobStatus.CANCELLED
    else:
        assert Job.objects.filter(retry_of=target).count() == 1


@pytest.mark.parametrize("action", ["cancel", "delete", "retry"])
def test_another_accounts_id_refuses_the_whole_selection_and_changes_nothing(client, me, action):
    stranger = UserFactory()
    theirs, mine = _failed(stranger, "theirs.png"), _failed(me, "mine.png")
    queued_theirs, queued_mine = _queued(stranger), _queued(me)
    before, used = _snapshot(), (requests_used(me), requests_used(stranger))
    for ids in ([mine.id, theirs.id], [queued_mine.id, queued_theirs.id], [theirs.id], [mine.id, uuid.uuid4()],
                [mine.id, "not-a-uuid"]):  # fmt: skip
        assert client.post(URL, {"action": action, "ids": ids}).status_code == 404
    assert client.post(f"{URL}?only={theirs.id}", {"action": action}).status_code == 404
    assert _snapshot() == before
    assert (requests_used(me), requests_used(stranger)) == used
    assert default_storage.exists(theirs.upload_key)
    assert default_storage.exists(mine.upload_key)


def test_the_ownership_check_is_one_query_and_a_refusal_writes_nothing(me, django_assert_num_queries):
    stranger = UserFactory()
    ids = [str(_failed(me).id), str(_failed(me).id), str(_failed(stranger).id)]
    with django_assert_num_queries(1), pytest.raises(bulk.NotFound):
        bulk.jobs_bulk_apply(user=me, action="delete", job_ids=ids)
    with django_assert_num_queries(1):
        assert len(bulk.jobs_owned(user=me, job_ids=ids[:2] + ids[:1])) == 2  # duplicates dropped
    with django_assert_num_queries(0), pytest.raises(bulk.NotFound):
        bulk.jobs_owned(user=me, job_ids=["../etc"])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "delete"}, b"Select at least one job."),
        ({"action": "explode", "ids": ["x"]}, b"Unknown action"),
    ],
)
def test_an_empty_selection_or_an_unknown_action_says_so_and_changes_nothing(client, me, data, message):
    _failed(me)
    before = _snapshot()
    response = client.post(URL, data, follow=True)
    assert message in response.content
    assert _snapshot() == before


def test_too_many_ids_are_refused_whole(me):
    ids = [str(_queued(me).id)] + [str(uuid.uuid4()) for _ in range(bulk.MAX_JOBS)]
    before = _snapshot()
    with pytest.raises(bulk.InvalidInput):
        bulk.jobs_bulk_apply(user=me, action="cancel", job_ids=ids)
    assert _snapshot() == before


def test_next_never_leaves_the_job_list(client, me):
    job = _failed(me)
    for target in ("https://evil.example/", "//evil.example/jobs/", "/keys/"):
        response = client.post(URL, {"action": "retry", "ids": [job.id], "next": target})
        assert response["Location"] == "/jobs/"


def test_a_get_or_an_anonymous_post_does_nothing(client):
    owner = UserFactory()
    job = _failed(owner)
    assert client.post(URL, {"action": "delete", "ids": [job.id]}).status_code == 302  # to the log-in page
    client.force_login(owner)
    assert client.get(URL, {"action": "delete", "ids": [job.id]}).status_code == 405
    assert Job.objects.filter(pk=job.pk).exists()
