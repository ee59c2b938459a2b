"""One error family for the whole service.

Services and selectors raise `ApplicationError` subclasses; nothing below an interface picks an HTTP status or
builds a wire body. Each error carries:
- `message`: a sentence safe to show to the caller (never a traceback or an internal address);
- `code`: a stable machine-readable code (API.md's `error.code`, e.g. `invalid_parameter`, `image_too_large`);
- `param`: the request field at fault, or None;
- `retry_after`: seconds after which a retry may succeed (sent as `Retry-After`), or None;
- `status_code`: the HTTP status class of the error (a class attribute).

Each interface maps the family exactly once: `core.api_errors` for `/api/v1` (`{"detail"}`), `ocr.apis` for
`/v1/ocr` and `/v1/models` (OpenAI's `{"error": {...}}`, Mistral's `{"object": "error", ...}` for its dialect),
`core.page_errors` for the dashboard, `ocrjobs.local_storage` for the signed storage endpoints, and
`core.error_formats` for answers given before a view runs (body caps, unknown routes). The engine's own exceptions
(`inference.*`, which imports nothing of the project) are translated into the family in one place,
`ocr.engine_errors`.
"""

from __future__ import annotations

import copy
from typing import Self


class ApplicationError(Exception):
    """An error a service refuses with: 400 `invalid_request` unless a subclass says otherwise.

    `message` (str) is public; `code`, `param` and `retry_after` (seconds) override the class's defaults.
    """

    status_code = 400
    code = "invalid_request"
    retry_after: int | None = None

    def __init__(
        self, message: str, *, code: str | None = None, param: str | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.param = param
        if retry_after is not None:
            self.retry_after = retry_after

    def with_param(self, param: str | None) -> Self:
        """A copy of this error naming `param` as the field at fault (the same class, message, code, status)."""
        other = copy.copy(self)
        other.param = param
        return other


class InvalidInput(ApplicationError):
    """Bad request parameter or body: 400 `invalid_parameter`, naming the `param`."""

    status_code = 400
    code = "invalid_parameter"


class Unauthenticated(ApplicationError):
    """No API key, or one that is unknown or revoked: 401 `invalid_api_key` (interfaces add WWW-Authenticate)."""

    status_code = 401
    code = "invalid_api_key"


class QuotaExceeded(ApplicationError):
    """The monthly request quota is spent or the trial ended: 403 `quota_exceeded`."""

    status_code = 403
    code = "quota_exceeded"


class PermissionDenied(ApplicationError):
    """The caller may not do this (a signed URL that does not match, a wrong hook secret): 403 `forbidden`."""

    status_code = 403
    code = "forbidden"


class NotFound(ApplicationError):
    """No such object for this account (another account's objects are "not found" too): 404 `not_found`."""

    status_code = 404
    code = "not_found"


class Conflict(ApplicationError):
    """The object is in a state that does not allow this (e.g. cancelling an ended job): 409 `conflict`."""

    status_code = 409
    code = "conflict"


class TooLarge(ApplicationError):
    """The file or body is over a size limit: 413 `image_too_large` (the code API.md §2 gives it)."""

    status_code = 413
    code = "image_too_large"


class BodyCutOff(InvalidInput):
    """The request body ended short of its declared `Content-Length` (the client closed its side mid-body): 400
    `body_cut_off`."""

    code = "body_cut_off"


class RequestTimeout(ApplicationError):
    """The request body did not arrive in time: 408 `request_timeout`."""

    status_code = 408
    code = "request_timeout"


class RateLimited(ApplicationError):
    """Too many requests in a short window (a burst limit, not the quota): 429 with `retry_after` seconds."""

    status_code = 429
    code = "rate_limit_exceeded"


class InternalError(ApplicationError):
    """A failure that retrying will not fix (an engine bug): 500 `server_error`. The message names no internals."""

    status_code = 500
    code = "server_error"


class ServiceUnavailable(ApplicationError):
    """A part the call needs is briefly unavailable (the engine loading or busy, storage, the database): 503, with
    `retry_after` seconds when a retry is worth it. Retryable by tasks, too (`retryable`)."""

    status_code = 503
    code = "service_unavailable"
    retryable = True
