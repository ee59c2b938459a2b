"""DeepRead's web server: uvicorn serving `deepread.asgi`, configured for clients that are slow, idle or many.

Why uvicorn (README, "The web server"): it parses HTTP on an asyncio event loop, so a connection that sends its
headers or its body a byte at a time costs a socket and a few kilobytes, not a thread; Django's ASGI handler reads
the whole body before it calls a view, so a view's thread only starts once the request is complete. Idle keep-alive
connections are kept `DEEPREAD_KEEPALIVE_S` (75 s, longer than load balancers' and clients' poll intervals, where
gunicorn's 2 s closed them just as a client reused them). Several worker processes share one socket, and uvicorn's
supervisor replaces a worker that dies.

What uvicorn does not bound by itself, this module adds:
- a request's headers must be complete within `DEEPREAD_HEADER_TIMEOUT_S` of its first byte (or of the
  connection's opening), else `408` and the connection is closed (`GuardedH11Protocol`);
- their size is bounded by h11 (`DEEPREAD_MAX_HEADER_BYTES`, `400` past it);
- the body's deadline and size are bounded in `core.asgi_guard`, in front of Django.

Run: `python -m deepread.webserver --bind 127.0.0.1:8000 --workers 2 [--no-access-log]`.
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import time
from dataclasses import dataclass

import h11
from uvicorn.config import LOGGING_CONFIG
from uvicorn.protocols.http.h11_impl import H11Protocol

from deepread.access_log import RedactingAccessFilter

logger = logging.getLogger("deepread.webserver")


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise SystemExit(f"{name} must be positive, got {raw!r}")
    return value


@dataclass(frozen=True)
class ServerLimits:
    """The web server's time and size bounds, from the environment (seconds, bytes)."""

    keepalive_s: float
    header_timeout_s: float
    max_header_bytes: int
    graceful_s: float

    @classmethod
    def from_env(cls) -> ServerLimits:
        """Limits from the environment: keep-alive, header timeout and graceful stop in seconds, header size in bytes.

        Exits (SystemExit) naming the variable when one is not a positive number.
        """
        return cls(
            keepalive_s=_env_float("DEEPREAD_KEEPALIVE_S", 75.0),
            header_timeout_s=_env_float("DEEPREAD_HEADER_TIMEOUT_S", 30.0),
            max_header_bytes=int(_env_float("DEEPREAD_MAX_HEADER_BYTES", 32 * 1024)),
            graceful_s=_env_float("DEEPREAD_WEB_GRACEFUL_S", 30.0),
        )


TIMEOUT_408 = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
    b"content-length: 36\r\n\r\nThe request headers came too slowly."
)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on request headers.

    The clock starts when the connection opens or, on a kept-alive connection, at the first byte of the next
    request; it stops when the headers are complete. A connection still short of them at the deadline gets `408`
    and is closed. Time spent reading the body is bounded by `core.asgi_guard`; idle time between requests by
    uvicorn's keep-alive timeout."""

    header_timeout_s = ServerLimits.from_env().header_timeout_s

    def connection_made(self, transport) -> None:  # type: ignore[override]
        """Start the header timer for the first request on a new connection."""
        self._header_timer = None
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        """Feed bytes to the HTTP parser; the header timer runs only while a request's headers are incomplete."""
        if self._header_timer is None and self._awaiting_request():
            self._arm_header_timer()  # the first byte of the next request on a kept-alive connection
        super().data_received(data)
        if self._header_timer is not None and not self._awaiting_request():
            self._cancel_header_timer()  # the headers are complete: the request is the application's now

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the header timer when the client goes away."""
        self._cancel_header_timer()
        super().connection_lost(exc)

    def eof_received(self) -> bool | None:
        """A client that stops sending in the middle of a body and closes its sending side still reads the answer:
        the application is told the body ended (short of its `Content-Length`, which `core.asgi_guard`
        refuses with `400`), and the connection stays open for that answer instead of closing unanswered."""
        cycle = self.cycle
        if cycle is None or cycle.response_complete or self.conn.their_state is not h11.SEND_BODY:
            return None
        if not any(name.lower() == b"content-length" for name, _ in cycle.scope.get("headers", ())):
            return None  # a chunked body cut off cannot be told from a whole one here: close, as before
        cycle.more_body = False
        cycle.message_event.set()
        return True

    def _awaiting_request(self) -> bool:
        return self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_started = time.monotonic()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._header_timeout)

    def _cancel_header_timer(self) -> None:
        if getattr(self, "_header_timer", None) is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or not self._awaiting_request():
            return
        logger.info(
            "Closed a connection from %s: request headers incomplete after %.0f s",
            self.client[0] if self.client else "?",
            time.monotonic() - self._header_started,
        )
        self.transport.write(TIMEOUT_408)
        self.transport.close()


def log_config(*, access_log: bool) -> dict:
    """uvicorn's logging, with credentials removed from access-log lines (`deepread.access_log`)."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact": {"()": RedactingAccessFilter}}
    config["handlers"]["access"]["filters"] = ["redact"]
    config["formatters"]["default"]["use_colors"] = False
    config["formatters"]["access"]["use_colors"] = False
    config["loggers"]["deepread.webserver"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    if not access_log:
        config["loggers"]["uvicorn.access"]["level"] = "WARNING"
    return config


def serve(*, bind: str, workers: int, access_log: bool = True) -> None:
    """Serve `deepread.asgi:application` on `host:port` with `workers` processes until SIGINT/SIGTERM."""
    import uvicorn

    limits = ServerLimits.from_env()
    host, _, port = bind.rpartition(":")
    uvicorn.run(
        "deepread.asgi:application",
        host=host.strip("[]") or "127.0.0.1",
        port=int(port),
        workers=workers,
        http=GuardedH11Protocol,
        lifespan="off",
        ws="none",
        interface="asgi3",
        log_config=log_config(access_log=access_log),
        access_log=access_log,
        timeout_keep_alive=int(limits.keepalive_s),
        timeout_graceful_shutdown=int(limits.graceful_s),
        # A worker busy with a long request still answers its supervisor; give it time on a loaded machine.
        timeout_worker_healthcheck=30,
        h11_max_incomplete_event_size=limits.max_header_bytes,
        server_header=False,
        # The client address is the socket's: X-Forwarded-For is read by DeepRead itself, only as far as
        # DEEPREAD_PROXY_COUNT says (uvicorn's default trusts it from 127.0.0.1, so anyone on the machine, or a
        # proxy passing the header through, could choose the address the log-in lock counts).
        proxy_headers=False,
    )


def main(argv: list[str] | None = None) -> None:
    """Command line entry: parse --bind host:port, --workers (default $WEB_CONCURRENCY or 2), --no-access-log, then
    serve.
    """
    parser = argparse.ArgumentParser(prog="python -m deepread.webserver", description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default="127.0.0.1:8000", help="host:port")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
    parser.add_argument("--no-access-log", dest="access_log", action="store_false")
    args = parser.parse_args(argv)
    serve(bind=args.bind, workers=args.workers, access_log=args.access_log)


if __name__ == "__main__":
    main()
