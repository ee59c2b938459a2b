"""DRF's exception handler for /api/v1: every error body is {"detail": "..."}.

The `core.errors` family is mapped here (`{"detail": message}`, its `status_code`, `Retry-After` when it has one),
and so are Django's and DRF's own exceptions; `translated` turns the ones an OpenAI-style interface needs in the
family too (a lost database connection is `ServiceUnavailable` on every interface)."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.error_formats import detail_body, retry_headers
from core.errors import ApplicationError, ServiceUnavailable

RETRY_AFTER_S = 5
DATABASE_UNAVAILABLE = "The service is briefly unavailable (database); retry shortly."


def database_unavailable(exc: BaseException) -> bool:
    """A connection that cannot be made or was lost, as opposed to a bug in a query."""
    return isinstance(exc, OperationalError | InterfaceError)


logger = logging.getLogger(__name__)


def _flatten(detail: object) -> str:
    """Turn DRF's nested validation errors into one sentence a person can act on."""
    if isinstance(detail, dict):
        parts = []
        for field, value in detail.items():
            text = _flatten(value)
            parts.append(text if field in ("non_field_errors", "detail") else f"{field}: {text}")
        return "; ".join(parts)
    if isinstance(detail, list | tuple):
        return " ".join(_flatten(item) for item in detail)
    return str(detail)


def translated(exc: BaseException) -> BaseException:
    """`exc` as a member of the error family where one applies: a lost or refused database connection becomes
    `ServiceUnavailable` (503, `Retry-After: 5`, logged); any other exception is returned as it is."""
    if isinstance(exc, DatabaseError) and database_unavailable(exc):
        logger.warning("Database unavailable: %s", type(exc).__name__)
        return ServiceUnavailable(DATABASE_UNAVAILABLE, retry_after=RETRY_AFTER_S)
    return exc


def detail_response(exc: ApplicationError) -> Response:
    """`{"detail": message}` with `exc.status_code`, and `Retry-After` (seconds) when `exc` has a `retry_after`."""
    return Response(detail_body(exc), status=exc.status_code, headers=retry_headers(exc) or None)


def api_exception_handler(exc: Exception, context: dict) -> Response:
    """DRF exception handler: every error body is {"detail": "..."}, and no traceback ever leaves the server."""
    exc = translated(exc)
    if isinstance(exc, ApplicationError):
        return detail_response(exc)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled error in %s", context.get("view").__class__.__name__, exc_info=exc)
        return Response({"detail": "Internal server error."}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    response.data = {"detail": _flatten(response.data)}
    return response
