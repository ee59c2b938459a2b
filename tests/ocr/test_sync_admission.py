"""Admission control for `POST /v1/ocr` (issue 13 item 3), with the engine held by events, never by timers:
a full queue is refused at once, a wait that runs out is refused, neither spends anything; the ASGI layer refuses
before Django gives the request a thread; an engine process that dies mid-call gives the request back; a web
process that dies mid-call leaves a hold that the sweep refunds."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
import signal
import threading

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.utils import timezone

from accounts.models import QuotaHold
from accounts.quota_holds import quota_hold_create, quota_hold_release, quota_holds_sweep
from accounts.services import quota_consume
from devtools.samples import png_bytes
from inference.procpool import EngineProcessPool
from ocr import admission
from ocr import services as ocr_services
from ocr.admission import EngineAdmission, EngineGate
from ocrjobs.models import Job
from tests.factories import ApiKeyFactory, UserFactory
from tests.helpers import requests_used, wait_until
from tests.ocr.held_engines import EventEngine

BOUND_S = 60  # bounds a hang only


def _post(key: str):
    return Client().post(
        "/v1/ocr",
        {"image": base64.b64encode(png_bytes()).decode(), "image_type": "base64"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


@pytest.fixture
def gate_with(settings):
    """The process's gate, made for these limits (slots, queue, wait in seconds) through the settings."""

    def make(*, slots: int, queue: int, wait_s: float) -> EngineGate:
        settings.DEEPREAD_SYNC_CONCURRENCY, settings.DEEPREAD_SYNC_QUEUE = slots, queue
        settings.DEEPREAD_SYNC_QUEUE_TIMEOUT_S = wait_s
        gate = admission.engine_gate()
        assert (gate.slots, gate.queue, gate.wait_s, gate.admitted) == (slots, queue, wait_s, 0)
        return gate

    return make


@pytest.fixture
def held(monkeypatch):
    engine = EventEngine()
    monkeypatch.setattr(ocr_services, "_runner", ocr_services.InThreadRunner(engine))
    yield engine
    engine.release.set()


@pytest.fixture
def caller(transactional_db):
    user = UserFactory()
    return user, ApiKeyFactory.create_with_raw(user=user)[1]


def _busy(response) -> None:
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "2"
    assert response.json() == {"error": {"message": "The OCR engine is busy; retry shortly.", "type": "server_error",
                                         "param": None, "code": "engine_unavailable"}}  # fmt: skip


def test_a_full_queue_is_refused_at_once_and_spends_nothing(monkeypatch, held, caller, gate_with):
    user, key = caller
    gate = gate_with(slots=1, queue=1, wait_s=BOUND_S)
    answers: dict[str, object] = {}
    first = threading.Thread(target=lambda: answers.setdefault("first", _post(key)))
    first.start()
    assert held.entered.acquire(timeout=BOUND_S)  # the first call runs the engine
    second = threading.Thread(target=lambda: answers.setdefault("second", _post(key)))
    second.start()
    wait_until(lambda: gate.admitted == 2, "the second call waits in the queue", bound_s=BOUND_S)

    _busy(_post(key))  # the third: no slot, no room to wait
    assert (requests_used(user), QuotaHold.objects.count(), Job.objects.count()) == (
        1,
        1,
        0,
    )  # only the running call spent

    held.release.set()
    first.join(BOUND_S)
    second.join(BOUND_S)
    assert [answers[n].status_code for n in ("first", "second")] == [200, 200]
    assert answers["second"].json()["choices"][0]["text"] == "held text"
    assert (requests_used(user), QuotaHold.objects.count(), gate.admitted, held.calls) == (2, 0, 0, 2)


def test_a_wait_for_a_slot_that_runs_out_is_refused_and_spends_nothing(monkeypatch, held, caller, gate_with):
    user, key = caller
    gate = gate_with(slots=1, queue=1, wait_s=0.2)
    first = threading.Thread(target=_post, args=(key,))
    first.start()
    assert held.entered.acquire(timeout=BOUND_S)
    _busy(_post(key))  # waited its 0.2 s behind a call that cannot end before the test lets it
    assert (requests_used(user), QuotaHold.objects.count(), gate.admitted) == (1, 1, 1)
    held.release.set()
    first.join(BOUND_S)
    assert (requests_used(user), QuotaHold.objects.count(), gate.admitted, held.calls) == (1, 0, 0, 1)


def _asgi(app, method: str, path: str) -> list[dict]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app({"type": "http", "method": method, "path": path, "headers": []}, receive, send))
    return sent


def test_the_asgi_layer_refuses_before_django_and_hands_its_ticket_to_the_view(monkeypatch, gate_with):
    gate = gate_with(slots=1, queue=0, wait_s=0.2)
    seen: list[tuple] = []

    def view() -> None:  # what the view's thread sees: the ticket, counted once
        with gate.admitted_call():
            seen.append((admission._ticket.get(), gate.admitted))

    async def django(scope, receive, send):
        if scope["path"] == "/v1/ocr":
            await sync_to_async(view)()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    app = EngineAdmission(django)
    assert _asgi(app, "POST", "/v1/ocr")[0]["status"] == 200
    (ticket, admitted), = seen  # fmt: skip
    assert (ticket.gate, admitted, gate.admitted) == (gate, 1, 0)

    taken = gate.try_admit()  # the one place is taken: the next call is refused on the event loop
    refused = _asgi(app, "POST", "/v1/ocr")
    headers = dict(refused[0]["headers"])
    assert (refused[0]["status"], headers[b"retry-after"], headers[b"connection"]) == (503, b"2", b"close")
    assert b'"code": "engine_unavailable"' in refused[1]["body"]
    assert len(seen) == 1  # Django never saw it
    assert _asgi(app, "GET", "/v1/models")[0]["status"] == 200  # other routes pass
    taken.release()
    assert gate.admitted == 0


def test_an_engine_process_that_dies_mid_call_gives_the_request_back(monkeypatch, caller, tmp_path, gate_with):
    user, key = caller
    gate_with(slots=1, queue=0, wait_s=5)
    pool = EngineProcessPool("tests.ocr.held_engines:FileHeldEngine", {"folder": str(tmp_path)}, size=1)
    monkeypatch.setattr(ocr_services, "_runner", pool)
    try:
        assert pool.wait_ready(timeout=120)
        (pid,) = pool.child_pids()

        def kill_when_entered() -> None:
            wait_until(
                lambda: (tmp_path / f"entered-{pid}").exists(), "the call reaches the engine process", bound_s=BOUND_S
            )
            os.kill(pid, signal.SIGKILL)

        killer = threading.Thread(target=kill_when_entered)
        killer.start()
        response = _post(key)
        killer.join(BOUND_S)
        assert response.status_code == 503, response.content
        assert response.json()["error"]["code"] == "engine_unavailable"
        assert response["Retry-After"] == "10"
        assert (requests_used(user), QuotaHold.objects.count(), Job.objects.count()) == (0, 0, 0)  # given back

        (tmp_path / "release").write_text("")  # the replaced pool serves the next call
        response = _post(key)
        assert response.status_code == 200, response.content
        assert response.json()["choices"][0]["text"] == "file text"
        assert pid not in pool.child_pids()
        assert (requests_used(user), QuotaHold.objects.count()) == (1, 0)
    finally:
        pool.shutdown()


def test_a_hold_left_by_a_dead_web_process_is_refunded_once_by_the_sweep(db, settings):
    user = UserFactory()
    now = timezone.now()
    quota_consume(user=user, now=now)
    hold = quota_hold_create(user=user, now=now)
    assert hold.expires_at == now + dt.timedelta(seconds=settings.DEEPREAD_SYNC_HOLD_S)

    assert quota_holds_sweep(now=hold.expires_at) == 0  # not past its expiry: the call may still be running
    assert (requests_used(user), QuotaHold.objects.count()) == (1, 1)
    assert quota_holds_sweep(now=hold.expires_at + dt.timedelta(seconds=1)) == 1
    assert (requests_used(user), QuotaHold.objects.count()) == (0, 0)
    # the call ends after all (it outlived its hold): nothing is given back twice
    assert quota_hold_release(hold_id=hold.pk, refund=True) is False
    assert quota_holds_sweep(now=hold.expires_at + dt.timedelta(seconds=1)) == 0
    assert requests_used(user) == 0
