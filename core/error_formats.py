"""The error formats of DeepRead's interfaces, and the one place that tells from a path which one applies.

- `OPENAI` under `/v1/` (`/v1/ocr`, `/v1/models`): `{"error": {"message", "type", "param", "code"}}` (API.md §2);
- `DETAIL` under `/api/` and `/storage/`: `{"detail": "<message>"}`;
- `PAGE` elsewhere (the dashboard): a short HTML page.

Views answer in their own API's format through their own mapper (`core.api_errors`, `ocr.apis`,
`ocrjobs.local_storage`, `core.page_errors`); this module serves the answers given where no view has run yet: the
body caps (`core.asgi_guard`, `core.bodylimit`), unknown routes, CSRF failures and the 404/500 handlers
(`deepread.urls`), and engine admission (`ocr.admission`).
"""

from __future__ import annotations

import html
import json
from typing import Any

from django.http import HttpResponse

from core.errors import ApplicationError, QuotaExceeded

OPENAI, DETAIL, PAGE = "openai", "detail", "page"


def error_format(path: str) -> str:
    """`OPENAI`, `DETAIL` or `PAGE`: the error format of the interface `path` (the URL path) belongs to."""
    if path.startswith("/v1/"):
        return OPENAI
    if path.startswith(("/api/", "/storage/")):
        return DETAIL
    return PAGE


def openai_type(exc: ApplicationError) -> str:
    """OpenAI's `error.type` for `exc`: `insufficient_quota`, `authentication_error` (401), `rate_limit_error`
    (429), `server_error` (5xx) or `invalid_request_error`."""
    if isinstance(exc, QuotaExceeded):
        return "insufficient_quota"
    if exc.status_code == 401:
        return "authentication_error"
    if exc.status_code == 429:
        return "rate_limit_error"
    if exc.status_code >= 500:
        return "server_error"
    return "invalid_request_error"


def openai_body(exc: ApplicationError) -> dict[str, Any]:
    """`{"error": {"message", "type", "param", "code"}}` for `exc`, in that key order."""
    return {"error": {"message": exc.message, "type": openai_type(exc), "param": exc.param, "code": exc.code}}


def detail_body(exc: ApplicationError) -> dict[str, Any]:
    """`{"detail": message}` for `exc`."""
    return {"detail": exc.message}


def retry_headers(exc: ApplicationError) -> dict[str, str]:
    """`{"Retry-After": "<seconds>"}` when `exc` has a `retry_after`, else `{}`."""
    return {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}


def encoded(path: str, exc: ApplicationError, *, title: str = "Refused") -> tuple[bytes, str]:
    """(body bytes, content type) of `exc` in the format of `path`'s interface: compact JSON, or for a page
    `<!doctype html><title>{title}</title><p>{message}</p>`."""
    fmt = error_format(path)
    if fmt == PAGE:
        page = f"<!doctype html><title>{html.escape(title)}</title><p>{html.escape(exc.message)}</p>"
        return page.encode(), "text/html; charset=utf-8"
    body = openai_body(exc) if fmt == OPENAI else detail_body(exc)
    return json.dumps(body).encode(), "application/json"


def response_for(path: str, exc: ApplicationError, *, title: str = "Refused") -> HttpResponse:
    """A Django response carrying `exc` (status, body, Retry-After) in the format of `path`'s interface."""
    body, content_type = encoded(path, exc, title=title)
    response = HttpResponse(body, status=exc.status_code, content_type=content_type)
    for name, value in retry_headers(exc).items():
        response[name] = value
    return response
