"""Cancelling engine work from another thread (issue 16, `POST /jobs/{id}/cancel`).

A `CancelToken` is made per running job and made current for the thread that runs it (`cancel_scope`). Engines
call `check()` between steps. The vLLM engine's HTTP connections go through `CancellableBackend`: a read or write
made while a token is current registers its socket with the token, and `CancelToken.cancel()` shuts those sockets
down (`shutdown(SHUT_RDWR)` wakes a thread blocked in `recv`, and the server sees the connection close, so vLLM
aborts the request and frees the GPU). The blocked call then raises `Cancelled`, which is not retried.

Nothing here knows about jobs: the apps decide when a token is cancelled.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpcore

from inference.base import EngineError


class Cancelled(EngineError):
    """The work was cancelled; nothing is retried."""

    retryable = False

    def __init__(self, message: str = "The job was cancelled.") -> None:
        super().__init__(message)


class CancelToken:
    """Thread-safe. `cancel()` may be called from any thread, any number of times."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._streams: set[_CancellableStream] = set()

    @property
    def cancelled(self) -> bool:
        """True once the job has been cancelled."""
        return self._event.is_set()

    def cancel(self) -> int:
        """Mark cancelled and drop every connection in use for it; returns how many were dropped."""
        self._event.set()
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            stream.abort()
        return len(streams)

    def check(self) -> None:
        """Raise Cancelled once cancelled."""
        if self._event.is_set():
            raise Cancelled()

    def _watch(self, stream: _CancellableStream) -> None:
        with self._lock:
            self._streams.add(stream)

    def _unwatch(self, stream: _CancellableStream) -> None:
        with self._lock:
            self._streams.discard(stream)


_local = threading.local()


def current() -> CancelToken | None:
    """The cancel token of the job running on this thread (set by `cancel_scope`), or None outside one."""
    return getattr(_local, "token", None)


def check() -> None:
    """Raise Cancelled if this thread's current token is cancelled; nothing without a token."""
    token = current()
    if token is not None:
        token.check()


@contextlib.contextmanager
def cancel_scope(token: CancelToken) -> Iterator[CancelToken]:
    """Make `token` current for this thread while the block runs."""
    previous = current()
    _local.token = token
    try:
        yield token
    finally:
        _local.token = previous


class _CancellableStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def _guarded(self, call, *args: Any) -> Any:
        token = current()
        if token is None:
            return call(*args)
        token.check()
        token._watch(self)
        try:
            result = call(*args)
        except Exception as exc:
            if token.cancelled:
                raise Cancelled() from exc
            raise
        finally:
            token._unwatch(self)
        token.check()  # a shut-down socket reads as a clean EOF: say why
        return result

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Read up to `max_bytes`, aborting the connection if the job is cancelled meanwhile (raises the cancel
        error)."""
        return self._guarded(self._inner.read, max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Write `buffer`, aborting the connection if the job is cancelled meanwhile (raises the cancel error)."""
        self._guarded(self._inner.write, buffer, timeout)

    def close(self) -> None:
        """Close the wrapped stream."""
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname: str | None = None, timeout: float | None = None):
        """Upgrade to TLS; the returned stream stays cancellable."""
        return _CancellableStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        """Pass-through of httpcore's connection details (socket, ssl_object, …)."""
        return self._inner.get_extra_info(info)

    def abort(self) -> None:
        """Shut the socket down both ways so a blocked read or write returns at once; errors are ignored."""
        sock = self._inner.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class CancellableBackend(httpcore.NetworkBackend):
    """httpcore's sync backend, with streams that a CancelToken can drop."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        """Open a TCP connection whose reads and writes stop when the job is cancelled."""
        return _CancellableStream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        """Open a Unix-socket connection whose reads and writes stop when the job is cancelled."""
        return _CancellableStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        """Sleep `seconds` (httpcore's back-off between connection attempts)."""
        self._inner.sleep(seconds)
