"""The job event stream on the ASGI path, in-process (the WSGI path is read by a real SSE client against gunicorn
in tests/e2e/test_job_control_live.py)."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from devtools.samples import pdf_bytes
from ocrjobs import completion, processing, services
from ocrjobs.models import Job, JobPage, JobStatus
from tests.factories import ApiKeyFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _page(number: int) -> dict:
    return {"page": number, "width": 1, "height": 1, "text": f"text of page {number}", "blocks": [], "model": "m",
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}  # fmt: skip


def _processing_job():
    user = UserFactory()
    _, raw = ApiKeyFactory.create_with_raw(user=user)
    ticket = services.job_create(user=user, mode="ocr", filename="two.pdf", content_type="", base_url="http://t/")
    services.job_upload_receive(job_id=ticket.job.id, filename="two.pdf", data=pdf_bytes([["a"], ["b"]]))
    assert services.job_claim(job_id=ticket.job.id)
    Job.objects.filter(pk=ticket.job.id).update(page_count=2)
    return ticket.job.id, raw


def _parse(chunks: list[bytes]) -> list[tuple[str, str, dict]]:
    events = []
    for block in b"".join(chunks).decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in fields:
            events.append((fields.get("id", ""), fields["event"], json.loads(fields["data"])))
    return events


async def _read(response, until: int) -> list[bytes]:
    chunks = []
    async for chunk in response.streaming_content:
        chunks.append(chunk)
        if len(_parse(chunks)) >= until:
            break
    return chunks


def test_the_asgi_stream_sends_pages_as_they_are_stored_and_ends_with_the_status(settings):
    settings.DEEPREAD_SSE_POLL_S = 0.05
    job_id, raw = _processing_job()
    processing.job_page_store(job_id=job_id, number=1, result=_page(1))

    async def scenario():
        client = AsyncClient()
        response = await client.get(f"/api/v1/jobs/{job_id}/events", headers={"X-API-Key": raw})
        assert response.status_code == 200
        assert response["Content-Type"] == "text/event-stream"
        assert response.is_async  # an async iterator: no thread is held between polls
        first = _parse(await _read(response, until=2))
        await sync_to_async(processing.job_page_store)(job_id=job_id, number=2, result=_page(2))
        job = await sync_to_async(Job.objects.get)(pk=job_id)
        await sync_to_async(completion.job_complete)(job=job)
        rest = []
        async for chunk in response.streaming_content:
            rest.append(chunk)
        return first, _parse(rest)

    first, rest = asyncio.run(scenario())
    assert first == [
        ("1", "page_completed", {"page": 1, "pages_done": 1, "pages": 2, "text": "text of page 1"}),
        ("1", "status", {"status": "processing", "pages": 2, "pages_done": 1, "error": None}),
    ]
    assert rest[0][:2] == ("2", "page_completed")
    assert rest[0][2]["text"] == "text of page 2"
    assert rest[-1] == ("2", "status", {"status": "completed", "pages": 2, "pages_done": 2, "error": None})
    assert Job.objects.get(pk=job_id).status == JobStatus.COMPLETED


def test_last_event_id_resumes_after_the_pages_already_seen_and_others_get_404():
    job_id, raw = _processing_job()
    for n in (1, 2):
        processing.job_page_store(job_id=job_id, number=n, result=_page(n))
    completion.job_complete(job=Job.objects.get(pk=job_id))
    _, stranger = ApiKeyFactory.create_with_raw(user=UserFactory())

    async def scenario():
        client = AsyncClient()
        resumed = await client.get(f"/api/v1/jobs/{job_id}/events", headers={"X-API-Key": raw, "Last-Event-ID": "1"})
        events = _parse([chunk async for chunk in resumed.streaming_content])
        other = await client.get(f"/api/v1/jobs/{job_id}/events", headers={"X-API-Key": stranger})
        bad_key = await client.get(f"/api/v1/jobs/{job_id}/events", headers={"X-API-Key": "ocr_nope"})
        return events, other, bad_key

    events, other, bad_key = asyncio.run(scenario())
    assert [(e[0], e[1], e[2].get("page")) for e in events] == [("2", "page_completed", 2), ("2", "status", None)]
    assert (other.status_code, json.loads(other.content)) == (404, {"detail": "No such job."})
    assert bad_key.status_code == 401
    assert JobPage.objects.filter(job_id=job_id).count() == 2


@pytest.mark.parametrize("last_id", ["\u00b2", "\u0663", "9" * 5000])
def test_a_last_event_id_that_is_not_plain_digits_starts_from_the_beginning(last_id):
    job_id, raw = _processing_job()
    processing.job_page_store(job_id=job_id, number=1, result=_page(1))
    completion.job_complete(job=Job.objects.get(pk=job_id))

    async def scenario():
        response = await AsyncClient().get(
            f"/api/v1/jobs/{job_id}/events", {"last_event_id": last_id}, headers={"X-API-Key": raw}
        )
        return response.status_code, _parse([chunk async for chunk in response.streaming_content])

    status, events = asyncio.run(scenario())
    assert status == 200
    assert [(e[1], e[2].get("page")) for e in events if e[1] == "page_completed"] == [("page_completed", 1)]
    assert [e[2]["pages_done"] for e in events if e[1] == "status"] == [1]


def test_a_stream_counts_against_the_keys_burst_limit(settings, tmp_path):
    settings.DEEPREAD_RATELIMIT_STORE = str(tmp_path / "ratelimit.sqlite3")
    settings.DEEPREAD_BURST_PER_MINUTE = 2
    job_id, raw = _processing_job()
    processing.job_page_store(job_id=job_id, number=1, result=_page(1))
    processing.job_page_store(job_id=job_id, number=2, result=_page(2))
    completion.job_complete(job=Job.objects.get(pk=job_id))

    async def scenario():
        client, codes, retry_after = AsyncClient(), [], None
        for _ in range(3):
            response = await client.get(f"/api/v1/jobs/{job_id}/events", headers={"X-API-Key": raw})
            codes.append(response.status_code)
            if response.status_code == 200:
                [chunk async for chunk in response.streaming_content]
            else:
                retry_after = response["Retry-After"]
        return codes, retry_after

    codes, retry_after = asyncio.run(scenario())
    assert codes == [200, 200, 429]
    assert 1 <= int(retry_after) <= 60


def test_a_stream_ends_when_its_key_is_revoked(monkeypatch, settings):
    from accounts.models import ApiKey
    from accounts.services import api_key_revoke
    from ocrjobs import events

    monkeypatch.setattr(events, "KEY_RECHECK_S", 0.0)
    settings.DEEPREAD_SSE_POLL_S = 0.05
    job_id, raw = _processing_job()  # never completes: only the revocation can end the stream
    key = ApiKey.objects.select_related("user").get(user=Job.objects.get(pk=job_id).owner)
    owner = key.user

    async def scenario():
        response = await AsyncClient().get(f"/api/v1/jobs/{job_id}/events", headers={"X-API-Key": raw})
        chunks = response.streaming_content
        first = await chunks.__anext__()
        await sync_to_async(api_key_revoke)(user=owner, key_id=key.pk)
        rest = await asyncio.wait_for(_drain(chunks), timeout=30)
        return first, rest

    async def _drain(chunks):
        return [chunk async for chunk in chunks]

    first, rest = asyncio.run(scenario())
    assert first.startswith(b"retry:")
    assert not [e for e in _parse(rest) if e[1] == "page_completed"]
