"""One cap on every request body, enforced before a view (or Django's CSRF check, or a form parser) reads a byte.

- A body whose `Content-Length` is past its route's cap is answered `413` at once, unread, and the connection is
  closed (so the server does not drain the rest).
- A chunked body (no `Content-Length`) is read here, through the cap, as it arrives: past the cap it is `413`
  at once; within it, the body is handed on with its length set, so the view parses it as any other.
- The caps: the signed upload routes (`/storage/upload…`) and the mode preview's sample keep the upload limit
  (DEEPREAD_MAX_UPLOAD_BYTES, plus room for the form fields); `/v1/ocr` keeps its own documented cap
  (DEEPREAD_SYNC_MAX_BODY_BYTES); every other route gets DEEPREAD_MAX_REQUEST_BODY_BYTES (1 MiB).
- Under the ASGI server (`deepread.webserver`) Django reads a whole body before any middleware runs, so the same
  per-route caps are applied in front of it by `core.asgi_guard` (`body_cap` below); this middleware is the
  check under WSGI and a second one under ASGI.
- The 413 (`TooLarge`) and the 400 for a cut-off chunked body (`BodyCutOff`) are in the route's own format
  (`core.error_formats`): `{"detail"}` under `/api/` and `/storage/`, OpenAI's `{"error"}` under `/v1/`, a short
  HTML page for the dashboard.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse

from core.error_formats import response_for
from core.errors import BodyCutOff, TooLarge

FORM_ROOM = 64 * 1024  # multipart boundaries and the signed form's fields around the file
CHUNK = 64 * 1024


def body_cap(path: str) -> int:
    """The largest body, in bytes, that `path` accepts (also the ASGI body guard's cap, `deepread/asgi.py`)."""
    if path.startswith("/storage/upload") or path == "/modes/preview":
        cap = settings.DEEPREAD_MAX_UPLOAD_BYTES + FORM_ROOM
    elif path == "/v1/ocr":
        cap = settings.DEEPREAD_SYNC_MAX_BODY_BYTES
    else:
        cap = settings.DEEPREAD_MAX_REQUEST_BODY_BYTES
    return min(cap, getattr(settings, "DEEPREAD_MAX_REQUEST_BYTES", cap))


def too_large(request: HttpRequest, cap: int) -> HttpResponse:
    """The 413 (TooLarge) of `request`'s route, in that route's error format; the connection is closed after it."""
    error = TooLarge(f"The request body is larger than the {cap:,}-byte limit of this endpoint.")
    response = response_for(request.path, error, title="Too large")
    response["Connection"] = "close"
    return response


def _declared_length(request: HttpRequest) -> int | None:
    raw = request.META.get("CONTENT_LENGTH") or ""
    raw = raw.strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None


def _chunked(request: HttpRequest) -> bool:
    return "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()


class RequestBodyLimitMiddleware:
    """First in MIDDLEWARE: nothing before it reads the body."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        cap = body_cap(request.path)
        declared = _declared_length(request)
        if declared is not None and declared > cap:
            return too_large(request, cap)
        if declared is None and _chunked(request):
            refused = self._read_chunked(request, cap)
            if refused is not None:
                return refused
        return self.get_response(request)

    def _read_chunked(self, request: HttpRequest, cap: int) -> HttpResponse | None:
        """Read a chunked body through the cap (the server de-chunks it); hand it on with its length."""
        source = request.environ.get("wsgi.input") if "wsgi.input" in request.environ else request._stream
        body = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)  # noqa: SIM115
        total = 0
        try:
            while chunk := source.read(CHUNK):
                total += len(chunk)
                if total > cap:
                    body.close()
                    return too_large(request, cap)
                body.write(chunk)
        except OSError:
            body.close()
            return _cut_off(request)
        except Exception as exc:  # the server's own errors for a broken chunk encoding
            if type(exc).__module__.startswith(("gunicorn", "uvicorn", "h11")):
                body.close()
                return _cut_off(request)
            raise
        body.seek(0)
        request.META["CONTENT_LENGTH"] = str(total)
        request._stream = LimitedStream(body, total)  # type: ignore[attr-defined]
        request._read_started = False  # type: ignore[attr-defined]
        return None


def _cut_off(request: HttpRequest) -> HttpResponse:
    return response_for(request.path, BodyCutOff("The request body was cut off; send it again."), title="Bad request")
