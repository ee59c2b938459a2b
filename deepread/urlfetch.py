"""Fetching a user's URL without letting it reach inside the network (SSRF). Every place that fetches a URL a
user gave goes through `fetch`.

- http and https only;
- the host is resolved once, every address it resolves to is checked, and the connection is made to the checked
  address (pinned), so a second DNS answer cannot swap in another one; TLS still verifies the host name;
- loopback, private, link-local (cloud metadata included), multicast, unspecified, reserved and shared ranges
  are refused, IPv4 and IPv6 alike, and IPv4 written as IPv6 (`::ffff:127.0.0.1`, NAT64, 6to4) is checked as
  the IPv4 address it carries;
- each redirect is checked the same way, up to `max_redirects`;
- the body is counted while it streams and cut at `max_bytes`; connect and read timeouts are explicit.

`allow_private=True` (DEEPREAD_URL_FETCH_ALLOW_PRIVATE=1) turns the address check off, for tests that serve
images on loopback. Nothing else does.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

Resolver = Callable[[str, int], list[str]]
REDIRECTS = {301, 302, 303, 307, 308}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class FetchError(Exception):
    """`code` is the public error code (API.md §2); `message` is safe to show."""

    code = "image_fetch_failed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UrlFormatError(FetchError):
    code = "invalid_url_format"


class UrlProtocolError(FetchError):
    code = "invalid_url_protocol"


class AddressRefused(FetchError):
    code = "image_fetch_failed"


class FetchTooLarge(FetchError):
    code = "image_too_large"


@dataclass(frozen=True)
class Fetched:
    data: bytes
    content_type: str
    url: str


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"The host {host!r} could not be resolved.") from exc
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


def parse_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of an http(s) URL, or the matching error."""
    if not isinstance(url, str) or not url.strip() or len(url) > 8192:
        raise UrlFormatError("The image URL is empty or too long.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UrlFormatError(f"The image URL does not parse: {exc}.") from exc
    scheme = parts.scheme.lower()
    if not scheme:
        raise UrlFormatError("The image URL has no scheme; use http:// or https://.")
    if scheme not in ("http", "https"):
        raise UrlProtocolError(f"The URL scheme {scheme!r} is not allowed; use http or https.")
    host = parts.hostname
    if not host:
        raise UrlFormatError("The image URL has no host.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, host, port or (443 if scheme == "https" else 80), path


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float, connect_timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address, self._connect_timeout = address, connect_timeout

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), timeout=self._connect_timeout)
        self.sock.settimeout(self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float, connect_timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address, self._connect_timeout = address, connect_timeout

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), timeout=self._connect_timeout)
        raw.settimeout(self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


def fetch(
    url: str,
    *,
    max_bytes: int,
    connect_timeout: float = 5.0,
    read_timeout: float = 15.0,
    max_redirects: int = 3,
    allow_private: bool = False,
    resolver: Resolver = system_resolver,
    is_allowed: Callable[[str], bool] = address_allowed,
) -> Fetched:
    for _ in range(max_redirects + 1):
        scheme, host, port, path = parse_url(url)
        addresses = resolver(host, port)
        if not addresses:
            raise FetchError(f"The host {host!r} could not be resolved.")
        if not allow_private:
            refused = [a for a in addresses if not is_allowed(a)]
            if refused:
                raise AddressRefused(
                    f"The image URL points to a private or reserved address ({host} → {refused[0]}); "
                    "only public addresses are fetched."
                )
        connection_class = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
        conn = connection_class(host, port, addresses[0], read_timeout, connect_timeout)
        try:
            try:
                conn.request("GET", path, headers={"User-Agent": "DeepRead/1 (+image fetch)", "Accept": "image/*,*/*"})
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                raise FetchError(f"The image could not be fetched from {host}: {type(exc).__name__}.") from exc
            if response.status in REDIRECTS:
                location = response.getheader("Location")
                if not location:
                    raise FetchError("The image URL redirected without a Location.")
                url = urljoin(url, location)
                continue
            if response.status != 200:
                raise FetchError(f"The image URL answered HTTP {response.status}.")
            declared = response.getheader("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise FetchTooLarge(f"The image is larger than the {max_bytes:,}-byte limit.")
            chunks, size = [], 0
            while True:
                try:
                    chunk = response.read(64 * 1024)
                except (OSError, http.client.HTTPException) as exc:
                    raise FetchError(f"Reading the image from {host} failed: {type(exc).__name__}.") from exc
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise FetchTooLarge(f"The image is larger than the {max_bytes:,}-byte limit.")
                chunks.append(chunk)
            return Fetched(b"".join(chunks), response.getheader("Content-Type") or "", url)
        finally:
            conn.close()
    raise FetchError(f"The image URL redirected more than {max_redirects} times.")
