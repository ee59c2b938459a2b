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
Errors are `core.errors` members (TooLarge 413, RequestTimeout 408, BodyCutOff 400) answered in the caller's format
(`core.error_formats`: OpenAI's `{"error": {...}}` under `/v1/`, `{"detail": ...}` under `/api/` and `/storage/`, a
short HTML page for the dashboard).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from core.error_formats import encoded, retry_headers
from core.errors import ApplicationError, BodyCutOff, RequestTimeout, TooLarge

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

DISCONNECT: Message = {"type": "http.disconnect"}


async def send_error(
    send: Send, scope: Scope, exc: ApplicationError, *, headers: tuple = (), close: bool = True
) -> None:
    """Answer a request that the application never saw (or that gave no answer) with `exc`, in the format of the
    interface its path belongs to (`core.error_formats`), with `Retry-After` when `exc` has one."""
    body, content_type = encoded(scope.get("path", ""), exc)
    extra = tuple((name.lower().encode(), value.encode()) for name, value in retry_headers(exc).items())
    head = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()), *extra, *headers]
    if close:
        head.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": exc.status_code, "headers": head})
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
            await send_error(send, scope, self._too_large(scope))
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
                state["refusal"] = RequestTimeout("The request body came too slowly.")
                return DISCONNECT
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > cap:
                    state["refusal"] = self._too_large(scope)
                    return DISCONNECT
                if not message.get("more_body", False):
                    if declared is not None and state["received"] < declared:
                        state["refusal"] = BodyCutOff(cut_off_message(scope.get("path", "")))
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
            await send_error(send, scope, state["refusal"])

    def _cap(self, scope: Scope) -> int:
        cap = self.max_body_bytes
        return cap(scope.get("path", "")) if callable(cap) else cap

    def _too_large(self, scope: Scope) -> TooLarge:
        return TooLarge(f"The request body is larger than {self._cap(scope):,} bytes.")


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
