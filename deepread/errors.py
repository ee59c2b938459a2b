"""One error family for the whole service.

Services raise ApplicationError subclasses carrying a public message; each interface maps them to its own format:
`{"detail": ...}` for /api/v1, form errors for the dashboard. Tracebacks go to logs only.
"""

from __future__ import annotations


class ApplicationError(Exception):
    status_code = 400
    code = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.param = param


class InvalidInput(ApplicationError):
    status_code = 400
    code = "invalid_parameter"


class Unauthenticated(ApplicationError):
    status_code = 401
    code = "invalid_api_key"


class QuotaExceeded(ApplicationError):
    status_code = 403
    code = "quota_exceeded"


class Forbidden(ApplicationError):
    status_code = 403
    code = "forbidden"


class NotFound(ApplicationError):
    status_code = 404
    code = "not_found"


class Conflict(ApplicationError):
    status_code = 409
    code = "conflict"


class TooLarge(ApplicationError):
    status_code = 413
    code = "image_too_large"


class EngineUnavailable(ApplicationError):
    status_code = 503
    code = "engine_unavailable"
