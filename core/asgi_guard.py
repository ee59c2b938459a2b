"""ASGI middleware in front of Django: a request body must arrive in time and within the size cap.

Django's ASGI handler reads the whole body (spooling it to a temporary file past 2.5 MB) before it calls a view,
so no thread waits on a slow client, but nothing there bounds how long the body may take or how large it may grow.
This layer does, before Django sees a byte:
- size: a `Content-Length` above the cap is refused at once, and a body (chunked or lying about its length) is cut
  the moment it passes the cap: `413`;
- time: the body must be complete within `body_timeout_s` plus one second per `min_rate` bytes received (a slow
  but steady upload goes on, a trickle does not), else `408`. Both answers close the connection;
- completeness: a body that ends short of its `Content-Length` (the client closed its sending side mid-body;
  `deepread.webserver` keeps the connection open for the answer) is refused with `400` before Django sees it, so
  no view takes a cut-off file for a whole one.
The cap may be one number or a function of the path (`core.bodylimit.body_cap`: each route's own cap).
Errors are in the caller's format: OpenAI's `{"error": {...}}` under `/v1/`, `{"detail": ...}` under `/api/` and
`/storage/`, a short HTML page for the dashboard.
"""

from __future__ import annotations

import asyncio
import html
import json
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

DISCONNECT: Message = {"type": "http.disconnect"}


def _is_page(path: str) -> bool:
    return not path.startswith(("/v1/", "/api/", "/storage/"))


def error_body(path: str, status: int, code: str, message: str) -> bytes:
    """An error body in the format of the API (or the dashboard page) the path belongs to."""
    if _is_page(path):
        return f"<!doctype html><title>Refused</title><p>{html.escape(message)}</p>".encode()
    if path.startswith("/v1/"):
        kind = "server_error" if status >= 500 else "invalid_request_error"
        body: dict[str, Any] = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    else:
        body = {"detail": message}
    return json.dumps(body).encode()


async def send_error(
    send: Send, scope: Scope, status: int, code: str, message: str, *, headers: tuple = (), close: bool = True
) -> None:
    """Answer a request that the application never saw (or that gave no answer) with a JSON error."""
    body = error_body(scope.get("path", ""), status, code, message)
    kind = b"text/html; charset=utf-8" if _is_page(scope.get("path", "")) else b"application/json"
    head = [(b"content-type", kind), (b"content-length", str(len(body)).encode()), *headers]
    if close:
        head.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class RequestBodyGuard:
    """Wraps an ASGI application; see the module's docstring. `max_body_bytes` in bytes, `body_timeout_s` in
    seconds, `min_rate` in bytes per second."""

    def __init__(
        self, app: App, *, max_body_bytes: int | Callable[[str], int], body_timeout_s: float, min_rate: float
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.min_rate = min_rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self._cap(scope)
        declared = _content_length(scope)
        if declared is not None and declared > cap:
            await send_error(send, scope, 413, *self._too_large(scope))
            return
        loop = asyncio.get_running_loop()
        started_at = loop.time()
        state = {"received": 0, "complete": False, "refusal": None, "responded": False}

        async def guarded_receive() -> Message:
            """Pass body messages through until the body is too slow (408), too large (413) or cut short (400).

            A refusal is recorded in `state["refusal"]` and the app sees `http.disconnect` in place of the body.
            """
            if state["complete"] or state["refusal"]:
                return await receive() if not state["refusal"] else DISCONNECT
            deadline = started_at + self.body_timeout_s + state["received"] / self.min_rate
            try:
                message = await asyncio.wait_for(receive(), timeout=max(0.0, deadline - loop.time()))
            except TimeoutError:
                state["refusal"] = (408, "request_timeout", "The request body came too slowly.")
                return DISCONNECT
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > cap:
                    state["refusal"] = (413, *self._too_large(scope))
                    return DISCONNECT
                if not message.get("more_body", False):
                    if declared is not None and state["received"] < declared:
                        state["refusal"] = (400, "body_cut_off", cut_off_message(scope.get("path", "")))
                        return DISCONNECT
                    state["complete"] = True
            return message

        async def tracked_send(message: Message) -> None:
            """Forward `message`, noting when the response has started (then no refusal can be sent)."""
            if message["type"] == "http.response.start":
                state["responded"] = True
            await send(message)

        await self.app(scope, guarded_receive, tracked_send)
        if state["refusal"] and not state["responded"]:
            await send_error(send, scope, *state["refusal"])

    def _cap(self, scope: Scope) -> int:
        cap = self.max_body_bytes
        return cap(scope.get("path", "")) if callable(cap) else cap

    def _too_large(self, scope: Scope) -> tuple[str, str]:
        code = "image_too_large" if scope.get("path", "").startswith("/v1/") else "body_too_large"
        return code, f"The request body is larger than {self._cap(scope):,} bytes."


def cut_off_message(path: str) -> str:
    """What a client hears when its body ended short of its `Content-Length` (the connection closed early)."""
    if path.startswith("/storage/upload"):
        return "The upload was cut off; upload it again."
    return "The request body was cut off; send it again."


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
