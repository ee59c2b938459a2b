"""A URL a user gave, as it goes on the wire, and the errors of fetching one (the `core.urlfetch` family).

`encode_url` encodes an http(s) URL as a browser does (httpx's WHATWG-style parser): the host to IDNA
(`bücher.example` → `xn--bcher-kva.example`), the path and query percent-encoded as UTF-8 (`cierre_peña.png`,
`scan 01.png`, `?q=año`), existing `%XX` escapes kept, IPv4 hosts in the forms browsers accept written as the
dotted quad they mean; `redirect_location` reads a redirect's `Location` the same way (its raw bytes as UTF-8).

Errors are `core.errors` members: `FetchError` (400 `image_fetch_failed`) and its subclasses `UrlFormatError`,
`UrlProtocolError`, `AddressRefused`, `DeadlinePassed`, and `FetchTooLarge` (413 `image_too_large`).
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

import httpx

from core.errors import InvalidInput, TooLarge

_IPV4_LIKE = re.compile(r"[0-9a-fA-FxX.]+")
NOT_FETCHED = "The image URL could not be fetched."


class FetchError(InvalidInput):
    """A URL that could not be fetched: 400 `image_fetch_failed` (API.md §2) unless a subclass says otherwise;
    `message` is safe to show and names no address. The caller sets `param` (`with_param`)."""

    code = "image_fetch_failed"


class UrlFormatError(FetchError):
    """The image URL is not a well-formed URL."""

    code = "invalid_url_format"


class UrlProtocolError(FetchError):
    """The image URL is not http or https."""

    code = "invalid_url_protocol"


class AddressRefused(FetchError):
    """The image URL resolves to a private, loopback or otherwise refused address (SSRF guard)."""

    code = "image_fetch_failed"


class FetchTooLarge(FetchError, TooLarge):
    """The fetched image is over the byte limit: 413 `image_too_large`."""

    status_code = 413
    code = "image_too_large"


class DeadlinePassed(FetchError):
    """The fetch did not finish within its overall deadline (seconds)."""

    code = "image_fetch_failed"


@dataclass(frozen=True)
class Target:
    """A URL as it goes on the wire: `host` in ASCII (IDNA), `path` percent-encoded with its query."""

    scheme: str
    host: str
    port: int
    path: str
    url: str


def encode_url(url: str) -> Target:
    """The wire form of an http(s) URL, encoded as a browser encodes it (see the module's docstring).

    Raises UrlFormatError (not a URL, no host, bad port, too long) or UrlProtocolError (another scheme)."""
    if not isinstance(url, str) or not url.strip() or len(url) > 8192:
        raise UrlFormatError("The image URL is empty or too long.")
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise UrlFormatError("The image URL does not parse.") from exc
    scheme = parts.scheme.lower()
    if not scheme:
        raise UrlFormatError("The image URL has no scheme; use http:// or https://.")
    if scheme not in ("http", "https"):
        raise UrlProtocolError(f"The URL scheme {scheme!r} is not allowed; use http or https.")
    if not parts.hostname:
        raise UrlFormatError("The image URL has no host.")
    try:
        wire = httpx.URL(_canonical_ipv4(parts)).copy_with(fragment=None)
        host = wire.raw_host.decode("ascii")
        path = wire.raw_path.decode("ascii") or "/"
    except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
        raise UrlFormatError("The image URL is not a valid URL.") from exc
    if not host or any(ch.isspace() for ch in host):
        raise UrlFormatError("The image URL has no valid host.")
    return Target(scheme, host, wire.port or (443 if scheme == "https" else 80), path, str(wire))


def _canonical_ipv4(parts: SplitResult) -> str:
    """The URL with an IPv4 host in the forms browsers accept (`0x7f000001`, `2130706433`, `0177.0.0.1`, `127.1`)
    written as the dotted quad they mean, as a browser's URL parser does."""
    host = parts.hostname or ""
    if not _IPV4_LIKE.fullmatch(host):
        return parts.geturl()
    try:
        quad = socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return parts.geturl()
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (f"{userinfo}@" if userinfo else "") + quad + (f":{parts.port}" if parts.port is not None else "")
    return parts._replace(netloc=netloc).geturl()


def parse_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, ASCII host, port, encoded path with query) of an http(s) URL, or the matching error."""
    target = encode_url(url)
    return target.scheme, target.host, target.port, target.path


def redirect_location(response: http.client.HTTPResponse, base: str) -> str:
    """The absolute URL a redirect `response` to `base` points to; FetchError without a valid Location.

    http.client reads header bytes as Latin-1; a browser reads a Location's bytes as UTF-8, so they are read back
    that way (and kept as they are when they are not UTF-8)."""
    raw = response.getheader("Location")
    if not raw:
        raise FetchError("The image URL redirected without a Location.")
    with contextlib.suppress(UnicodeError):
        raw = raw.encode("latin-1").decode("utf-8")
    try:
        return str(httpx.URL(base).join(raw.strip()))
    except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
        raise FetchError("The image URL redirected to an address that is not a valid URL.") from exc
