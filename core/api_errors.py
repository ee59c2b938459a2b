"""DRF's exception handler for /api/v1: every error body is {"detail": "..."}."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import ApplicationError

RETRY_AFTER_S = 5


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


def api_exception_handler(exc: Exception, context: dict) -> Response:
    """DRF exception handler: every error body is {"detail": "..."}, and no traceback ever leaves the server."""
    if isinstance(exc, ApplicationError):
        return Response({"detail": exc.message}, status=exc.status_code)
    if isinstance(exc, DatabaseError) and database_unavailable(exc):
        logger.warning("Database unavailable: %s", type(exc).__name__)
        return Response(
            {"detail": "The service is briefly unavailable (database); retry shortly."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
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
