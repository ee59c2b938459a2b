"""Slow and idle HTTP clients, for the web server's tests and bench/slow_clients.py.

- `SlowClients`: connections that send their request headers one line at a time, or their body one byte at a
  time, every `interval_s`, and never finish; a connection the server cuts is counted and opened again.
- `latency_probe`: fresh-connection GETs in a loop, their latencies recorded.
- `keepalive_probe`: GETs `gap_s` apart on one kept-alive connection, which must stay the same socket.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class SlowClients:
    base_url: str
    slow_headers: int = 50
    slow_bodies: int = 10
    interval_s: float = 2.0
    header_path: str = "/accounts/login/"
    body_path: str = "/api/v1/upload/signed-url"
    cut: int = 0  # connections the server closed (and that were opened again)
    answered: list[bytes] = field(default_factory=list)  # first bytes of whatever the server said before closing
    _socks: list[tuple[str, socket.socket]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> SlowClients:
        self._socks = [("header", self._open("header")) for _ in range(self.slow_headers)]
        self._socks += [("body", self._open("body")) for _ in range(self.slow_bodies)]
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)
        for _, sock in self._socks:
            sock.close()

    def open_count(self) -> int:
        """Connections still open and unanswered: each is probed without blocking."""
        count = 0
        for _, sock in self._socks:
            try:
                sock.setblocking(False)
                sock.recv(1, socket.MSG_PEEK)  # returns: the server answered, or closed (b"")
            except BlockingIOError:
                count += 1  # nothing to read: still open, still waiting for the rest of the request
            except OSError:
                pass
            finally:
                sock.setblocking(True)
        return count

    def _open(self, kind: str) -> socket.socket:
        url = urlsplit(self.base_url)
        sock = socket.create_connection((url.hostname, url.port), timeout=10)
        if kind == "header":
            sock.sendall(f"GET {self.header_path} HTTP/1.1\r\nHost: {url.netloc}\r\n".encode())
        else:
            sock.sendall(
                f"POST {self.body_path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
                f"Content-Length: 100000\r\n\r\n".encode()
            )
        return sock

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(self.interval_s):
            n += 1
            for i, (kind, sock) in enumerate(self._socks):
                try:
                    sock.sendall(f"X-Slow-{n}: {n}\r\n".encode() if kind == "header" else b" ")
                except OSError:
                    self.cut += 1
                    try:
                        sock.settimeout(0.1)
                        self.answered.append(sock.recv(64))
                    except OSError:
                        pass
                    sock.close()
                    self._socks[i] = (kind, self._open(kind))


def latency_probe(base_url: str, paths: list[tuple[str, dict]], stop: threading.Event, out: list[float]) -> None:
    """GET each (path, headers) in turn on a fresh connection until `stop`; append each latency in seconds to
    `out`, or raise on any answer other than 200."""
    url = urlsplit(base_url)
    while not stop.is_set():
        for path, headers in paths:
            started = time.perf_counter()
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
            finally:
                conn.close()
            out.append(time.perf_counter() - started)
            if response.status != 200:
                raise AssertionError(f"{path}: {response.status}")


def keepalive_probe(base_url: str, path: str, headers: dict, *, times: int, gap_s: float) -> list[int]:
    """`times` GETs `gap_s` apart on one connection. Returns their statuses; raises if the connection was closed
    or reset between them (a new local port would mean a new connection)."""
    url = urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    statuses, port = [], None
    try:
        for n in range(times):
            if n:
                time.sleep(gap_s)
            conn.request("GET", path, headers=headers)  # raises (or reconnects, caught below) if it was closed
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
            local = conn.sock.getsockname()[1] if conn.sock else None
            if port is not None and local != port:
                raise AssertionError(f"request {n + 1} went on a new connection")
            port = local
            if response.getheader("connection", "").lower() == "close":
                raise AssertionError(f"the server closed the connection after request {n + 1}")
    finally:
        conn.close()
    return statuses
