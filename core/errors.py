"""One error family for the whole service.

Services raise ApplicationError subclasses carrying a public message; each interface maps them to its own format:
`{"detail": ...}` for /api/v1, form errors for the dashboard. Tracebacks go to logs only.
"""

from __future__ import annotations


class ApplicationError(Exception):
    """An error the API answers as `{"detail"}` with `status_code` (400 here), and as the OpenAI error shape on /v1."""

    status_code = 400
    code = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.param = param


class InvalidInput(ApplicationError):
    """Bad request parameter or body: 400 `invalid_parameter`, naming the `param`."""

    status_code = 400
    code = "invalid_parameter"


class QuotaExceeded(ApplicationError):
    """The monthly request quota is spent or the trial ended: 403."""

    status_code = 403
    code = "quota_exceeded"


class NotFound(ApplicationError):
    """No such object for this account (another account's objects are "not found" too): 404."""

    status_code = 404
    code = "not_found"


class Conflict(ApplicationError):
    """The object is in a state that does not allow this (e.g. cancelling an ended job): 409."""

    status_code = 409
    code = "conflict"


class TooLarge(ApplicationError):
    """The file or body is over a size limit: 413."""

    status_code = 413
    code = "image_too_large"
