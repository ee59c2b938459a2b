"""SSRF-safe fetching. Listening sockets record every connection: a refused URL must not produce one."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core import urlfetch


class Recorder:
    """A TCP listener that counts the connections it accepts."""

    def __init__(self, family: int = socket.AF_INET, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def recorders():
    v4 = Recorder()
    v6 = Recorder(socket.AF_INET6, "::1", v4.port) if socket.has_ipv6 else None
    yield v4, v6
    v4.close()
    if v6:
        v6.close()


class RouteHandler(BaseHTTPRequestHandler):
    routes: dict = {}

    def log_message(self, *args):
        pass

    def do_GET(self):
        status, headers, body = self.routes.get(self.path, (404, {}, b""))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def web():
    """An HTTP server on 127.0.0.2 (another loopback address), with routes set per test."""
    routes: dict = {}
    handler = type("Handler", (RouteHandler,), {"routes": routes})
    server = ThreadingHTTPServer(("127.0.0.2", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server, routes
    server.shutdown()
    server.server_close()


def _refuses(url: str, **kwargs) -> urlfetch.FetchError:
    with pytest.raises(urlfetch.FetchError) as info:
        urlfetch.fetch(url, max_bytes=1_000_000, connect_timeout=1, read_timeout=1, **kwargs)
    return info.value


LOOPBACK_FORMS = [
    "http://127.0.0.1:{port}/a.png",
    "http://0x7f000001:{port}/a.png",
    "http://2130706433:{port}/a.png",
    "http://0177.0.0.1:{port}/a.png",
    "http://127.1:{port}/a.png",
    "http://localhost:{port}/a.png",
    "http://0.0.0.0:{port}/a.png",
    "http://[::1]:{port}/a.png",
    "http://[::ffff:127.0.0.1]:{port}/a.png",
    "http://[::ffff:7f00:1]:{port}/a.png",
    "http://[::]:{port}/a.png",
    "https://127.0.0.1:{port}/a.png",
]


@pytest.mark.parametrize("form", LOOPBACK_FORMS)
def test_loopback_in_every_spelling_is_refused_without_a_connection(recorders, form):
    v4, v6 = recorders
    error = _refuses(form.format(port=v4.port))
    assert isinstance(error, urlfetch.AddressRefused)
    assert error.code == "image_fetch_failed"
    time.sleep(0.05)
    assert v4.connections == 0
    assert v6 is None or v6.connections == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",
        "http://10.0.0.1/a.png",
        "http://172.16.0.1/a.png",
        "http://172.31.255.254/a.png",
        "http://192.168.1.1/a.png",
        "http://[fe80::1]/a.png",
        "http://[fc00::1]/a.png",
        "http://224.0.0.1/a.png",
        "http://[ff02::1]/a.png",
        "http://240.0.0.1/a.png",
        "http://[64:ff9b::a00:1]/a.png",
        "http://[2002:a00:1::]/a.png",
    ],
)
def test_private_link_local_metadata_multicast_and_reserved_ranges_are_refused_before_connecting(url, monkeypatch):
    attempts: list[tuple] = []
    monkeypatch.setattr(urlfetch.socket, "create_connection", lambda *a, **kw: attempts.append(a))
    error = _refuses(url)
    assert isinstance(error, urlfetch.AddressRefused)
    assert attempts == []  # refused before any connection attempt (none that could time out)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("file:///etc/passwd", "invalid_url_protocol"),
        ("gopher://127.0.0.1:70/_x", "invalid_url_protocol"),
        ("ftp://example.com/a.png", "invalid_url_protocol"),
        ("dict://127.0.0.1:11211/stat", "invalid_url_protocol"),
        ("not a url", "invalid_url_format"),
        ("http://", "invalid_url_format"),
        ("http://example.com:99999/a.png", "invalid_url_format"),
    ],
)
def test_other_schemes_and_malformed_urls(url, code):
    assert _refuses(url).code == code


def test_a_dns_name_that_resolves_to_loopback_is_refused(recorders):
    v4, _ = recorders
    answers = []

    def resolver(host, port):
        answers.append(host)
        return ["127.0.0.1"]

    error = _refuses(f"http://images.example.com:{v4.port}/a.png", resolver=resolver)
    assert isinstance(error, urlfetch.AddressRefused)
    assert answers == ["images.example.com"]
    assert v4.connections == 0


def test_a_name_with_one_private_answer_among_public_ones_is_refused(recorders):
    v4, _ = recorders
    error = _refuses(f"http://mixed.example.com:{v4.port}/", resolver=lambda h, p: ["93.184.216.34", "127.0.0.1"])
    assert isinstance(error, urlfetch.AddressRefused)


def test_a_redirect_to_a_private_address_is_checked_and_refused(web, recorders):
    server, routes = web
    v4, _ = recorders
    routes["/start"] = (302, {"Location": f"http://127.0.0.1:{v4.port}/secret"}, b"")
    public = {"127.0.0.2"}  # the redirecting server stands in for a public host; nothing else is allowed
    error = _refuses(
        f"http://127.0.0.2:{server.server_address[1]}/start",
        is_allowed=lambda address: address in public,
    )
    assert isinstance(error, urlfetch.AddressRefused)
    assert v4.connections == 0


def test_redirects_are_followed_up_to_the_cap(web):
    server, routes = web
    port = server.server_address[1]
    routes["/a"] = (302, {"Location": "/b"}, b"")
    routes["/b"] = (301, {"Location": f"http://127.0.0.2:{port}/c"}, b"")
    routes["/c"] = (200, {"Content-Type": "image/png"}, b"PNGDATA")
    allowed = {"is_allowed": lambda address: address == "127.0.0.2"}
    got = urlfetch.fetch(f"http://127.0.0.2:{port}/a", max_bytes=100, **allowed)
    assert (got.data, got.content_type, got.url) == (b"PNGDATA", "image/png", f"http://127.0.0.2:{port}/c")
    routes["/loop"] = (302, {"Location": "/loop"}, b"")
    error = _refuses(f"http://127.0.0.2:{port}/loop", max_redirects=3, **allowed)
    assert "more than 3 times" in error.message


def test_the_connection_goes_to_the_address_that_was_checked(web):
    """The name is resolved once; the connection is pinned to that answer, whatever DNS says later."""
    server, routes = web
    routes["/img"] = (200, {}, b"OK")
    calls = []

    def resolver(host, port):
        calls.append(host)
        return ["127.0.0.2"] if len(calls) == 1 else ["10.0.0.1"]

    got = urlfetch.fetch(
        f"http://cdn.example.com:{server.server_address[1]}/img",
        max_bytes=10,
        resolver=resolver,
        is_allowed=lambda a: a == "127.0.0.2",
    )
    assert got.data == b"OK"
    assert calls == ["cdn.example.com"]


def test_the_byte_cap_is_counted_while_streaming(web):
    server, routes = web
    routes["/big"] = (200, {}, b"x" * 5000)
    url = f"http://127.0.0.2:{server.server_address[1]}/big"
    with pytest.raises(urlfetch.FetchTooLarge) as info:
        urlfetch.fetch(url, max_bytes=4096, allow_private=True)
    assert info.value.code == "image_too_large"
    assert urlfetch.fetch(url, max_bytes=5000, allow_private=True).data == b"x" * 5000


def test_a_server_that_never_answers_times_out():
    hold = socket.socket()
    hold.bind(("127.0.0.1", 0))
    hold.listen(1)  # never accepts: the connect completes (backlog), the read times out
    try:
        started = time.monotonic()
        with pytest.raises(urlfetch.FetchError):
            urlfetch.fetch(
                f"http://127.0.0.1:{hold.getsockname()[1]}/", max_bytes=10, read_timeout=0.5, allow_private=True
            )
        # the 0.5 s read timeout applied, not the 15 s default: a bound that only a hang (or the default) passes
        assert time.monotonic() - started < 10
    finally:
        hold.close()


def test_with_the_guard_off_loopback_is_fetched(web):
    server, routes = web
    routes["/ok"] = (200, {"Content-Type": "image/png"}, b"DATA")
    assert (
        urlfetch.fetch(f"http://127.0.0.2:{server.server_address[1]}/ok", max_bytes=10, allow_private=True).data
        == b"DATA"
    )


def test_public_addresses_are_allowed():
    for address in ("93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"):
        assert urlfetch.address_allowed(address)
