"""Fetching a user's URL without letting it reach inside the network (SSRF). Every place that fetches a URL a
user gave goes through `fetch`.

- http and https only;
- the URL is encoded as a browser encodes it before anything else (`core.weburl.encode_url`), a redirect's
  `Location` the same way;
- the host is resolved once, every address it resolves to is checked, and the connection is made to the checked
  address (pinned), so a second DNS answer cannot swap in another one; TLS still verifies the host name;
- loopback, private, link-local (cloud metadata included), multicast, unspecified, reserved and shared ranges
  are refused, IPv4 and IPv6 alike, and IPv4 written as IPv6 (`::ffff:127.0.0.1`, NAT64, 6to4) is checked as
  the IPv4 address it carries;
- each redirect is checked the same way, up to `max_redirects`;
- the body is counted while it streams and cut at `max_bytes`; connect and read timeouts are explicit, and one
  overall deadline (`deadline_s`) bounds the whole call, redirects included: a server that drips a byte at a time
  is cut when it passes, whatever the per-read timeout;
- a host that does not resolve, an address that is refused and a connection that fails all get the same message,
  naming no address, so the fetcher is no oracle for the internal network or its DNS;
- any failure inside the fetcher is a `FetchError` (`core.weburl`; an `InvalidInput`, 400 `image_fetch_failed`
  unless it is about the URL's form, or `FetchTooLarge`, 413), never another exception.

`allow_private=True` (DEEPREAD_URL_FETCH_ALLOW_PRIVATE=1) turns the address check off, for tests that serve
images on loopback. Nothing else does.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from core.weburl import (  # the error family and URL encoding, re-exported: callers name them through urlfetch
    NOT_FETCHED,
    AddressRefused,
    DeadlinePassed,
    FetchError,
    FetchTooLarge,
    Target,
    UrlFormatError,
    UrlProtocolError,
    encode_url,
    parse_url,
    redirect_location,
)

__all__ = [
    "NOT_FETCHED", "AddressRefused", "DeadlinePassed", "FetchError", "FetchTooLarge", "Fetched", "Target",
    "UrlFormatError", "UrlProtocolError", "address_allowed", "checked_addresses", "encode_url", "fetch", "parse_url",
    "redirect_location", "system_resolver",
]  # fmt: skip

Resolver = Callable[[str, int], list[str]]
REDIRECTS = {301, 302, 303, 307, 308}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fetched:
    """A fetched image: its bytes, the Content-Type the server sent and the final URL after redirects."""

    data: bytes
    content_type: str
    url: str


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to; a host that does not resolve is a FetchError naming nothing."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise FetchError(NOT_FETCHED) from exc
    return list(dict.fromkeys(info[4][0] for info in infos))


def address_allowed(address: str) -> bool:
    """Only globally routable unicast addresses."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        carried = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if carried is None and ip in _NAT64:
            carried = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if carried is not None:
            return address_allowed(str(carried))
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


def checked_addresses(
    host: str,
    port: int,
    *,
    allow_private: bool = False,
    resolver: Resolver | None = None,
    is_allowed: Callable[[str], bool] = address_allowed,
) -> list[str]:
    """The addresses `host` (ASCII, as `encode_url` gives it) resolves to, every one of them allowed.

    Raises FetchError for a host that does not resolve and AddressRefused for one with any address that is not
    allowed, both with the same message naming no address, so the answer says nothing about internal DNS."""
    addresses = (resolver or system_resolver)(host, port)
    if not addresses:
        raise FetchError(NOT_FETCHED)
    if not allow_private and not all(is_allowed(a) for a in addresses):
        raise AddressRefused(NOT_FETCHED)
    return addresses


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float, connect_timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address, self._connect_timeout = address, connect_timeout

    def connect(self) -> None:
        """Connect to the address already checked by the SSRF guard (not a fresh DNS lookup); OSError on failure."""
        self.sock = socket.create_connection((self._address, self.port), timeout=self._connect_timeout)
        self.sock.settimeout(self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float, connect_timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address, self._connect_timeout = address, connect_timeout

    def connect(self) -> None:
        """Connect over TLS to the checked address, verifying the certificate for the URL's host name; OSError/SSLError
        on failure.
        """
        raw = socket.create_connection((self._address, self.port), timeout=self._connect_timeout)
        raw.settimeout(self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


class _Deadline:
    """The one deadline of a fetch. `guard(conn)` cuts the connection's socket when the deadline passes, so any
    blocking read or write returns at once, however the server paces its bytes."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.passed = threading.Event()

    def left(self) -> float:
        """Seconds left before the overall fetch deadline; raises DeadlinePassed (and sets `passed`) once none are."""
        left = self.at - time.monotonic()
        if left <= 0:
            self.passed.set()
            raise self.error()
        return left

    def error(self) -> DeadlinePassed:
        """The DeadlinePassed error for this deadline, naming its length in seconds."""
        return DeadlinePassed(f"The image URL did not answer in full within {self.seconds:g} s.")

    def bound(self, resolver: Resolver) -> Resolver:
        """`resolver`, cut at the deadline: name resolution blocks in the C library, so it runs on a daemon thread
        that is left to finish alone if the deadline passes first.

        Raises DeadlinePassed when the lookup outlasts the deadline, or the resolver's own error (e.g.
        socket.gaierror).
        """

        def bounded(host: str, port: int) -> list[str]:
            """Resolve `host` with `resolver` but wait no longer than the deadline.

            Raises DeadlinePassed when the lookup outlasts it, or the resolver's own error (e.g. socket.gaierror).
            """
            outcome: list = []

            def run() -> None:
                """Run the lookup in the helper thread, keeping its result or error for the caller."""
                try:
                    outcome.append((True, resolver(host, port)))
                except BaseException as exc:  # handed to the caller's thread
                    outcome.append((False, exc))

            thread = threading.Thread(target=run, name="urlfetch-resolve", daemon=True)
            thread.start()
            thread.join(self.left())
            if not outcome:
                self.passed.set()
                raise self.error()
            ok, value = outcome[0]
            if not ok:
                raise value
            return value

        return bounded

    def guard(self, conn: http.client.HTTPConnection) -> threading.Timer:
        """Start a timer that shuts `conn`'s socket when the deadline passes, so a slow body read stops; cancel it when
        done.

        Raises DeadlinePassed when the deadline has already passed.
        """

        def cut() -> None:
            """Mark the deadline passed and shut the connection's socket, waking a blocked read."""
            self.passed.set()
            sock = conn.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the raw socket, under TLS too

        timer = threading.Timer(self.left(), cut)
        timer.daemon = True
        timer.start()
        return timer


def fetch(
    url: str,
    *,
    max_bytes: int,
    connect_timeout: float = 5.0,
    read_timeout: float = 15.0,
    deadline_s: float = 20.0,
    max_redirects: int = 3,
    allow_private: bool = False,
    resolver: Resolver | None = None,
    is_allowed: Callable[[str], bool] = address_allowed,
) -> Fetched:
    """GET an image by URL, safely (see the module's docstring).

    `max_bytes` caps the body; `connect_timeout` and `read_timeout` (seconds) bound each connect and each read;
    `deadline_s` bounds the whole call. Returns the body, its Content-Type and the final URL (encoded).
    Raises FetchError and its subclasses only: UrlFormatError/UrlProtocolError for the URL itself,
    FetchTooLarge past `max_bytes`, and `image_fetch_failed` for everything else."""
    deadline = _Deadline(deadline_s)
    try:
        return _fetch(
            url,
            max_bytes=max_bytes,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            deadline=deadline,
            max_redirects=max_redirects,
            allow_private=allow_private,
            resolver=resolver or system_resolver,
            is_allowed=is_allowed,
        )
    except FetchTooLarge:
        raise
    except FetchError:
        if deadline.passed.is_set():
            raise deadline.error() from None
        raise
    except Exception as exc:
        if deadline.passed.is_set():
            raise deadline.error() from exc
        logger.info("Image URL fetch failed: %s", type(exc).__name__)
        raise FetchError(NOT_FETCHED) from exc


def _fetch(
    url: str,
    *,
    max_bytes: int,
    connect_timeout: float,
    read_timeout: float,
    deadline: _Deadline,
    max_redirects: int,
    allow_private: bool,
    resolver: Resolver,
    is_allowed: Callable[[str], bool],
) -> Fetched:
    for _ in range(max_redirects + 1):
        target = encode_url(url)
        addresses = checked_addresses(
            target.host,
            target.port,
            allow_private=allow_private,
            resolver=deadline.bound(resolver),
            is_allowed=is_allowed,
        )
        connection_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
        left = deadline.left()
        conn = connection_class(
            target.host, target.port, addresses[0], min(read_timeout, left), min(connect_timeout, left)
        )
        timer = deadline.guard(conn)
        try:
            try:
                conn.request(
                    "GET", target.path, headers={"User-Agent": "DeepRead/1 (+image fetch)", "Accept": "image/*,*/*"}
                )
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                raise FetchError(NOT_FETCHED) from exc
            if response.status in REDIRECTS:
                url = redirect_location(response, target.url)
                continue
            if response.status != 200:
                raise FetchError(f"The image URL answered HTTP {response.status}.")
            declared = response.getheader("Content-Length")
            if declared and declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
                raise FetchTooLarge(f"The image is larger than the {max_bytes:,}-byte limit.")
            chunks, size = [], 0
            while True:
                try:
                    chunk = response.read1(64 * 1024)
                except (OSError, http.client.HTTPException) as exc:
                    raise FetchError(NOT_FETCHED) from exc
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise FetchTooLarge(f"The image is larger than the {max_bytes:,}-byte limit.")
                chunks.append(chunk)
            if deadline.passed.is_set():  # cut short by the deadline: what arrived is not the whole image
                raise deadline.error()
            if declared and declared.isascii() and declared.isdigit() and size != int(declared):
                raise FetchError("The image URL's answer was cut off before its end.")
            return Fetched(b"".join(chunks), response.getheader("Content-Type") or "", target.url)
        finally:
            timer.cancel()
            conn.close()
    raise FetchError(f"The image URL redirected more than {max_redirects} times.")
