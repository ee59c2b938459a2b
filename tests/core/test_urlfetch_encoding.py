"""Image URLs as browsers send them (issue 12 item 4): IDNA hosts, percent-encoded non-ASCII paths and queries,
redirects to non-ASCII Locations; one overall deadline; every failure inside the fetcher is `image_fetch_failed`;
and messages that tell nothing about the internal network (issue 11 item 6)."""

from __future__ import annotations

import socket
import threading
import time
from http.server import ThreadingHTTPServer

import pytest

from core import urlfetch
from tests.core.test_urlfetch import RouteHandler


class _Handler(RouteHandler):
    """The URL-fetch tests' route server, also recording each request's raw target and Host header."""

    seen: list = []

    def do_GET(self):
        self.seen.append((self.path, self.headers.get("Host")))
        super().do_GET()


@pytest.fixture
def web():
    """(base URL, routes keyed by the raw request target, [(raw target, Host)] seen)."""
    routes: dict = {}
    seen: list = []
    handler = type("Handler", (_Handler,), {"routes": routes, "seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", routes, seen
    server.shutdown()
    server.server_close()


def _get(url: str, **kwargs) -> urlfetch.Fetched:
    return urlfetch.fetch(url, max_bytes=10_000, allow_private=True, **kwargs)


def _utf8_header(value: str) -> str:
    """A header value whose bytes on the wire are UTF-8 (http.server writes headers as Latin-1)."""
    return value.encode("utf-8").decode("latin-1")


@pytest.mark.parametrize(
    ("path", "wire"),
    [
        ("/uploads/cierre_peña.png", "/uploads/cierre_pe%C3%B1a.png"),
        ("/uploads/scan 01.png", "/uploads/scan%2001.png"),
        ("/uploads/Straße/見積書.png", "/uploads/Stra%C3%9Fe/%E8%A6%8B%E7%A9%8D%E6%9B%B8.png"),
        ("/img?name=año niño&x=1", "/img?name=a%C3%B1o%20ni%C3%B1o&x=1"),
        ("/already%20encoded%C3%B1.png", "/already%20encoded%C3%B1.png"),  # kept, not encoded twice
        ("/emoji-📄.png#frag", "/emoji-%F0%9F%93%84.png"),  # the fragment is never sent
    ],
)
def test_non_ascii_paths_and_queries_are_percent_encoded_as_a_browser_does(web, path, wire):
    base, routes, seen = web
    routes[wire] = (200, {"Content-Type": "image/png"}, b"IMAGE")
    got = _get(base + path)
    assert got.data == b"IMAGE"
    assert seen[-1][0] == wire


def test_an_idn_host_is_sent_in_idna_form_to_the_resolver_and_in_host(web):
    base, routes, seen = web
    port = base.rsplit(":", 1)[1]
    routes["/a.png"] = (200, {}, b"IDN")
    asked = []

    def resolver(host, port):
        asked.append(host)
        return ["127.0.0.1"]

    got = _get(f"http://Bücher.Example:{port}/a.png", resolver=resolver)
    assert got.data == b"IDN"
    assert asked == ["xn--bcher-kva.example"]
    assert seen[-1] == ("/a.png", f"xn--bcher-kva.example:{port}")
    assert got.url == f"http://xn--bcher-kva.example:{port}/a.png"


@pytest.mark.parametrize(
    ("location", "wire"),
    [
        (_utf8_header("/uploads/cierre_peña.png"), "/uploads/cierre_pe%C3%B1a.png"),  # raw UTF-8 bytes
        ("/uploads/scan 01.png", "/uploads/scan%2001.png"),
        ("/uploads/cierre_pe%C3%B1a.png?v=%C3%B1", "/uploads/cierre_pe%C3%B1a.png?v=%C3%B1"),
        (_utf8_header("relative/ñ.png"), "/dir/relative/%C3%B1.png"),
    ],
)
def test_a_redirect_to_a_non_ascii_location_is_encoded_too(web, location, wire):
    base, routes, seen = web
    routes["/dir/start"] = (302, {"Location": location}, b"")
    routes[wire] = (200, {}, b"MOVED")
    assert _get(base + "/dir/start").data == b"MOVED"
    assert [target for target, _ in seen] == ["/dir/start", wire]


def test_a_redirect_to_an_idn_host_is_resolved_in_idna_form(web):
    base, routes, _ = web
    port = base.rsplit(":", 1)[1]
    routes["/start"] = (301, {"Location": _utf8_header(f"http://bücher.test:{port}/é.png")}, b"")
    routes["/%C3%A9.png"] = (200, {}, b"OK")
    asked = []

    def resolver(host, port):
        asked.append(host)
        return ["127.0.0.1"]

    assert _get(base + "/start", resolver=resolver).data == b"OK"
    assert asked == ["127.0.0.1", "xn--bcher-kva.test"]


class _Raw:
    """A TCP server that runs `script(conn)` for each connection (for servers that misbehave)."""

    def __init__(self, script) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.script = script
        self.done = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn) -> None:
        try:
            conn.recv(65536)
            self.script(conn, self.done)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.done.set()
        self.sock.close()


def _drip(head: bytes, body_bytes: int, every: float):
    def script(conn, done):
        for byte in head:
            conn.sendall(bytes([byte]))
            if head.endswith(b"\r\n\r\n") and byte == head[-1]:
                break
        for _ in range(body_bytes):
            if done.wait(every):
                return
            conn.sendall(b"x")

    return script


def _drip_head(every: float):
    def script(conn, done):
        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nDATA":
            conn.sendall(bytes([byte]))
            if done.wait(every):
                return

    return script


@pytest.mark.parametrize(
    "script",
    [
        _drip(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", 100, 2.0),  # the server: a byte every 2 s
        _drip(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", 100, 2.0),  # no length: read until close
        _drip(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", 100, 0.2),  # each read well inside its timeout
        _drip_head(0.2),  # the status line and headers dripped
    ],
    ids=["body-2s", "until-close-2s", "body-0.2s", "headers-0.2s"],
)
def test_one_deadline_bounds_the_whole_fetch_however_the_server_drips(script):
    server = _Raw(script)
    try:
        started = time.monotonic()
        with pytest.raises(urlfetch.FetchError) as info:
            _get(f"http://127.0.0.1:{server.port}/slow.png", read_timeout=15, deadline_s=1.0)
        elapsed = time.monotonic() - started
    finally:
        server.close()
    assert isinstance(info.value, urlfetch.DeadlinePassed)
    assert info.value.code == "image_fetch_failed"
    assert "1 s" in info.value.message
    assert elapsed < 1.9  # cut at the deadline, before the 2 s server's second byte (1 s late at most)


def test_the_deadline_spans_redirects(web):
    base, routes, _ = web
    routes["/loop"] = (302, {"Location": "/loop"}, b"")
    slow = []

    def resolver(host, port):
        slow.append(host)
        time.sleep(0.4)
        return ["127.0.0.1"]

    with pytest.raises(urlfetch.DeadlinePassed):
        _get(base + "/loop", resolver=resolver, deadline_s=1.0, max_redirects=10)
    assert 2 <= len(slow) <= 4


def _garbage(conn, done):
    conn.sendall(b"NOT HTTP AT ALL\r\n\r\n")


def _bad_chunks(conn, done):
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nxx\r\n")


def _short(conn, done):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")


def _bad_location(conn, done):
    conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: http://[::1/x\r\nContent-Length: 0\r\n\r\n")


def _binary_location(conn, done):
    conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: http://\xff\xfe\x00host/\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize("script", [_garbage, _bad_chunks, _short, _bad_location, _binary_location])
def test_any_failure_inside_the_fetcher_is_image_fetch_failed(script):
    server = _Raw(script)
    try:
        with pytest.raises(urlfetch.FetchError) as info:
            _get(f"http://127.0.0.1:{server.port}/a.png", deadline_s=10)
    finally:
        server.close()
    assert info.value.code == "image_fetch_failed"
    assert "127.0.0.1" not in info.value.message


def test_an_unexpected_error_in_a_resolver_is_image_fetch_failed_too():
    def resolver(host, port):
        raise RuntimeError("resolver blew up at 10.1.2.3")

    with pytest.raises(urlfetch.FetchError) as info:
        _get("http://images.example.com/a.png", resolver=resolver)
    assert info.value.code == "image_fetch_failed"
    assert "10.1.2.3" not in info.value.message


def test_refused_unresolvable_and_closed_all_say_the_same_thing_without_addresses():
    """No DNS oracle: a name that resolves to a private address, one that does not resolve at all, a private
    literal and a closed port give one message, naming no address."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    messages = {}
    for url, kwargs in [
        ("http://intranet.example.com/a.png", {"resolver": lambda h, p: ["10.20.30.40"]}),
        ("http://no-such-host.invalid/a.png", {}),
        ("http://10.20.30.40/a.png", {}),
        ("http://[fd00::1]/a.png", {}),
        ("http://localhost/a.png", {}),
    ]:
        with pytest.raises(urlfetch.FetchError) as info:
            urlfetch.fetch(url, max_bytes=10, connect_timeout=1, read_timeout=1, **kwargs)
        messages[url] = (info.value.code, info.value.message)
    with pytest.raises(urlfetch.FetchError) as info:
        _get(f"http://127.0.0.1:{closed_port}/a.png")
    messages["closed"] = (info.value.code, info.value.message)
    assert set(messages.values()) == {("image_fetch_failed", urlfetch.NOT_FETCHED)}, messages
    for _code, message in messages.values():
        for address in ("10.20.30.40", "→", "127.0.0.1", "fd00"):
            assert address not in message


def test_the_deadline_cuts_a_name_resolution_that_hangs():
    release = threading.Event()

    def resolver(host, port):
        release.wait(30)  # a DNS server that never answers
        return ["127.0.0.1"]

    started = time.monotonic()
    try:
        with pytest.raises(urlfetch.DeadlinePassed):
            _get("http://slow-dns.example/a.png", resolver=resolver, deadline_s=0.5)
        assert time.monotonic() - started < 5  # bounds a hang only: without the deadline it waits 30 s
    finally:
        release.set()
