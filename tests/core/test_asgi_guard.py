"""The body guard in front of Django (core/asgi_guard.py), in-process with a recording application: bodies past
the cap and bodies that stop arriving are refused in the API's format, and the application sees a disconnect."""

from __future__ import annotations

import asyncio
import json

import pytest

from core.asgi_guard import RequestBodyGuard


class Recorder:
    """An ASGI application that reads the whole body, as Django's handler does, then answers 200."""

    def __init__(self) -> None:
        self.called = False
        self.messages: list[dict] = []

    async def __call__(self, scope, receive, send) -> None:
        self.called = True
        while True:
            message = await receive()
            self.messages.append(message)
            if message["type"] == "http.disconnect":
                return  # Django: RequestAborted, no answer
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def _scope(path: str, headers: list[tuple[bytes, bytes]] = ()) -> dict:
    return {"type": "http", "method": "POST", "path": path, "headers": list(headers)}


def _run(guard, scope, chunks, *, then_stall: bool = False):
    """Feed `chunks` as the body (the last one ends it unless `then_stall`: then nothing more ever comes)."""
    sent: list[dict] = []

    async def main() -> None:
        queue = [
            {"type": "http.request", "body": c, "more_body": then_stall or i < len(chunks) - 1}
            for i, c in enumerate(chunks)
        ]
        never = asyncio.Event()

        async def receive():
            if queue:
                return queue.pop(0)
            await never.wait()  # a client that sends nothing more
            raise AssertionError("unreachable")

        async def send(message):
            sent.append(message)

        await asyncio.wait_for(guard(scope, receive, send), timeout=30)  # bounds a hang only

    asyncio.run(main())
    return sent


def _answer(sent: list[dict]) -> tuple[int, dict, dict]:
    start = sent[0]
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, json.loads(b"".join(m.get("body", b"") for m in sent[1:]))


def test_a_complete_body_within_the_cap_reaches_the_application_unchanged():
    app = Recorder()
    guard = RequestBodyGuard(app, max_body_bytes=10, body_timeout_s=30, min_rate=1)
    sent = _run(guard, _scope("/api/v1/x"), [b"12345", b"67890"])
    assert [m["body"] for m in app.messages] == [b"12345", b"67890"]
    assert sent[0]["status"] == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/upload/signed-url", {"detail": "The request body is larger than 10 bytes."}),
        ("/storage/upload/x", {"detail": "The request body is larger than 10 bytes."}),
        ("/v1/ocr", {"error": {"message": "The request body is larger than 10 bytes.",
                               "type": "invalid_request_error", "param": None, "code": "image_too_large"}}),
    ],
)  # fmt: skip
def test_a_declared_length_past_the_cap_is_refused_without_calling_the_application(path, body):
    app = Recorder()
    guard = RequestBodyGuard(app, max_body_bytes=10, body_timeout_s=30, min_rate=1)
    sent = _run(guard, _scope(path, [(b"content-length", b"11")]), [b"x" * 11])
    assert _answer(sent) == (413, {"content-type": "application/json", "content-length": str(len(json.dumps(body))),
                                   "connection": "close"}, body)  # fmt: skip
    assert app.called is False


def test_a_body_that_grows_past_the_cap_is_cut_there():
    app = Recorder()
    guard = RequestBodyGuard(app, max_body_bytes=10, body_timeout_s=30, min_rate=1)
    sent = _run(guard, _scope("/v1/ocr"), [b"x" * 6, b"x" * 6, b"x" * 6])
    assert [m["type"] for m in app.messages] == ["http.request", "http.disconnect"]  # the third chunk never read
    status, headers, body = _answer(sent)
    assert (status, headers["connection"], body["error"]["code"]) == (413, "close", "image_too_large")


def test_a_body_that_stops_arriving_gets_408():
    app = Recorder()
    guard = RequestBodyGuard(app, max_body_bytes=1000, body_timeout_s=0.2, min_rate=1000)
    sent = _run(guard, _scope("/api/v1/upload/signed-url"), [b"{"], then_stall=True)
    assert app.messages[-1] == {"type": "http.disconnect"}
    assert _answer(sent)[0::2] == (408, {"detail": "The request body came too slowly."})


def test_an_answer_the_application_already_started_is_not_followed_by_another():
    async def early(scope, receive, send):  # answers before reading (a 413 from a view), then reads on
        await send({"type": "http.response.start", "status": 413, "headers": []})
        await send({"type": "http.response.body", "body": b"no"})
        await receive()
        await receive()

    guard = RequestBodyGuard(early, max_body_bytes=1000, body_timeout_s=0.2, min_rate=1000)
    sent = _run(guard, _scope("/api/v1/x"), [b"{"], then_stall=True)
    assert [m.get("status") for m in sent] == [413, None]
