"""Admission control for the engine that serves waiting callers (`POST /v1/ocr`, the prompt preview).

Per web process and engine: `slots` calls run the engine at once (`DEEPREAD_SYNC_CONCURRENCY`), at most `queue`
more wait for a slot (`DEEPREAD_SYNC_QUEUE`), each for at most `wait_s` (`DEEPREAD_SYNC_QUEUE_TIMEOUT_S`). A call
beyond that is refused at once with `EngineBusy` (503 `engine_unavailable`, `Retry-After`), spending nothing.

The refusal happens before a thread is spent: `EngineAdmission` (ASGI, in front of Django) admits `POST /v1/ocr`
on the event loop and hands the ticket to the view's thread through a context variable; the service uses that
ticket, or takes one itself where no ASGI layer stands in front (the test client, the preview). Tickets count
callers between admission and the end of their call; slots count callers running the engine.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings

from core.asgi_guard import send_error
from core.errors import ServiceUnavailable

BUSY_RETRY_AFTER_S = 2
_ticket: contextvars.ContextVar[Ticket | None] = contextvars.ContextVar("engine_ticket", default=None)


class EngineBusy(ServiceUnavailable):
    """No room: every slot runs and the queue is full, or a slot did not free up within the wait: 503
    `engine_unavailable`, retry after BUSY_RETRY_AFTER_S seconds."""

    code = "engine_unavailable"
    retry_after = BUSY_RETRY_AFTER_S

    def __init__(self, message: str = "The OCR engine is busy; retry shortly.") -> None:
        super().__init__(message)


@dataclass
class Ticket:
    """A slot held at the engine gate by one synchronous request; release it exactly once."""

    gate: EngineGate
    released: bool = False

    def release(self) -> None:
        """Give the slot back to the gate; a second call does nothing."""
        if not self.released:
            self.released = True
            self.gate._leave()


class EngineGate:
    """`slots` engine calls at once, `queue` more waiting at most `wait_s` seconds each. Thread-safe."""

    def __init__(self, *, slots: int, queue: int, wait_s: float) -> None:
        self.slots, self.queue, self.wait_s = slots, queue, wait_s
        self._lock = threading.Lock()
        self._admitted = 0
        self._running = threading.BoundedSemaphore(slots)

    @property
    def admitted(self) -> int:
        """Requests holding a slot right now."""
        return self._admitted

    def try_admit(self) -> Ticket | None:
        """A ticket, or None at once when `slots + queue` callers are already admitted."""
        with self._lock:
            if self._admitted >= self.slots + self.queue:
                return None
            self._admitted += 1
        return Ticket(self)

    def _leave(self) -> None:
        with self._lock:
            self._admitted -= 1

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Run the engine in here. Raises EngineBusy if no slot frees up within `wait_s`."""
        if not self._running.acquire(timeout=self.wait_s):
            raise EngineBusy
        try:
            yield
        finally:
            self._running.release()

    @contextlib.contextmanager
    def admitted_call(self) -> Iterator[None]:
        """The ticket the ASGI layer took for this request, or one taken here; then a slot. Raises EngineBusy."""
        ticket = _ticket.get()
        own = ticket is None or ticket.released or ticket.gate is not self
        if own:
            ticket = self.try_admit()
            if ticket is None:
                raise EngineBusy
        try:
            with self.slot():
                yield
        finally:
            if own:
                ticket.release()


_gate: EngineGate | None = None
_gate_lock = threading.Lock()


def engine_gate() -> EngineGate:
    """This process's gate for the configured engine (made again if the settings change, as tests do)."""
    global _gate
    limits = (settings.DEEPREAD_SYNC_CONCURRENCY, settings.DEEPREAD_SYNC_QUEUE, settings.DEEPREAD_SYNC_QUEUE_TIMEOUT_S)
    with _gate_lock:
        if _gate is None or (_gate.slots, _gate.queue, _gate.wait_s) != limits:
            _gate = EngineGate(slots=limits[0], queue=limits[1], wait_s=limits[2])
        return _gate


class EngineAdmission:
    """ASGI middleware: `POST /v1/ocr` is admitted (or refused with 503) on the event loop, before Django gives it
    a thread."""

    paths = ("/v1/ocr",)

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") not in self.paths:
            await self.app(scope, receive, send)
            return
        ticket = engine_gate().try_admit()
        if ticket is None:
            await send_error(send, scope, EngineBusy())
            return
        token = _ticket.set(ticket)
        try:
            await self.app(scope, receive, send)
        finally:
            _ticket.reset(token)
            ticket.release()
